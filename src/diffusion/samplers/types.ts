// Shared sampler types: every sampler is a function over a denoiser in σ space (x = x0 + σ·ε).
import { tf } from '../../compute/backend.js';
import type { NormalSource } from '../../util/rng.js';
import type { Denoiser } from '../denoiser.js';

export type { Denoiser, Sigma } from '../denoiser.js';

export interface StepInfo {
  /** index of the step just taken, from 0 */
  i: number;
  sigma: number;
  sigmaNext: number;
  x: tf.Tensor;
  denoised: tf.Tensor;
  nfe: number;
}

export interface SamplerOptions {
  /** Decreasing noise levels σ_0 > … > σ_{N−1} > σ_N = 0 (N steps). */
  sigmas: Float64Array;
  /** Source of fresh noise for stochastic samplers. */
  rng?: NormalSource;
  /** Stochasticity: ddim's η, euler-ancestral's η. */
  eta?: number;
  /** Clip the denoiser's x0 estimate to [lo, hi] (off by default). */
  clipDenoised?: [number, number];
  /** Called after every step, with tensors valid only during the call. */
  onStep?: (s: StepInfo) => void;
  /** heun (Karras et al. 2022, Alg. 2): S_churn, S_tmin, S_tmax, S_noise. */
  churn?: { sChurn: number; sTmin?: number; sTmax?: number; sNoise?: number };
  /** ddpm: posterior variance β̃_t ('beta-tilde', default) or β_t ('beta'). */
  variance?: 'beta' | 'beta-tilde';
  /** lms, dpm-solver++, unipc, deis: order. */
  order?: number;
  /** dpm-solver++, deis (below 15 steps) and unipc: lower the order of the last steps (diffusers). */
  lowerOrderFinal?: boolean;
  /** unipc: B(h) = h ('bh1') or e^h − 1 ('bh2') */
  variant?: 'bh1' | 'bh2';
  /** unipc: apply the corrector UniC (default true) */
  corrector?: boolean;
  /** probability-flow: tolerances of the adaptive RK45 solver. */
  rtol?: number;
  atol?: number;
}

export interface SampleResult {
  x: tf.Tensor;
  /** Exact number of denoiser evaluations. */
  nfe: number;
}

export type Sampler = (denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions) => SampleResult;

/** Wraps a denoiser to count its calls and apply optional x0 clipping. */
export function counted(denoiser: Denoiser, clip?: [number, number]): { D: Denoiser; nfe: () => number } {
  let n = 0;
  const D: Denoiser = (x, sigma, cond) => {
    n++;
    const out = denoiser(x, sigma, cond);
    if (!clip) return out;
    const c = tf.clipByValue(out, clip[0], clip[1]);
    out.dispose();
    return c;
  };
  return { D, nfe: () => n };
}

export function requireRng(opts: SamplerOptions, name: string): NormalSource {
  if (!opts.rng) throw new Error(`sampler ${name} is stochastic: pass rng`);
  return opts.rng;
}

/** Standard normals shaped like x, from the run's RNG (or each sample's own stream). */
export function noiseLike(rng: NormalSource, x: tf.Tensor): tf.Tensor {
  return tf.tensor(rng.normals(x.size), x.shape, 'float32');
}

/** Replaces `state` by `next`, disposing the old tensor unless it is the caller's input. */
export function advance(state: tf.Tensor, next: tf.Tensor, input: tf.Tensor): tf.Tensor {
  if (state !== input) state.dispose();
  return next;
}

/**
 * Runs a sampler that calls the denoiser once per step: `step` maps (x, x̂0, i) to the next x (inside a
 * tidy), except that the step to σ = 0 always returns x̂0. Handles NFE, the callback and disposal.
 */
export function runSingleEvalSteps(
  denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions,
  step: (x: tf.Tensor, denoised: tf.Tensor, i: number) => tf.Tensor,
): SampleResult {
  const { D, nfe } = counted(denoiser, opts.clipDenoised);
  const s = opts.sigmas;
  let x = xT;
  for (let i = 0; i < s.length - 1; i++) {
    const den = D(x, s[i]);
    const next = tf.tidy(() => (s[i + 1] === 0 ? den.clone() : step(x, den, i)));
    opts.onStep?.({ i, sigma: s[i], sigmaNext: s[i + 1], x: next, denoised: den, nfe: nfe() });
    den.dispose();
    x = advance(x, next, xT);
  }
  return { x: x === xT ? xT.clone() : x, nfe: nfe() };
}
