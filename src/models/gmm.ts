// A Gaussian mixture with its exact denoiser E[x0|x_σ], score and log-density, in float64.
//
// With x = x0 + σ·ε and x0 ~ Σ_k π_k N(μ_k, diag(s_k²)), the noisy marginal is
// p_σ(x) = Σ_k π_k N(x; μ_k, diag(s_k² + σ²)) and, by Gaussian conjugacy,
// E[x0|x] = Σ_k r_k(x)·(μ_k + s_k²/(s_k² + σ²)·(x − μ_k)), r_k ∝ π_k N(x; μ_k, s_k² + σ²).
import { tf } from '../compute/backend.js';
import { perSampleSigma, sigmaValues, type Denoiser } from '../diffusion/denoiser.js';
import { parseMessage, readConfigText } from '../util/config-files.js';
import type { Rng } from '../util/rng.js';

export interface Gmm {
  dim: number;
  weights: Float64Array;
  /** means[k] has length dim */
  means: Float64Array[];
  /** per-component, per-dimension variances s_k² */
  variances: Float64Array[];
}

/** JSON file format: { weights: number[K], means: number[K][D], stds: number | number[K] | number[K][D] }. */
export interface GmmSpec {
  weights: number[];
  means: number[][];
  stds: number | number[] | number[][];
}

export class GmmSpecError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'GmmSpecError';
  }
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Validates a GMM spec; `where` names the file in error messages. */
export function gmmFromSpec(spec: unknown, where = 'gmm'): Gmm {
  const s = spec as Partial<GmmSpec>;
  if (typeof s !== 'object' || s === null) throw new GmmSpecError(where, 'expected an object with weights, means, stds');
  for (const key of Object.keys(s)) {
    if (!['weights', 'means', 'stds'].includes(key)) throw new GmmSpecError(`${where}: ${key}`, 'unknown key; expected weights, means, stds');
  }
  if (!Array.isArray(s.means) || s.means.length === 0) throw new GmmSpecError(`${where}: means`, 'expected a non-empty array of mean vectors');
  const K = s.means.length;
  const dim = Array.isArray(s.means[0]) ? s.means[0].length : 0;
  if (dim === 0) throw new GmmSpecError(`${where}: means[0]`, 'expected a non-empty array of numbers');
  const means = s.means.map((m, k) => {
    if (!Array.isArray(m) || m.length !== dim || !m.every(isNum)) throw new GmmSpecError(`${where}: means[${k}]`, `expected ${dim} finite numbers`);
    return Float64Array.from(m);
  });
  const w = s.weights ?? Array(K).fill(1 / K);
  if (!Array.isArray(w) || w.length !== K || !w.every((v) => isNum(v) && v > 0)) {
    throw new GmmSpecError(`${where}: weights`, `expected ${K} positive numbers (one per mean)`);
  }
  const total = w.reduce((a, b) => a + b, 0);
  if (!Number.isFinite(total)) throw new GmmSpecError(`${where}: weights`, `their sum overflows (${total}); give relative weights of moderate size, e.g. [1, 1]`);
  const weights = Float64Array.from(w, (v) => v / total);
  if (s.stds === undefined) throw new GmmSpecError(`${where}: stds`, 'missing; expected a number, one per component, or one vector per component');
  const variances = means.map((_, k) => {
    const sd = isNum(s.stds) ? s.stds : (s.stds as unknown[])[k];
    const v = isNum(sd) ? Array(dim).fill(sd) : sd;
    if (!Array.isArray(v) || v.length !== dim || !v.every((x) => isNum(x) && x > 0)) {
      throw new GmmSpecError(`${where}: stds${isNum(s.stds) ? '' : `[${k}]`}`, `expected a positive number or ${dim} positive numbers`);
    }
    return Float64Array.from(v as number[], (x) => x * x);
  });
  return { dim, weights, means, variances };
}

export function loadGmm(file: string): Gmm {
  let text: string;
  try {
    text = readConfigText(file, file);
  } catch (e) {
    throw new GmmSpecError(file, `cannot read: ${(e as Error).message.replace(`${file}: `, '')}`);
  }
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    // The parser's message without the excerpt of the file it quotes.
    throw new GmmSpecError(file, `not valid JSON: ${parseMessage(e)}`);
  }
  return gmmFromSpec(spec, file);
}

