// The forward process q(x_t|x_0), the posterior q(x_{t−1}|x_t,x_0), offset noise and the VP-form
// prediction conversions (objectives/ builds on the same closed forms; weighting.ts has the loss weights).
//
// Two equivalent forms (Karras et al. 2022, §2): VP, x_t = α_t·x0 + s_t·ε with α_t = √ᾱ_t and
// s_t = √(1−ᾱ_t); and σ form, x = x0 + σ·ε with σ = s_t/α_t, x = x_t/α_t.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import type { DiscreteSchedule } from './schedules.js';

export type Parameterization = 'eps' | 'x0' | 'v';

/** A tensor of standard normals drawn from the run's RNG (never from tfjs's own unseeded streams). */
export function randn(rng: Rng, shape: number[]): tf.Tensor {
  return tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), shape, 'float32');
}

/**
 * Offset noise (Guttenberg 2023): ε + c·δ with δ ~ N(0, I) drawn once per (sample, channel) and
 * broadcast over the spatial axes of an NHWC tensor, so the model learns to shift mean brightness.
 */
export function offsetNoise(rng: Rng, shape: number[], strength: number): tf.Tensor {
  const eps = randn(rng, shape);
  if (strength === 0) return eps;
  const [n, , , c] = shape;
  return tf.tidy(() => eps.add(randn(rng, [n, 1, 1, c]).mul(strength)));
}

/** α_t = √ᾱ_t and s_t = √(1−ᾱ_t) at a discrete step. */
export function vpCoefficients(s: DiscreteSchedule, t: number): { alpha: number; sigmaVp: number } {
  const a = s.alphasCumprod[t];
  return { alpha: Math.sqrt(a), sigmaVp: Math.sqrt(1 - a) };
}

/** Samples x_t ~ q(x_t|x_0) = N(√ᾱ_t·x0, (1−ᾱ_t)I); returns the noise used too. */
export function qSample(s: DiscreteSchedule, x0: tf.Tensor, t: number, noise: tf.Tensor): tf.Tensor {
  const { alpha, sigmaVp } = vpCoefficients(s, t);
  return tf.tidy(() => x0.mul(alpha).add(noise.mul(sigmaVp)));
}

/** Per-sample timesteps: x_t[i] = √ᾱ_{t[i]}·x0[i] + √(1−ᾱ_{t[i]})·ε[i]. */
export function qSampleBatch(s: DiscreteSchedule, x0: tf.Tensor, t: ArrayLike<number>, noise: tf.Tensor): tf.Tensor {
  const n = x0.shape[0];
  const bshape = [n, ...x0.shape.slice(1).map(() => 1)];
  const a = new Float32Array(n), sv = new Float32Array(n);
  for (let i = 0; i < n; i++) { a[i] = Math.sqrt(s.alphasCumprod[t[i]]); sv[i] = Math.sqrt(1 - s.alphasCumprod[t[i]]); }
  return tf.tidy(() => x0.mul(tf.tensor(a, bshape)).add(noise.mul(tf.tensor(sv, bshape))));
}

export type PosteriorVariance = 'beta' | 'beta-tilde';

export interface PosteriorCoefficients {
  /** mean = coefX0·x0 + coefXt·x_t */
  coefX0: number;
  coefXt: number;
  variance: number;
  logVariance: number;
}

/**
 * q(x_{t−1}|x_t, x_0) (Ho et al. 2020, eqs. 6–7): mean = √ᾱ_{t−1}β_t/(1−ᾱ_t)·x0 + √α_t(1−ᾱ_{t−1})/(1−ᾱ_t)·x_t,
 * variance β̃_t = (1−ᾱ_{t−1})/(1−ᾱ_t)·β_t, or the upper choice β_t. At t = 0, ᾱ_{−1} = 1: the mean is
 * x0 and β̃_0 = 0, whose log is taken as log β̃_1 (as improved-diffusion does).
 */
export function posterior(s: DiscreteSchedule, t: number, variance: PosteriorVariance = 'beta-tilde'): PosteriorCoefficients {
  const ac = s.alphasCumprod[t], acPrev = t > 0 ? s.alphasCumprod[t - 1] : 1, beta = s.betas[t];
  // At t = 0 the coefficients are exactly 1 and 0; the general formula would round 1 − (1 − β_0).
  const coefX0 = t > 0 ? (Math.sqrt(acPrev) * beta) / (1 - ac) : 1;
  const coefXt = t > 0 ? (Math.sqrt(s.alphas[t]) * (1 - acPrev)) / (1 - ac) : 0;
  const tilde = ((1 - acPrev) / (1 - ac)) * beta;
  if (variance === 'beta') return { coefX0, coefXt, variance: beta, logVariance: Math.log(beta) };
  const logVariance = t > 0 ? Math.log(tilde) : Math.log(((1 - s.alphasCumprod[0]) / (1 - s.alphasCumprod[1])) * s.betas[1]);
  return { coefX0, coefXt, variance: tilde, logVariance };
}

// ---- conversions between predictions ----

/**
 * Converts a model output of parameterization `from` into x0 and ε, in VP form with α = √ᾱ and
 * s = √(1−ᾱ): ε → x0 = (x_t − s·ε)/α; x0 → ε = (x_t − α·x0)/s; v = α·ε − s·x0 (Salimans & Ho 2022)
 * → x0 = α·x_t − s·v, ε = s·x_t + α·v.
 */
export function vpToX0Eps(from: Parameterization, out: tf.Tensor, xt: tf.Tensor, alpha: number, sigmaVp: number): { x0: tf.Tensor; eps: tf.Tensor } {
  return tf.tidy(() => {
    switch (from) {
      case 'eps': return { eps: out.clone(), x0: xt.sub(out.mul(sigmaVp)).div(alpha) };
      case 'x0': return { x0: out.clone(), eps: xt.sub(out.mul(alpha)).div(sigmaVp) };
      case 'v': return { x0: xt.mul(alpha).sub(out.mul(sigmaVp)), eps: xt.mul(sigmaVp).add(out.mul(alpha)) };
    }
  });
}

/** The training target of a parameterization, given x0 and ε, in VP form. */
export function vpTarget(param: Parameterization, x0: tf.Tensor, eps: tf.Tensor, alpha: number, sigmaVp: number): tf.Tensor {
  return tf.tidy(() => {
    switch (param) {
      case 'eps': return eps.clone();
      case 'x0': return x0.clone();
      case 'v': return eps.mul(alpha).sub(x0.mul(sigmaVp));
    }
  });
}

/** VP score ∇log p(x_t) = −ε/s_t. */
export function vpScoreFromEps(eps: tf.Tensor, sigmaVp: number): tf.Tensor {
  return tf.tidy(() => eps.div(-sigmaVp));
}

/** σ form (x = x0 + σε): ε = (x − x0)/σ, score = (x0 − x)/σ² (Tweedie). */
export function sigmaEpsFromX0(x: tf.Tensor, x0: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => x.sub(x0).div(sigma));
}

export function sigmaX0FromEps(x: tf.Tensor, eps: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => x.sub(eps.mul(sigma)));
}

export function sigmaScoreFromX0(x: tf.Tensor, x0: tf.Tensor, sigma: number): tf.Tensor {
  return tf.tidy(() => x0.sub(x).div(sigma * sigma));
}
