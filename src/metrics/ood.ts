// Out-of-distribution detection from a model's per-image likelihoods (Nalisnick et al. 2019): the
// area under the ROC curve of telling test images of another dataset from the training set's own test
// images by a score, with a bootstrap interval. Three scores:
//  - raw: bits/dim (higher = more anomalous), the test the paper shows failing;
//  - typicality: |bits/dim − the mean on held-out training images| (after Nalisnick et al. 2019b, per
//    image): an input is anomalous when its likelihood is atypical, too high or too low;
//  - complexity: bits/dim minus a generic compressor's bits/dim of the same 8-bit image (Serrà et al.
//    2020, "Input complexity and out-of-distribution detection"), a likelihood ratio whose
//    background model is the compressor (deflate, as inside PNG).
import zlib from 'node:zlib';
import { Rng } from '../util/rng.js';

/**
 * P(score of an out-of-distribution image > score of an in-distribution one), ties counting ½
 * (the Mann–Whitney U statistic over both sizes): 1 detects perfectly, 0.5 is chance, below 0.5 ranks
 * the other dataset as *more* in-distribution.
 */
export function auroc(inDist: ArrayLike<number>, ood: ArrayLike<number>): number {
  const all = [...Array.from(inDist, (v) => ({ v, o: 0 })), ...Array.from(ood, (v) => ({ v, o: 1 }))].sort((a, b) => a.v - b.v);
  // Mid-ranks over ties, then U of the OOD set.
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].o) rankSum += mid;
    i = j + 1;
  }
  const nOod = ood.length, nIn = inDist.length;
  return (rankSum - (nOod * (nOod + 1)) / 2) / (nOod * nIn);
}

/** AUROC with a percentile bootstrap interval (both sets resampled). */
export function aurocWithInterval(inDist: Float64Array, ood: Float64Array, replicates: number, seed: number): { value: number; low: number; high: number } {
  const rng = new Rng(seed), reps: number[] = [];
  const a = new Float64Array(inDist.length), b = new Float64Array(ood.length);
  for (let r = 0; r < replicates; r++) {
    for (let i = 0; i < a.length; i++) a[i] = inDist[rng.int(inDist.length)];
    for (let i = 0; i < b.length; i++) b[i] = ood[rng.int(ood.length)];
    reps.push(auroc(a, b));
  }
  reps.sort((x, y) => x - y);
  const q = (p: number) => reps[Math.min(reps.length - 1, Math.max(0, Math.round(p * (reps.length - 1))))];
  return { value: auroc(inDist, ood), low: q(0.025), high: q(0.975) };
}

/** Bits per dimension of each 8-bit image under deflate at level 9 (the compressor of PNG). */
export function compressedBitsPerDim(pixels: Uint8Array, n: number): Float64Array {
  const dims = pixels.length / n, out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (8 * zlib.deflateSync(pixels.subarray(i * dims, (i + 1) * dims), { level: 9 }).length) / dims;
  return out;
}

export interface OodScores {
  raw: { inDist: Float64Array; ood: Float64Array };
  typicality: { inDist: Float64Array; ood: Float64Array };
  complexity: { inDist: Float64Array; ood: Float64Array };
}

/** The three scores from per-image bits/dim (test sets and held-out training images) and compressed sizes. */
export function oodScores(bpd: { inDist: Float64Array; ood: Float64Array; train: Float64Array }, compressed: { inDist: Float64Array; ood: Float64Array }): OodScores {
  const mean = bpd.train.reduce((s, v) => s + v, 0) / bpd.train.length;
  return {
    raw: { inDist: bpd.inDist, ood: bpd.ood },
    typicality: { inDist: bpd.inDist.map((v) => Math.abs(v - mean)), ood: bpd.ood.map((v) => Math.abs(v - mean)) },
    complexity: { inDist: bpd.inDist.map((v, i) => v - compressed.inDist[i]), ood: bpd.ood.map((v, i) => v - compressed.ood[i]) },
  };
}
