// FID with the population as its estimand. The plug-in FID between n real and m generated feature
// vectors is biased upward by terms of order tr(Σ)/n (the mean term exactly so, the trace term to first
// order), so its value at one n says as much about n as about the model. FID∞ (Chong & Forsyth 2020,
// "Effectively Unbiased FID and Inception Score and where to find them") removes that term: FID is
// computed on random subsets of several sizes, both sets shrunk by the same fraction f, and the line
// fitted through (1/f, FID) is read at 1/f = 0.
//
// Its interval is the delta method: for a smooth functional T(P_r, P_g), the estimate's variance is
// Var(IF_r)/n_r + Var(IF_g)/n_g with IF the influence function. FID's gradient in a covariance is
// I − T, T the optimal-transport map between the two Gaussians (the Bures–Wasserstein gradient), so
//   IF_r(x) = 2(μ_r − μ_g)ᵀ(x − μ_r) + (x − μ_r)ᵀ(I − T_r)(x − μ_r) − tr((I − T_r)Σ_r),
//   T_r = Σ_r^{-1/2} (Σ_r^{1/2} Σ_g Σ_r^{1/2})^{1/2} Σ_r^{-1/2},
// and the same with r and g exchanged. Where the two distributions coincide the first-order term
// vanishes and FID's noise is second order (a sum of squared fluctuations, of order d/n): that part is
// estimated from the spread of the subset FIDs around the fitted line and added, so an interval near
// 0 (the real-data floor) does not collapse to a point.
import { matmulSquare, symmetricEigen, type Matrix } from '../util/linalg.js';
import { Rng } from '../util/rng.js';
import { normalQuantile } from './bootstrap.js';
import { frechetDistance, gaussianStats, type GaussianStats } from './fid.js';

/**
 * The smallest set size, in multiples of the feature dimension, at which FID∞ is computed: below it
 * the half-size subsets come near d rows and the bias stops being linear in 1/n (on Gaussian pairs in
 * 128 dimensions, 400 generated images gave a line that overshot by 0.7 standard errors and covered 85%).
 */
export const FID_INF_MIN_RATIO = 4;

export interface FidInfinity {
  /** the fitted line's value at 1/n = 0 */
  value: number;
  low: number;
  high: number;
  level: number;
  /** the standard error behind the interval */
  se: number;
  /** FID per unit of 1/f (f the subset fraction): the bias the line removed at full size is `slope` */
  slope: number;
  /** plug-in FID of the full sets */
  atN: number;
  /** the mean subset FID at each fraction */
  fits: { fraction: number; fid: number }[];
  n: [number, number];
  /** tr Σ of the real features */
  referenceVariance: number;
}

export interface FidInfinityOptions {
  seed?: number;
  level?: number;
  /** subset fractions of both sets (default 0.5 … 1 in 6 steps, the smallest kept above d + 1 rows) */
  fractions?: number[];
  /** random subsets drawn per fraction below 1 (default 4) */
  draws?: number;
}

/** The subset fractions for n_r × n_g rows in d dimensions: 0.5 … 1, every subset keeping > d + 1 rows. */
export function defaultFractions(nr: number, ng: number, d: number): number[] {
  const lo = Math.max(0.5, (d + 2) / Math.min(nr, ng));
  if (lo >= 0.95) return [1];
  return Array.from({ length: 6 }, (_, i) => lo + ((1 - lo) * i) / 5);
}

function rowsAt(x: Matrix, idx: Int32Array): Matrix {
  const d = x.cols, data = new Float64Array(idx.length * d);
  idx.forEach((r, i) => data.set(x.data.subarray(r * d, r * d + d), i * d));
  return { rows: idx.length, cols: d, data };
}

function subset(n: number, k: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) { const j = i + rng.int(n - i); const t = p[i]; p[i] = p[j]; p[j] = t; }
  return p.slice(0, k);
}

/** Least-squares line y = a + b·x; its residual variance too. */
function fitLine(x: number[], y: number[]): { a: number; b: number; resVar: number } {
  const n = x.length, mx = x.reduce((s, v) => s + v, 0) / n, my = y.reduce((s, v) => s + v, 0) / n;
  let sxx = 0, sxy = 0;
  x.forEach((v, i) => { sxx += (v - mx) ** 2; sxy += (v - mx) * (y[i] - my); });
  const b = sxx > 0 ? sxy / sxx : 0, a = my - b * mx;
  const rss = y.reduce((s, v, i) => s + (v - a - b * x[i]) ** 2, 0);
  return { a, b, resVar: n > 2 ? rss / (n - 2) : 0 };
}

