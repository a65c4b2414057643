// Likelihoods: the discrete-time variational bound and the probability-flow ODE log-likelihood, in bits/dim.
import { tf } from '../compute/backend.js';
import type { Rng } from '../util/rng.js';
import { posterior } from './noise.js';
import { fromAlphasCumprod, vpLogAlphaCumprod, vpSchedule, type DiscreteSchedule } from './schedules.js';
import { solveRk45 } from './samplers/ode.js';
import type { Denoiser } from './samplers/types.js';

const LN2 = Math.LN2;
const LOG_2PI = Math.log(2 * Math.PI);

/**
 * How a continuous NLL in the model's space maps to the data's own units. For 8-bit images mapped
 * to [−1, 1] as p/127.5 − 1 each pixel bin has width 2/255, so −log P(x_int) ≤ E_u[−log p(x + u)]
 * + D·log 127.5 nats (uniform dequantization, Theis et al. 2016): 6.99435 bits/dim are added.
 * Continuous data adds nothing.
 */
export interface Dequantization {
  /** nats added per dimension */
  natsPerDim: number;
  note: string;
}
export const CONTINUOUS: Dequantization = { natsPerDim: 0, note: 'continuous data: no dequantization offset' };
export const EIGHT_BIT_SYMMETRIC: Dequantization = {
  natsPerDim: Math.log(127.5),
  note: '8-bit data scaled to [−1, 1] as p/127.5 − 1: bins are 2/255 wide, so uniform dequantization adds log(127.5) nats = 6.99435 bits per dimension',
};

export interface NllResult {
  /** per-sample NLL in nats, offset included */
  nats: Float64Array;
  meanNats: number;
  bitsPerDim: number;
  dims: number;
  dequantization: Dequantization;
  nfe: number;
}

function summarize(nats: Float64Array, dims: number, dq: Dequantization, nfe: number): NllResult {
  const withOffset = nats.map((v) => v + dims * dq.natsPerDim);
  const mean = withOffset.reduce((a, b) => a + b, 0) / withOffset.length;
  return { nats: withOffset, meanNats: mean, bitsPerDim: mean / (dims * LN2), dims, dequantization: dq, nfe };
}

// ---- probability-flow ODE likelihood ----

/** ∇·f(x, σ) per sample for f = (x − D(x, σ))/σ; `dispose` releases state held across a solve. */
export type DivergenceFn = ((x: tf.Tensor, sigma: number) => Float64Array) & { dispose?: () => void };

/** From an exact divergence of the denoiser (e.g. the GMM's closed form): ∇·f = (d − ∇·D)/σ. */
export function divergenceFromDenoiserDivergence(divD: (x: Float64Array, sigma: number) => Float64Array): DivergenceFn {
  return (x, sigma) => {
    const d = x.size / x.shape[0];
    return divD(Float64Array.from(x.dataSync()), sigma).map((v) => (d - v) / sigma);
  };
}

/** Exact divergence by one reverse-mode pass per dimension (for small D and a differentiable denoiser). */
export function exactDivergence(denoiser: Denoiser): DivergenceFn {
  return (x, sigma) => readAndDispose(tf.tidy(() => {
    const [n, ...rest] = x.shape;
    const d = rest.reduce((a, b) => a * b, 1);
    let trace: tf.Tensor = tf.zeros([n]);
    for (let j = 0; j < d; j++) {
      const e = tf.oneHot(tf.fill([n], j, 'int32'), d).reshape(x.shape);
      const vjp = tf.grad((xx: tf.Tensor) => denoiser(xx, sigma).mul(e).sum())(x); // row j of ∂D/∂x
      trace = trace.add(vjp.mul(e).reshape([n, d]).sum(1));
    }
    return trace.neg().add(d).div(sigma); // ∇·f = (d − ∇·D)/σ
  }));
}

function readAndDispose(t: tf.Tensor): Float64Array {
  const v = Float64Array.from(t.dataSync());
  t.dispose();
  return v;
}

export type ProbeKind = 'rademacher' | 'gaussian';

/**
 * Hutchinson's estimator ∇·f ≈ εᵀ(∂f/∂x)ε with one fixed probe ε per sample for the whole solve
 * (Grathwohl et al. 2019), drawn from `rng`: Rademacher (±1) or Gaussian.
 */