const LOG_2PI = Math.log(2 * Math.PI);

/** log π_k + log N(x_i; μ_k, s_k² + σ²) for every component, into `out` (length K). */
function componentLogLik(g: Gmm, x: Float64Array, i: number, sigma2: number, out: Float64Array): void {
  const d = g.dim;
  for (let k = 0; k < g.weights.length; k++) {
    const mu = g.means[k], v = g.variances[k];
    let q = 0, logdet = 0;
    for (let j = 0; j < d; j++) {
      const vj = v[j] + sigma2, diff = x[i * d + j] - mu[j];
      q += (diff * diff) / vj;
      logdet += Math.log(vj);
    }
    out[k] = Math.log(g.weights[k]) - 0.5 * (d * LOG_2PI + logdet + q);
  }
}

function logSumExp(a: Float64Array): number {
  let m = -Infinity;
  for (const v of a) m = Math.max(m, v);
  let s = 0;
  for (const v of a) s += Math.exp(v - m);
  return m + Math.log(s);
}

/** Posterior component weights r_k(x_i) ∝ π_k N(x_i; μ_k, s_k² + σ²), written into `r`. */
function responsibilities(g: Gmm, x: Float64Array, i: number, sigma2: number, buf: Float64Array, r: Float64Array): void {
  componentLogLik(g, x, i, sigma2, buf);
  const lse = logSumExp(buf);
  for (let k = 0; k < buf.length; k++) r[k] = Math.exp(buf[k] - lse);
}

/** log p_σ(x_i) for each row of x (row-major, n × dim); σ = 0 gives the data density. */
export function gmmLogDensity(g: Gmm, x: Float64Array, sigma = 0): Float64Array {
  const n = x.length / g.dim, out = new Float64Array(n), buf = new Float64Array(g.weights.length);
  for (let i = 0; i < n; i++) {
    componentLogLik(g, x, i, sigma * sigma, buf);
    out[i] = logSumExp(buf);
  }
  return out;
}

/** E[x0 | x0 + σε = x] for each row of x. */
export function gmmDenoise(g: Gmm, x: Float64Array, sigma: number): Float64Array {
  const d = g.dim, K = g.weights.length, n = x.length / d, s2 = sigma * sigma;
  const out = new Float64Array(x.length), buf = new Float64Array(K), r = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    responsibilities(g, x, i, s2, buf, r);
    for (let k = 0; k < K; k++) {
      if (r[k] === 0) continue;
      const mu = g.means[k], v = g.variances[k];
      for (let j = 0; j < d; j++) out[i * d + j] += r[k] * (mu[j] + (v[j] / (v[j] + s2)) * (x[i * d + j] - mu[j]));
    }
  }
  return out;
}

/** ∇_x log p_σ(x) = (E[x0|x] − x)/σ² (Tweedie), computed directly as Σ_k r_k (μ_k − x)/(s_k² + σ²). */
export function gmmScore(g: Gmm, x: Float64Array, sigma: number): Float64Array {
  const d = g.dim, K = g.weights.length, n = x.length / d, s2 = sigma * sigma;
  const out = new Float64Array(x.length), buf = new Float64Array(K), r = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    responsibilities(g, x, i, s2, buf, r);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < d; j++) out[i * d + j] += (r[k] * (g.means[k][j] - x[i * d + j])) / (g.variances[k][j] + s2);
    }
  }
  return out;
}

/** n exact samples, row-major. */
export function gmmSample(g: Gmm, n: number, rng: Rng): Float64Array {
  const d = g.dim, out = new Float64Array(n * d);
  const cdf = new Float64Array(g.weights.length);
  let acc = 0;
  g.weights.forEach((w, k) => { acc += w; cdf[k] = acc; });
  for (let i = 0; i < n; i++) {
    const u = rng.uniform() * acc;
    let k = 0;
    while (k < cdf.length - 1 && cdf[k] < u) k++;
    for (let j = 0; j < d; j++) out[i * d + j] = g.means[k][j] + Math.sqrt(g.variances[k][j]) * rng.normal();
  }
  return out;
}

