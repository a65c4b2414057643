// Sampler error on the exact Gaussian-mixture backend, where no model error exists: per-sample
// distances to the exact probability-flow solution from the same noise.
import type { Gmm } from '../models/gmm.js';

/**
 * Per-sample distances to the exact probability-flow solution. The RMS is dominated by the few paths
 * that end in another mixture component than the exact solution (near a decision boundary a small
 * error moves a sample to the other mode), so it converges at the rate of those switches, not at
 * the sampler's order; the median and 90% quantile show the order on the paths that stay put.
 */
export interface PathErrors {
  /** RMS over samples and coordinates (as before) */
  rms: number;
  /** median and 90% quantile of the per-sample Euclidean distance */
  median: number;
  p90: number;
  /** fraction of samples whose most likely component differs from the exact solution's */
  switched: number;
}

/** The component a point most likely came from (the largest posterior weight at σ = 0). */
function componentOf(gmm: Gmm, x: ArrayLike<number>, i: number): number {
  let best = 0, bestLl = -Infinity;
  for (let k = 0; k < gmm.weights.length; k++) {
    let ll = Math.log(gmm.weights[k]);
    for (let j = 0; j < gmm.dim; j++) {
      const v = gmm.variances[k][j], d = x[i * gmm.dim + j] - gmm.means[k][j];
      ll -= 0.5 * (d * d / v + Math.log(v));
    }
    if (ll > bestLl) { bestLl = ll; best = k; }
  }
  return best;
}

export function pathErrors(gmm: Gmm, x: ArrayLike<number>, exact: ArrayLike<number>): PathErrors {
  const n = x.length / gmm.dim, dist = new Float64Array(n);
  let sq = 0, switched = 0;
  for (let i = 0; i < n; i++) {
    let d2 = 0;
    for (let j = 0; j < gmm.dim; j++) d2 += (x[i * gmm.dim + j] - exact[i * gmm.dim + j]) ** 2;
    dist[i] = Math.sqrt(d2);
    sq += d2;
    if (componentOf(gmm, x, i) !== componentOf(gmm, exact, i)) switched++;
  }
  const sorted = Float64Array.from(dist).sort();
  const q = (p: number) => sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))];
  return { rms: Math.sqrt(sq / x.length), median: q(0.5), p90: q(0.9), switched: switched / n };
}