export function hutchinsonDivergence(denoiser: Denoiser, probe: ProbeKind, rng: Rng): DivergenceFn {
  let eps: tf.Tensor | undefined;
  const fn: DivergenceFn = (x, sigma) => {
    if (!eps || eps.size !== x.size) {
      eps?.dispose();
      const v = new Float32Array(x.size);
      for (let i = 0; i < v.length; i++) v[i] = probe === 'rademacher' ? (rng.uniform() < 0.5 ? -1 : 1) : rng.normal();
      eps = tf.keep(tf.tensor(v, x.shape));
    }
    const e = eps;
    return readAndDispose(tf.tidy(() => {
      const fx = (xx: tf.Tensor) => xx.sub(denoiser(xx, sigma)).div(sigma).mul(e).sum();
      const vjp = tf.grad(fx)(x); // εᵀ ∂f/∂x
      return vjp.mul(e).reshape([x.shape[0], -1]).sum(1);
    }));
  };
  fn.dispose = () => { eps?.dispose(); eps = undefined; };
  return fn;
}

export interface OdeNllOptions {
  sigmaMin?: number;
  sigmaMax?: number;
  rtol?: number;
  atol?: number;
  dequantization?: Dequantization;
}

/**
 * −log p(x) by the instantaneous change of variables along the probability-flow ODE (Song et al.
 * 2021): solve (x, Δ) from σ_min to σ_max with dx/dσ = f and dΔ/dσ = ∇·f, then
 * log p_{σ_min}(x) = log N(x(σ_max); 0, σ_max²I) + Δ. σ_min > 0 makes this the density of data
 * convolved with N(0, σ_min²): keep σ_min small against the data's own scale.
 */
export function odeNll(denoiser: Denoiser, div: DivergenceFn, x: tf.Tensor, opts: OdeNllOptions = {}): NllResult {
  const sigmaMin = opts.sigmaMin ?? 1e-3, sigmaMax = opts.sigmaMax ?? 80;
  const [n, ...rest] = x.shape;
  const d = rest.reduce((a, b) => a * b, 1);
  let nfe = 0;
  // The augmented state is [x | Δ] flattened per sample: [n, d + 1].
  const f = (state: tf.Tensor, sigma: number) => {
    nfe++;
    const xs = tf.tidy(() => state.slice([0, 0], [n, d]).reshape(x.shape));
    const den = denoiser(xs, sigma);
    const dv = div(xs, sigma);
    const out = tf.tidy(() => tf.concat([xs.sub(den).div(sigma).reshape([n, d]), tf.tensor(Float32Array.from(dv), [n, 1])], 1));
    tf.dispose([xs, den]);
    return out;
  };
  const init = tf.tidy(() => tf.concat([x.reshape([n, d]), tf.zeros([n, 1])], 1));
  const sol = solveRk45(f, init, sigmaMin, sigmaMax, { rtol: opts.rtol ?? 1e-5, atol: opts.atol ?? 1e-5 });
  const v = sol.x.dataSync();
  tf.dispose([init, sol.x]);
  div.dispose?.();
  const nats = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += v[i * (d + 1) + j] ** 2;
    const logPrior = -0.5 * (d * (LOG_2PI + 2 * Math.log(sigmaMax)) + sq / sigmaMax ** 2);
    nats[i] = -(logPrior + v[i * (d + 1) + d]);
  }
  return summarize(nats, d, opts.dequantization ?? CONTINUOUS, nfe);
}

// ---- discrete-time variational bound ----

/** KL(N(m1, v1) ‖ N(m2, v2)) per element, summed by the caller. */
function gaussKl(m1: number, v1: number, m2: number, v2: number): number {
  return 0.5 * (Math.log(v2 / v1) + (v1 + (m1 - m2) ** 2) / v2 - 1);
}

/** Standard normal CDF, float64, via erfc (W. J. Cody's rational approximation through Math functions). */
function stdNormalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** erfc to ~1e-14 relative: continued fraction for large |x|, series for small (Numerical Recipes 6.2). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 2 / (2 + z);
  const ty = 4 * t - 2;
  const cof = [-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4,
    3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6, 1.5626441722e-8,
    -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12,
    -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17];
  let d = 0, dd = 0;
  for (let j = cof.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + cof[j];
    dd = tmp;
  }
  const r = t * Math.exp(-z * z + 0.5 * (cof[0] + ty * d) - dd);
  return x >= 0 ? r : 2 - r;
}

