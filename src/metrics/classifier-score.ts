// A score in the style of the Inception Score, from the feature network's own class probabilities.
import { permutation } from '../data/images.js';
import { Rng } from '../util/rng.js';

export interface ClassifierScoreResult {
  mean: number;
  std: number;
  splits: number;
  n: number;
}

/**
 * exp(E_x KL(p(y|x) ‖ p(y))) with p(y) the marginal over each split (Salimans et al. 2016), mean and
 * std over `splits` equal splits (10, as the Inception Score is usually reported) of the samples in
 * an order shuffled with `seed` (as torch-fidelity shuffles before splitting, so that samples drawn
 * class by class do not make one-class splits). `probs` is n×K, rows summing to 1. Its maximum is K
 * (confident and class-balanced); 1 means no information.
 */
export function classifierScore(probsIn: Float64Array, n: number, classes: number, splits = 10, seed = 0): ClassifierScoreResult {
  if (probsIn.length !== n * classes) throw new Error(`classifier score: expected ${n}×${classes} probabilities, got ${probsIn.length}`);
  const order = permutation(n, new Rng(seed));
  const probs = new Float64Array(n * classes);
  order.forEach((src, i) => probs.set(probsIn.subarray(src * classes, (src + 1) * classes), i * classes));
  const s = Math.min(splits, n);
  const scores: number[] = [];
  for (let k = 0; k < s; k++) {
    const lo = Math.floor((k * n) / s), hi = Math.floor(((k + 1) * n) / s);
    const py = new Float64Array(classes);
    for (let i = lo; i < hi; i++) for (let c = 0; c < classes; c++) py[c] += probs[i * classes + c] / (hi - lo);
    let kl = 0;
    for (let i = lo; i < hi; i++) {
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c];
        if (p > 0) kl += p * (Math.log(p) - Math.log(py[c]));
      }
    }
    scores.push(Math.exp(kl / (hi - lo)));
  }
  const mean = scores.reduce((a, b) => a + b, 0) / s;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / s);
  return { mean, std, splits: s, n };
}