/** Σ^{p} of a symmetric PSD matrix for p = ±1/2, eigenvalues below 1e-10 of the largest treated as 0. */
function psdPower(s: Float64Array, d: number, p: 0.5 | -0.5): Float64Array {
  const { values, vectors } = symmetricEigen(s, d);
  const top = Math.max(values[d - 1], 0), out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const l = values[k];
    if (!(l > 1e-10 * top)) continue;
    const w = l ** p;
    for (let i = 0; i < d; i++) {
      const vi = vectors[i * d + k] * w;
      if (vi === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += vi * vectors[j * d + k];
    }
  }
  return out;
}

/** T_a = Σ_a^{-1/2} (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2} Σ_a^{-1/2}: the transport map from N(·, Σ_a) to N(·, Σ_b). */
function transportMap(a: GaussianStats, b: GaussianStats): Float64Array {
  const d = a.dim, root = psdPower(a.sigma, d, 0.5), inv = psdPower(a.sigma, d, -0.5);
  const m = matmulSquare(matmulSquare(root, b.sigma, d), root, d);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) { const v = 0.5 * (m[i * d + j] + m[j * d + i]); m[i * d + j] = v; m[j * d + i] = v; }
  return matmulSquare(matmulSquare(inv, psdPower(m, d, 0.5), d), inv, d);
}

/** Sample variance of FID's influence function over the rows of x (the side with statistics `own`). */
function influenceVariance(x: Matrix, own: GaussianStats, other: GaussianStats): number {
  const d = x.cols, t = transportMap(own, other);
  // A = I − T; IF(x) = 2 δᵀ(x − μ) + (x − μ)ᵀ A (x − μ) − tr(AΣ), δ = μ_own − μ_other.
  const A = t.map((v, i) => (i % (d + 1) === 0 ? 1 : 0) - v);
  const vals = new Float64Array(x.rows), c = new Float64Array(d);
  for (let r = 0; r < x.rows; r++) {
    for (let j = 0; j < d; j++) c[j] = x.data[r * d + j] - own.mu[j];
    let lin = 0, quad = 0;
    for (let i = 0; i < d; i++) {
      lin += 2 * (own.mu[i] - other.mu[i]) * c[i];
      let s = 0;
      for (let j = 0; j < d; j++) s += A[i * d + j] * c[j];
      quad += c[i] * s;
    }
    vals[r] = lin + quad;
  }
  let m = 0;
  for (const v of vals) m += v;
  m /= vals.length;
  let v2 = 0;
  for (const v of vals) v2 += (v - m) ** 2;
  return v2 / Math.max(1, vals.length - 1);
}

/** FID∞ of a generated set against a real one, with its interval (see the file's head). */
export function fidInfinity(real: Matrix, fake: Matrix, opts: FidInfinityOptions = {}): FidInfinity {
  if (real.cols !== fake.cols) throw new Error(`FID∞: feature dimensions differ (${real.cols} vs ${fake.cols})`);
  const d = real.cols, nr = real.rows, ng = fake.rows, level = opts.level ?? 0.95;
  const fractions = opts.fractions ?? defaultFractions(nr, ng, d), draws = opts.draws ?? 4, rng = new Rng(opts.seed ?? 0);
  const sr = gaussianStats(real), sg = gaussianStats(fake), atN = frechetDistance(sr, sg).value;
  const xs: number[] = [], ys: number[] = [], fits: FidInfinity['fits'] = [];
  for (const f of fractions) {
    const k = f >= 1 ? 1 : draws;
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const v = f >= 1 ? atN : frechetDistance(gaussianStats(rowsAt(real, subset(nr, Math.round(f * nr), rng))), gaussianStats(rowsAt(fake, subset(ng, Math.round(f * ng), rng)))).value;
      xs.push(1 / f); ys.push(v); sum += v;
    }
    fits.push({ fraction: f, fid: sum / k });
  }
  const line = fractions.length > 1 ? fitLine(xs, ys) : { a: atN, b: 0, resVar: 0 };
  // First order: the delta method. Second order: the subset FIDs' scatter about the line at full size.
  const first = influenceVariance(real, sr, sg) / nr + influenceVariance(fake, sg, sr) / ng;
  const se = Math.sqrt(first + extrapolationVariance(xs, line.resVar));
  const z = normalQuantile((1 + level) / 2);
  let trace = 0;
  for (let i = 0; i < d; i++) trace += sr.sigma[i * d + i];
  return { value: line.a, low: line.a - z * se, high: line.a + z * se, level, se, slope: line.b, atN, fits, n: [nr, ng], referenceVariance: trace };
}

/**
 * The variance of the line's intercept from the subset FIDs' scatter about it: their residual
 * variance (second-order noise, of order d/n at fraction f) times the intercept's leverage.
 */
function extrapolationVariance(xs: number[], resVar: number): number {
  if (xs.length < 3) return 0;
  const n = xs.length, mx = xs.reduce((s, v) => s + v, 0) / n;
  const sxx = xs.reduce((s, v) => s + (v - mx) ** 2, 0);
  return sxx > 0 ? resVar * (1 / n + (mx * mx) / sxx) : 0;
}