/**
 * log P(x) of the discretized Gaussian decoder for data on 256 levels scaled to [−1, 1] (Ho et al.
 * 2020, eq. 13): the mass of N(μ, σ²) on [x − 1/255, x + 1/255], with the outermost bins extended to ±∞.
 */
export function discretizedGaussianLogLik(x: number, mean: number, logStd: number): number {
  const invStd = Math.exp(-logStd), c = x - mean;
  const upper = x > 0.999 ? 1 : stdNormalCdf(invStd * (c + 1 / 255));
  const lower = x < -0.999 ? 0 : stdNormalCdf(invStd * (c - 1 / 255));
  const mass = upper - lower;
  return Math.log(Math.max(mass, 1e-12));
}

export interface VlbOptions {
  /** 'discretized': 8-bit data in [−1, 1] (Ho et al.); 'gaussian': continuous data, a Gaussian density. */
  decoder: 'discretized' | 'gaussian';
  variance?: 'beta' | 'beta-tilde';
  rng: Rng;
  /**
   * 'all' (default) evaluates every one of the T − 1 KL terms. A number K instead estimates their sum
   * without bias from at most K stratified timesteps (one drawn uniformly from each stratum of equal
   * log-SNR width, weighted by the stratum's size), as VDM estimates its diffusion loss with sampled
   * t; the prior and decoder terms are always exact.
   */
  terms?: 'all' | number;
}

export interface VlbResult extends NllResult {
  /** mean nats per sample of each part */
  prior: number;
  diffusion: number;
  decoder: number;
  /** How the diffusion terms were summed: every step, or K stratified steps. */
  terms: 'all' | number;
}

/**
 * The variational bound −log p(x0) ≤ L_prior + Σ_{t≥1} KL(q(x_{t−1}|x_t,x0) ‖ p_θ(x_{t−1}|x_t)) + L_dec
 * for a discrete-time model (Ho et al. 2020, eq. 5; Nichol & Dhariwal 2021), with x_t ~ q(x_t|x0)
 * drawn once per term. The model's mean uses the posterior mean at x̂0 = D(x_t); its variance is β̃_t or
 * β_t; the decoder variance at t = 0 is β̃_1 (as improved-diffusion does for both choices).
 * Discretized data: decoder = discretized Gaussian, units already include the 8-bit bins.
 */
