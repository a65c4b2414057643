// Kernel Inception Distance: the unbiased MMD² with a cubic polynomial kernel, averaged over subsets.
import { Rng } from '../util/rng.js';
import type { Matrix } from '../util/linalg.js';

export interface KidOptions {
  /** Number of random subsets (torch-fidelity's kid_subsets: 100). */
  subsets?: number;
  /** Samples per subset (torch-fidelity's kid_subset_size: 1000), capped at the smaller set's size. */
  subsetSize?: number;
  /** Polynomial kernel k(x, y) = (γ·x·y + c)^degree; defaults degree 3, γ = 1/d, c = 1. */
  degree?: number;
  gamma?: number;
  coef0?: number;
  seed?: number;
  /**
   * Sets of at most this many rows get their kernel matrices computed once, whole, and each subset
   * reads its entries from them (the same numbers, summed in the same order, without recomputing a
   * d-dimensional dot product per pair and subset); larger sets compute each subset's kernels. Default
   * 2048 (three 2048² float64 matrices: 100 MB).
   */
  wholeKernelMax?: number;
}

export interface KidResult {
  mean: number;
  /** Standard deviation over subsets (numpy's std, ddof 0, as torch-fidelity reports). */
  std: number;
  /** where the subsets cover a whole set, so that the std says less than it seems */
  warnings: string[];
  subsets: number;
  subsetSize: number;
  n: [number, number];
  /** the MMD² estimate of each subset */
  values: Float64Array;
}

function kernel(x: Matrix, xi: Int32Array, y: Matrix, yi: Int32Array, gamma: number, coef0: number, degree: number): Float64Array {
  const d = x.cols, k = new Float64Array(xi.length * yi.length);
  for (let a = 0; a < xi.length; a++) {
    const xo = xi[a] * d;
    for (let b = 0; b < yi.length; b++) {
      const yo = yi[b] * d;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += x.data[xo + j] * y.data[yo + j];
      k[a * yi.length + b] = (gamma * dot + coef0) ** degree;
    }
  }
  return k;
}

/** The entries [xi[a], yi[b]] of a kernel matrix with `cols` columns, as an xi.length × yi.length block. */
function block(k: Float64Array, cols: number, xi: Int32Array, yi: Int32Array): Float64Array {
  const out = new Float64Array(xi.length * yi.length);
  for (let a = 0; a < xi.length; a++) {
    const row = xi[a] * cols, o = a * yi.length;
    for (let b = 0; b < yi.length; b++) out[o + b] = k[row + yi[b]];
  }
  return out;
}

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/**
 * Unbiased MMD² between equal-size samples X, Y of size m (Gretton et al. 2012, eq. 3; Bińkowski et
 * al. 2018): (Σ_{i≠j} k(x_i,x_j) + Σ_{i≠j} k(y_i,y_j)) / (m(m−1)) − 2 Σ_{i,j} k(x_i,y_j) / m².
 */
export function mmd2Unbiased(kxx: Float64Array, kyy: Float64Array, kxy: Float64Array, m: number): number {
  let sxx = 0, syy = 0, sxy = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i !== j) { sxx += kxx[i * m + j]; syy += kyy[i * m + j]; }
      sxy += kxy[i * m + j];
    }
  }
  return (sxx + syy) / (m * (m - 1)) - (2 * sxy) / (m * m);
}

/** Draws m distinct indices of n (a partial Fisher–Yates shuffle). */
function choose(n: number, m: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p.slice(0, m);
}

/**
 * KID as torch-fidelity and clean-fid define it: for each of `subsets` rounds, draw `subsetSize`
 * rows without replacement from each set and take the unbiased MMD² under the cubic kernel
 * (x·y/d + 1)³; report the mean and std over rounds.
 */
export function kid(real: Matrix, fake: Matrix, opts: KidOptions = {}): KidResult {
  if (real.cols !== fake.cols) throw new Error(`KID: feature dimensions differ (${real.cols} vs ${fake.cols})`);
  const subsets = opts.subsets ?? 100;
  const m = Math.min(opts.subsetSize ?? 1000, real.rows, fake.rows);
  if (m < 2) throw new Error(`KID: needs at least 2 samples in each set, got ${real.rows} and ${fake.rows}`);
  const gamma = opts.gamma ?? 1 / real.cols, coef0 = opts.coef0 ?? 1, degree = opts.degree ?? 3;
  const rng = new Rng(opts.seed ?? 0);
  const vals = new Float64Array(subsets);
  const cap = opts.wholeKernelMax ?? 2048;
  // Many subsets from small sets: each pair's kernel value once (k(x, y) is the same number whichever
  // subset asks for it).
  const whole = real.rows <= cap && fake.rows <= cap && subsets > 1
    ? { xx: kernel(real, all(real.rows), real, all(real.rows), gamma, coef0, degree), yy: kernel(fake, all(fake.rows), fake, all(fake.rows), gamma, coef0, degree), xy: kernel(real, all(real.rows), fake, all(fake.rows), gamma, coef0, degree) }
    : undefined;
  for (let s = 0; s < subsets; s++) {
    const xi = choose(real.rows, m, rng), yi = choose(fake.rows, m, rng);
    vals[s] = whole
      ? mmd2Unbiased(block(whole.xx, real.rows, xi, xi), block(whole.yy, fake.rows, yi, yi), block(whole.xy, fake.rows, xi, yi), m)
      : mmd2Unbiased(kernel(real, xi, real, xi, gamma, coef0, degree), kernel(fake, yi, fake, yi, gamma, coef0, degree), kernel(real, xi, fake, yi, gamma, coef0, degree), m);
  }
  let mean = 0;
  for (const v of vals) mean += v / subsets;
  let varSum = 0;
  for (const v of vals) varSum += (v - mean) ** 2;
  const warnings: string[] = [];
  const wholeSets = [m === real.rows ? `the whole real set (${m})` : '', m === fake.rows ? `the whole generated set (${m})` : ''].filter(Boolean);
  if (wholeSets.length === 2) warnings.push(`KID: every subset is both whole sets, so all ${subsets} subsets are identical and the std over them (${Math.sqrt(varSum / subsets).toExponential(1)}) is round-off, not an uncertainty; use a subset size below the set sizes`);
  else if (wholeSets.length) warnings.push(`KID: every subset holds ${wholeSets[0]}, so the std over subsets reflects only the other set's subsampling`);
  return { mean, std: Math.sqrt(varSum / subsets), subsets, subsetSize: m, n: [real.rows, fake.rows], values: vals, warnings };
}