/**
 * The exact denoiser as a tensor function (x: [n, dim], σ, cond?) → E[x0|x], computed in float64. The
 * mixture is class-conditional with one class per component: label k < K gives E[x0 | x, k] =
 * μ_k + s_k²/(s_k² + σ²)·(x − μ_k), the null label K (or no labels) the whole mixture's.
 */
export function gmmDenoiser(g: Gmm): Denoiser {
  const K = g.weights.length, d = g.dim;
  const mixture = perSampleSigma((x, sigma) => {
    const v = Float64Array.from(x.dataSync());
    return tf.tensor(Float32Array.from(gmmDenoise(g, v, sigma)), x.shape, 'float32');
  });
  return (x, sigma, cond) => {
    if (!cond) return mixture(x, sigma);
    const n = x.shape[0], labels = cond.dataSync(), s = sigmaValues(sigma, n);
    if (labels.length !== n) throw new Error(`gmm denoiser: ${labels.length} labels for a batch of ${n}`);
    const v = Float64Array.from(x.dataSync()), out = new Float64Array(v.length);
    for (let i = 0; i < n; i++) {
      const k = labels[i], row = v.subarray(i * d, (i + 1) * d), s2 = s[i] * s[i];
      if (!(Number.isInteger(k) && k >= 0 && k <= K)) throw new Error(`gmm denoiser: expected labels 0…${K} (${K} = none), got ${k}`);
      if (k === K) { out.set(gmmDenoise(g, row, s[i]), i * d); continue; }
      const mu = g.means[k], vk = g.variances[k];
      for (let j = 0; j < d; j++) out[i * d + j] = mu[j] + (vk[j] / (vk[j] + s2)) * (row[j] - mu[j]);
    }
    return tf.tensor(Float32Array.from(out), x.shape, 'float32');
  };
}

/**
 * ∇·E[x0|x] per row: Σ_j [Σ_k r_k a_kj + Cov_r(g_j, m_j)] with a_kj = s_kj²/(s_kj²+σ²),
 * m_kj = μ_kj + a_kj(x_j − μ_kj) and g_kj = −(x_j − μ_kj)/(s_kj²+σ²) = ∂ log N_k/∂x_j.
 */
export function gmmDenoiserDivergence(g: Gmm, x: Float64Array, sigma: number): Float64Array {
  const d = g.dim, K = g.weights.length, n = x.length / d, s2 = sigma * sigma;
  const out = new Float64Array(n), buf = new Float64Array(K), r = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    responsibilities(g, x, i, s2, buf, r);
    let div = 0;
    for (let j = 0; j < d; j++) {
      let ea = 0, eg = 0, em = 0, egm = 0;
      const xj = x[i * d + j];
      for (let k = 0; k < K; k++) {
        const v = g.variances[k][j], mu = g.means[k][j], a = v / (v + s2);
        const m = mu + a * (xj - mu), gk = -(xj - mu) / (v + s2);
        ea += r[k] * a; eg += r[k] * gk; em += r[k] * m; egm += r[k] * gk * m;
      }
      div += ea + egm - eg * em;
    }
    out[i] = div;
  }
  return out;
}

/**
 * The same exact denoiser written in tfjs ops (float32), so that it can be differentiated: used to
 * test autodiff-based divergences (exact and Hutchinson) against the closed form above.
 */
export function gmmDenoiserTf(g: Gmm): Denoiser {
  const K = g.weights.length, d = g.dim;
  const mu = tf.tensor(g.means.flatMap((m) => Array.from(m)), [1, K, d]);
  const v = tf.tensor(g.variances.flatMap((m) => Array.from(m)), [1, K, d]);
  const logw = tf.tensor(Array.from(g.weights, Math.log), [1, K]);
  return perSampleSigma((x, sigma) => tf.tidy(() => {
    const vs = v.add(sigma * sigma);
    const diff = x.expandDims(1).sub(mu); // [n, K, d]
    const ll = logw.sub(diff.square().div(vs).add(vs.log()).sum(2).mul(0.5)); // constants cancel in r
    const r = tf.softmax(ll, 1).expandDims(2);
    const m = mu.add(v.div(vs).mul(diff));
    return r.mul(m).sum(1);
  }));
}
