// Gaussian feature pairs with a known population FID, for coverage tests of FID estimators: real
// N(0, diag λ) and generated N(δ, diag(λ·c²)), λ_i = 1/(1 + i/8), so
// FID = ‖δ‖² + Σ λ_i (1 − c_i)² exactly (diagonal covariances commute).
import { matrix, type Matrix } from '../../src/util/linalg.js';
import { fidInfinity } from '../../src/metrics/fid-infinity.js';
import { Rng } from '../../src/util/rng.js';

export interface GaussianPair { truth: number; draw(nReal: number, nFake: number, rng: Rng): { real: Matrix; fake: Matrix } }

/** `shift` 0 gives two equal distributions (FID 0, the floor's case); 1 a model-like gap. */
export function gaussianPair(d: number, shift: number): GaussianPair {
  const lam = Array.from({ length: d }, (_, i) => 1 / (1 + i / 8));
  const c = Array.from({ length: d }, (_, i) => 1 + shift * (i % 2 ? 0.3 : -0.2));
  const delta = Array.from({ length: d }, (_, i) => (i < 4 ? 0.3 * shift : 0));
  const truth = delta.reduce((s, v) => s + v * v, 0) + lam.reduce((s, l, i) => s + l * (1 - c[i]) ** 2, 0);
  const gen = (n: number, fake: boolean, rng: Rng) => {
    const a = new Float64Array(n * d);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) a[r * d + j] = (fake ? delta[j] : 0) + Math.sqrt(lam[j]) * (fake ? c[j] : 1) * rng.normal();
    return matrix(n, d, a);
  };
  return { truth, draw: (nr, ng, rng) => ({ real: gen(nr, false, rng), fake: gen(ng, true, rng) }) };
}

/** How many of `pairs` FID∞ intervals cover the truth, and the estimates' mean error. */
export function coverage(d: number, shift: number, pairs: number, nr: number, ng: number) {
  const pair = gaussianPair(d, shift), rng = new Rng(100 * d + 7 * shift + 1);
  let covered = 0, err = 0;
  for (let t = 0; t < pairs; t++) {
    const { real, fake } = pair.draw(nr, ng, rng);
    const r = fidInfinity(real, fake, { seed: t });
    if (r.low <= pair.truth && pair.truth <= r.high) covered++;
    err += r.value - pair.truth;
  }
  return { covered, meanError: err / pairs, truth: pair.truth };
}

