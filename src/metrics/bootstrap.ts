// Confidence intervals for the sample-quality metrics by the bootstrap: rows of the feature sets
// resampled with replacement and the metric recomputed (Efron & Tibshirani 1993). FID intervals are
// normal bootstrap intervals, θ̂ ± z·se with se the replicates' standard deviation: they describe FID
// at this n, whose finite-sample bias every model and the floor share at equal n. (Percentile
// intervals do not work here: resampling duplicates rows and shifts FID up, so at n = 256 in 128-d
// features the percentile interval of a real-vs-real FID did not even contain its point estimate.)
// A paired version gives the interval of a difference between two models evaluated from the same
// seeds and the same initial noise.
import { Rng } from '../util/rng.js';
import { frechetDistance, gaussianStats, sqrtPsd, type GaussianStats } from './fid.js';
import type { Matrix } from '../util/linalg.js';

export interface Interval {
  /** lower and upper end of the central `level` interval */
  low: number;
  high: number;
  level: number;
  replicates: number;
  /** standard deviation of the replicates (the bootstrap standard error) */
  se: number;
}

/** How many times each row is drawn in one bootstrap resample (multinomial counts, n draws). */
function resampleCounts(n: number, rng: Rng): Float64Array {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[rng.int(n)]++;
  return c;
}

/** Mean and unbiased covariance of the rows of x taken `counts[i]` times each. */
export function weightedStats(x: Matrix, counts: Float64Array): GaussianStats {
  const { rows: n, cols: d } = x;
  let total = 0;
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const w = counts[i];
    if (!w) continue;
    total += w;
    for (let j = 0; j < d; j++) mu[j] += w * x.data[i * d + j];
  }
  for (let j = 0; j < d; j++) mu[j] /= total;
  const c = new Float64Array(d * d), row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const w = counts[i];
    if (!w) continue;
    for (let j = 0; j < d; j++) row[j] = x.data[i * d + j] - mu[j];
    for (let a = 0; a < d; a++) {
      const ra = w * row[a];
      if (ra === 0) continue;
      const off = a * d;
      for (let b = a; b < d; b++) c[off + b] += ra * row[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) { c[a * d + b] /= total - 1; c[b * d + a] = c[a * d + b]; }
  return { mu, sigma: c, dim: d, n: total };
}

export function percentileInterval(values: number[], level = 0.95): Omit<Interval, 'replicates'> {
  const v = [...values].sort((a, b) => a - b), B = v.length;
  // Linear interpolation between order statistics (numpy's default percentile).
  const q = (p: number) => {
    const h = (B - 1) * p, lo = Math.floor(h);
    return lo + 1 < B ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
  };
  const mean = v.reduce((a, b) => a + b, 0) / B;
  const se = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, B - 1));
  return { low: q((1 - level) / 2), high: q((1 + level) / 2), level, se };
}

export interface BootstrapOptions {
  replicates?: number;
  seed?: number;
  level?: number;
}

/**
 * Normal bootstrap interval of the plug-in FID(real, fake) at these set sizes, both sets resampled.
 * It is centred on the plug-in estimate, which is biased upward by terms of order tr(Σ)/n, so it
 * describes FID *at this n* (sampling noise of both sets), not the population FID: on Gaussian pairs
 * with known FID it covers the population value at d = 2 but not at d ≥ 16 with hundreds of samples.
 * Comparisons at equal n (paired differences, the floor at the same n) are what it supports.
 * `value`: the point estimate where the caller has computed it already.
 */
export function fidInterval(real: Matrix, fake: Matrix, opts: BootstrapOptions & { value?: number } = {}): Interval {
  // FID is a squared distance: an interval below 0 is cut at 0.
  const { value: _v, ...r } = bootstrapFids(real, [fake], (f) => f[0], opts, 0);
  return r;
}

