// The Fréchet distance between Gaussians fitted to two feature sets (FID's formula, as pytorch-fid computes it).
import { colMeans, covariance, matmulSquare, symmetricEigen, symmetricEigenvalues, type Matrix } from '../util/linalg.js';

export interface GaussianStats {
  mu: Float64Array;
  /** d×d row-major, unbiased (n − 1) */
  sigma: Float64Array;
  dim: number;
  n: number;
}

/** Mean and covariance of a feature set, through FeatureMoments (so pieces of a set merge to the same). */
export function gaussianStats(x: Matrix): GaussianStats {
  return new FeatureMoments(x.cols).add(x).stats();
}

/**
 * Feature statistics that merge across pieces (batches, shards, processes), as EDM2's float64
 * accumulators do: n, the mean and the co-moment M2 = Σ(x − μ)(x − μ)ᵀ, each piece's by two passes,
 * joined by Chan et al.'s update M2 = M2_a + M2_b + δδᵀ·n_a·n_b/n with δ = μ_b − μ_a. Unlike raw sums
 * Σx and Σxxᵀ this does not cancel: identical sets still give FID 0 to round-off.
 */
export class FeatureMoments {
  n = 0;
  mean: Float64Array;
  /** d×d row-major */
  m2: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim * dim);
  }

  add(x: Matrix): this {
    if (x.cols !== this.dim) throw new Error(`feature moments: expected ${this.dim} columns, got ${x.cols}`);
    if (x.rows === 0) return this;
    const piece = new FeatureMoments(this.dim);
    piece.n = x.rows;
    piece.mean = colMeans(x);
    if (x.rows > 1) piece.m2 = covariance(x, piece.mean).map((v) => v * (x.rows - 1));
    return this.merge(piece);
  }

  merge(o: FeatureMoments): this {
    if (o.dim !== this.dim) throw new Error(`feature moments: cannot merge ${o.dim}-d into ${this.dim}-d`);
    if (o.n === 0) return this;
    if (this.n === 0) {
      this.n = o.n;
      this.mean = Float64Array.from(o.mean);
      this.m2 = Float64Array.from(o.m2);
      return this;
    }
    const n = this.n + o.n, d = this.dim, f = (this.n * o.n) / n;
    const delta = o.mean.map((v, j) => v - this.mean[j]);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) this.m2[a * d + b] += o.m2[a * d + b] + delta[a] * delta[b] * f;
    for (let j = 0; j < d; j++) this.mean[j] += (delta[j] * o.n) / n;
    this.n = n;
    return this;
  }

  /** Mean and unbiased covariance M2/(n − 1). */
  stats(): GaussianStats {
    if (this.n < 2) throw new Error(`feature moments: needs at least 2 samples, got ${this.n}`);
    return { mu: Float64Array.from(this.mean), sigma: this.m2.map((v) => v / (this.n - 1)), dim: this.dim, n: this.n };
  }
}

export interface FrechetResult {
  value: number;
  /** ‖μ₁ − μ₂‖² */
  meanTerm: number;
  /** Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) */
  traceTerm: number;
  /** Samples in each set. */
  n: [number, number];
  dim: number;
  /** The diagonal offset added to both covariances (0 when none was needed). */
  offset: number;
  warnings: string[];
}

