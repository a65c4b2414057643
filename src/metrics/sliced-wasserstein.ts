// Sliced 2-Wasserstein distance between two point sets (Rabin et al. 2011; Bonneel et al. 2015).
import type { Rng } from '../util/rng.js';

/**
 * SW₂(P, Q) = (E_θ W₂²(θ·P, θ·Q))^{1/2} over directions θ uniform on the unit sphere, estimated with
 * `projections` random directions; each 1-D W₂ is exact from sorted projections (equal sizes) or from
 * the two empirical quantile functions on a common grid (unequal sizes).
 */
export function slicedWasserstein2(a: Float64Array, b: Float64Array, dim: number, rng: Rng, projections = 128): number {
  const na = a.length / dim, nb = b.length / dim;
  const pa = new Float64Array(na), pb = new Float64Array(nb), theta = new Float64Array(dim);
  let total = 0;
  for (let p = 0; p < projections; p++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) { theta[j] = rng.normal(); norm += theta[j] ** 2; }
    norm = Math.sqrt(norm);
    for (let i = 0; i < na; i++) { let s = 0; for (let j = 0; j < dim; j++) s += a[i * dim + j] * theta[j]; pa[i] = s / norm; }
    for (let i = 0; i < nb; i++) { let s = 0; for (let j = 0; j < dim; j++) s += b[i * dim + j] * theta[j]; pb[i] = s / norm; }
    pa.sort(); pb.sort();
    total += w2SquaredSorted(pa, pb);
  }
  return Math.sqrt(total / projections);
}

/** W₂² between two sorted 1-D samples: ∫₀¹ (F_a⁻¹(u) − F_b⁻¹(u))² du over their step quantile functions. */
export function w2SquaredSorted(a: Float64Array, b: Float64Array): number {
  if (a.length === b.length) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
    return s / a.length;
  }
  // Merge the breakpoints i/na and k/nb; between consecutive ones both quantile functions are constant.
  let i = 0, k = 0, u = 0, s = 0;
  while (i < a.length && k < b.length) {
    const next = Math.min((i + 1) / a.length, (k + 1) / b.length);
    s += (next - u) * (a[i] - b[k]) ** 2;
    u = next;
    if (next === (i + 1) / a.length) i++;
    if (next === (k + 1) / b.length) k++;
  }
  return s;
}