export function variationalBound(denoiser: Denoiser, s: DiscreteSchedule, x0: tf.Tensor, opts: VlbOptions): VlbResult {
  const v0 = Float64Array.from(x0.dataSync());
  const [n, ...rest] = x0.shape;
  const d = rest.reduce((a, b) => a * b, 1);
  const perSample = new Float64Array(n);
  let prior = 0, diffusion = 0, decoder = 0, nfe = 0;
  // Prior: KL(q(x_{T−1}|x0) ‖ N(0, I)).
  const aT = s.alphasCumprod[s.T - 1];
  for (let i = 0; i < n; i++) {
    let kl = 0;
    for (let j = 0; j < d; j++) kl += gaussKl(Math.sqrt(aT) * v0[i * d + j], 1 - aT, 0, 1);
    perSample[i] += kl;
    prior += kl / n;
  }
  // Which timesteps to evaluate, with weights: every one, or one drawn per stratum (shared by the
  // images of this call, so each stratum costs one denoiser call; each image's estimate stays unbiased).
  const K = opts.terms === undefined || opts.terms === 'all' ? s.T - 1 : Math.max(1, Math.min(Math.floor(opts.terms), s.T - 1));
  const exact = K === s.T - 1;
  const plan: { t: number; w: number }[] = [{ t: 0, w: 1 }]; // t = 0: the decoder term
  for (const [lo, hi] of exact ? Array.from({ length: s.T - 1 }, (_, i) => [i + 1, i + 2]) : logSnrStrata(s, K)) {
    plan.push({ t: lo + (hi - lo > 1 ? opts.rng.int(hi - lo) : 0), w: hi - lo });
  }
  const xt = new Float32Array(n * d);
  for (const { t, w } of plan) {
    const a = s.alphasCumprod[t], sig = Math.sqrt((1 - a) / a);
    for (let k = 0; k < n * d; k++) xt[k] = Math.sqrt(a) * v0[k] + Math.sqrt(1 - a) * opts.rng.normal();
    // The denoiser works in σ form: x = x_t/√ᾱ.
    const xs = tf.tensor(xt.map((v) => v / Math.sqrt(a)), x0.shape);
    const den = denoiser(xs, sig);
    nfe++;
    const x0hat = den.dataSync();
    tf.dispose([xs, den]);
    const p = posterior(s, t, 'beta-tilde');
    if (t === 0) {
      const logStd = 0.5 * p.logVariance; // β̃_1, clipped as in improved-diffusion
      for (let i = 0; i < n; i++) {
        let ll = 0;
        for (let j = 0; j < d; j++) {
          const k = i * d + j, mean = x0hat[k]; // posterior mean at t = 0 is x̂0
          ll += opts.decoder === 'discretized'
            ? discretizedGaussianLogLik(v0[k], mean, logStd)
            : -0.5 * (LOG_2PI + 2 * logStd + (v0[k] - mean) ** 2 * Math.exp(-2 * logStd));
        }
        perSample[i] -= ll;
        decoder -= ll / n;
      }
      continue;
    }
    const model = posterior(s, t, opts.variance ?? 'beta-tilde');
    for (let i = 0; i < n; i++) {
      let kl = 0;
      for (let j = 0; j < d; j++) {
        const k = i * d + j;
        const mq = p.coefX0 * v0[k] + p.coefXt * xt[k];
        const mp = p.coefX0 * x0hat[k] + p.coefXt * xt[k];
        kl += gaussKl(mq, p.variance, mp, model.variance);
      }
      perSample[i] += w * kl;
      diffusion += (w * kl) / n;
    }
  }
  const dq = opts.decoder === 'discretized'
    ? { natsPerDim: 0, note: 'discretized Gaussian decoder over 256 levels: the bound is already a probability of 8-bit data' }
    : CONTINUOUS;
  return { ...summarize(perSample, d, dq, nfe), prior, diffusion, decoder, terms: exact ? 'all' : plan.length - 1 };
}

/**
 * Splits t = 1…T−1 into at most K strata [lo, hi) of equal log-SNR width. The KL terms change fastest
 * where log-SNR does (for 8-bit images most of the bound sits in the first few steps), so equal-t
 * strata would give a needlessly noisy estimate; strata narrower than one step are merged.
 */
export function logSnrStrata(s: DiscreteSchedule, K: number): [number, number][] {
  const logSnr = (t: number) => Math.log(s.alphasCumprod[t] / (1 - s.alphasCumprod[t]));
  const first = logSnr(1), last = logSnr(s.T - 1);
  const bounds = [1];
  let t = 1;
  for (let k = 1; k < K; k++) {
    const target = first + ((last - first) * k) / K;
    while (t < s.T - 1 && logSnr(t) > target) t++;
    if (t > bounds[bounds.length - 1]) bounds.push(t);
  }
  bounds.push(s.T);
  return bounds.slice(0, -1).map((lo, i) => [lo, bounds[i + 1]]);
}

/**
 * The continuous VP SDE (β_min, β_max) discretized to T steps. By default ᾱ_t = exp(log ᾱ((t+1)/T)),
 * whose first noise level moves with T; with `tMin`, the grid is t_min … 1 in T − 1 equal intervals,
 * so grids with 2^k·(T−1) intervals are nested refinements with the same SNR endpoints, the setting in
 * which the bound provably tightens (Kingma et al. 2021, §5.1).
 */
export function discretizeVp(T: number, betaMin = 0.1, betaMax = 20, tMin?: number): DiscreteSchedule {
  const vp = vpSchedule(betaMin, betaMax);
  const ac = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const tc = tMin === undefined ? (t + 1) / T : tMin + ((1 - tMin) * t) / (T - 1);
    ac[t] = Math.exp(vpLogAlphaCumprod(vp, tc));
  }
  return fromAlphasCumprod(`vp-${T}`, ac);
}