/** θ̂ ± z·se, se the standard deviation of the replicates; optionally bounded below. */
export function normal(value: number, vals: number[], level: number, floor = -Infinity): Omit<Interval, 'replicates'> {
  const { se } = percentileInterval(vals, level);
  const z = normalQuantile((1 + level) / 2);
  return { low: Math.max(floor, value - z * se), high: Math.max(floor, value + z * se), level, se };
}

/** Φ⁻¹(p) (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) { const q = Math.sqrt(-2 * Math.log(p)); return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1); }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Paired bootstrap of FID(real, a) − FID(real, b) for two generated sets whose rows correspond (the
 * same seed and initial noise per index): each replicate draws one index resample for both and one
 * for the real set, so what the two share cancels in the difference.
 */
export function fidDifferenceInterval(real: Matrix, a: Matrix, b: Matrix, opts: BootstrapOptions = {}): Interval & { value: number } {
  return pairedFidStatistic(real, [a, b], (f) => f[0] - f[1], opts);
}

/**
 * A statistic of the FIDs of several generated sets whose rows correspond (same seeds and noise),
 * with its normal bootstrap interval: each replicate resamples the real set once and one index set
 * shared by all generated sets.
 */
export function pairedFidStatistic(real: Matrix, sets: Matrix[], stat: (fids: number[]) => number, opts: BootstrapOptions = {}): Interval & { value: number } {
  return bootstrapFids(real, sets, stat, opts);
}

/**
 * The one bootstrap behind both: `stat` of the sets' FIDs against the real set, each replicate
 * drawing one real resample and one index resample shared by the sets (a single set is then simply
 * resampled on its own).
 */
function bootstrapFids(real: Matrix, sets: Matrix[], stat: (fids: number[]) => number, opts: BootstrapOptions & { value?: number }, floor = -Infinity): Interval & { value: number } {
  const r0 = opts.value === undefined ? gaussianStats(real) : undefined;
  const value = opts.value ?? stat(sets.map((s) => frechetDistance(r0!, gaussianStats(s)).value));
  const vals = pairedFidReplicates(real, sets, opts).replicates.map(stat);
  return { value, ...normal(value, vals, opts.level ?? 0.95, floor), replicates: vals.length };
}

/**
 * The FIDs of several generated sets whose rows correspond (the same seeds and noise), and B
 * bootstrap replicates of them: each replicate resamples the real set once and draws one index
 * resample shared by all the sets. Any statistic of the FIDs (a difference, a ratio, an argmin over
 * an axis) is then computed on each replicate, so what the sets share cancels in it.
 */
export function pairedFidReplicates(real: Matrix, sets: Matrix[], opts: BootstrapOptions = {}): { values: number[]; replicates: number[][] } {
  const n = sets[0].rows, B = opts.replicates ?? 100, rng = new Rng(opts.seed ?? 0);
  if (sets.some((s) => s.rows !== n)) throw new Error(`paired bootstrap: the sets must be paired row by row, got ${sets.map((s) => s.rows).join(', ')} rows`);
  const r0 = gaussianStats(real);
  const values = sets.map((s) => frechetDistance(r0, gaussianStats(s)).value);
  const replicates: number[][] = [];
  for (let r = 0; r < B; r++) {
    const rs = weightedStats(real, resampleCounts(real.rows, rng)), idx = resampleCounts(n, rng);
    // The real resample's covariance root is shared by every set's FID in this replicate.
    const root = sqrtPsd(rs.sigma, rs.dim);
    replicates.push(sets.map((s) => frechetDistance(rs, weightedStats(s, idx), 1e-6, root).value));
  }
  return { values, replicates };
}

/** Wilson score interval of a proportion k/n at `level` (Wilson 1927): sound near 0 and 1 and at small n. */
export function wilsonInterval(k: number, n: number, level = 0.95): { low: number; high: number } {
  if (n < 1) return { low: 0, high: 1 };
  const z = normalQuantile(0.5 + level / 2), p = k / n, z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n), half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}