/**
 * Tr((Σ₁Σ₂)^{1/2}). Σ₁Σ₂ is not symmetric, but it is similar to the symmetric PSD matrix
 * Σ₁^{1/2} Σ₂ Σ₁^{1/2}, whose eigenvalues are the same; the trace of the principal square root is the
 * sum of their square roots. Both roots come from symmetric eigendecompositions in float64.
 * Returns the smallest eigenvalue relative to the largest, so callers can see a near-singular product.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number, root1?: Float64Array): { trace: number; minRelEig: number } {
  const root = root1 ?? sqrtPsd(s1, d);
  const m = matmulSquare(matmulSquare(root, s2, d), root, d);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) {
    const v = 0.5 * (m[i * d + j] + m[j * d + i]);
    m[i * d + j] = v;
    m[j * d + i] = v;
  }
  const ev = symmetricEigenvalues(m, d);
  const maxEig = Math.max(ev[d - 1], 0);
  let trace = 0;
  for (const l of ev) trace += Math.sqrt(Math.max(l, 0));
  return { trace, minRelEig: maxEig > 0 ? ev[0] / maxEig : 0 };
}

/** The principal square root of a symmetric PSD matrix (round-off negative eigenvalues clamped to 0). */
export function sqrtPsd(s1: Float64Array, d: number): Float64Array {
  const e1 = symmetricEigen(s1, d);
  // Σ₁^{1/2} = U diag(√λ) Uᵀ, with round-off negatives (a PSD matrix's) clamped to 0.
  const root = new Float64Array(d * d);
  const scaled = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) scaled[i * d + k] = e1.vectors[i * d + k] * Math.sqrt(Math.max(e1.values[k], 0));
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += scaled[i * d + k] * e1.vectors[j * d + k];
      root[i * d + j] = s;
      root[j * d + i] = s;
    }
  }
  return root;
}

/**
 * FID's formula, d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) (Heusel et al. 2017; pytorch-fid's
 * calculate_frechet_distance). Round-off can leave the product with slightly negative eigenvalues:
 * their square roots are pytorch-fid's "negligible imaginary parts" and are discarded (clamped to 0).
 * If the product is numerically indefinite beyond round-off (smallest eigenvalue below −1e-6 of the
 * largest), the result would carry a real imaginary component; as pytorch-fid does for a singular
 * product, `eps`·I is then added to both covariances and the root recomputed, and a warning says so.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats, eps = 1e-6, rootA?: Float64Array): FrechetResult {
  if (a.dim !== b.dim) throw new Error(`Fréchet distance: feature dimensions differ (${a.dim} vs ${b.dim})`);
  const d = a.dim, warnings: string[] = [];
  for (const s of [a, b]) {
    if (s.n <= d) {
      warnings.push(`only ${s.n} samples for ${d}-dimensional features: the covariance has rank ≤ ${s.n - 1} < ${d}, so FID is strongly biased and unstable; use several times more samples than dimensions (≥ ${2 * d}), and compare FIDs only at equal n`);
      break;
    }
  }
  let meanTerm = 0;
  for (let i = 0; i < d; i++) meanTerm += (a.mu[i] - b.mu[i]) ** 2;
  let trA = 0, trB = 0;
  for (let i = 0; i < d; i++) { trA += a.sigma[i * d + i]; trB += b.sigma[i * d + i]; }
  let { trace, minRelEig } = traceSqrtProduct(a.sigma, b.sigma, d, rootA);
  let offset = 0;
  if (!Number.isFinite(trace) || minRelEig < -1e-6) {
    offset = eps;
    warnings.push(`the covariance product is numerically singular (smallest relative eigenvalue ${minRelEig.toExponential(2)}); added ${eps} to both diagonals, as pytorch-fid does`);
    const sa = Float64Array.from(a.sigma), sb = Float64Array.from(b.sigma);
    for (let i = 0; i < d; i++) { sa[i * d + i] += eps; sb[i * d + i] += eps; }
    ({ trace } = traceSqrtProduct(sa, sb, d));
    // pytorch-fid takes the trace of the offset root but the traces of the original covariances.
  }
  const traceTerm = trA + trB - 2 * trace;
  return { value: meanTerm + traceTerm, meanTerm, traceTerm, n: [a.n, b.n], dim: d, offset, warnings };
}

/** FID between two feature matrices (rows = samples). */
export function fid(real: Matrix, fake: Matrix): FrechetResult {
  return frechetDistance(gaussianStats(real), gaussianStats(fake));
}
