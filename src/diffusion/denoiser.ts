// The one denoiser D(x, σ, cond?) ≈ E[x0 | x0 + σε] that samplers call and that training computes its
// loss through (k-diffusion's Denoiser.forward/loss; EDM's EDMPrecond + EDMLoss): a network F behind an
// objective's preconditioning, D = c_skip·x + c_out·F(c_in·x, c_noise).
import { tf } from '../compute/backend.js';
import type { Rng } from '../util/rng.js';
import { offsetNoise } from './noise.js';
import type { NoiseLevels } from './noise-levels.js';
import type { Objective, ObjectiveContext, Preconditioning } from './objectives/index.js';
import { outputWeight, type WeightingSpec } from './weighting.js';

/** A noise level for the whole batch, or one per sample ([B]). */
export type Sigma = number | tf.Tensor1D;

/** D(x, σ, cond) ≈ E[x0 | x]: returns a new tensor; the caller owns it. `cond`: class labels [B]. */
export type Denoiser = (x: tf.Tensor, sigma: Sigma, cond?: tf.Tensor1D) => tf.Tensor;

/** σ per sample as numbers. */
export function sigmaValues(sigma: Sigma, n: number): Float64Array {
  if (typeof sigma === 'number') return new Float64Array(n).fill(sigma);
  if (sigma.shape[0] !== n) throw new Error(`denoiser: ${sigma.shape[0]} noise levels for a batch of ${n}`);
  return Float64Array.from(sigma.dataSync());
}

/**
 * Lifts a denoiser written for one σ per call (closed forms such as the Gaussian mixture's) to per-sample
 * σ: rows that share a σ are denoised together.
 */
export function perSampleSigma(f: (x: tf.Tensor, sigma: number) => tf.Tensor): Denoiser {
  return (x, sigma) => {
    if (typeof sigma === 'number') return f(x, sigma);
    const s = sigmaValues(sigma, x.shape[0]);
    const groups = new Map<number, number[]>();
    s.forEach((v, i) => { if (!groups.has(v)) groups.set(v, []); groups.get(v)!.push(i); });
    return tf.tidy(() => {
      const parts: tf.Tensor[] = [], order: number[] = [];
      for (const [v, rows] of groups) { parts.push(f(tf.gather(x, rows), v)); order.push(...rows); }
      const inv = new Int32Array(order.length);
      order.forEach((r, i) => { inv[r] = i; });
      return tf.gather(tf.concat(parts, 0), inv);
    });
  };
}

/** The network behind a denoiser: F(c_in·x, c_noise) with c_noise per sample. */
export type Network = (xIn: tf.Tensor4D, cNoise: tf.Tensor1D, opts: { training?: boolean; seed?: number; cond?: tf.Tensor1D }) => tf.Tensor4D;

export interface TrainingPolicy {
  levels: NoiseLevels;
  weighting: WeightingSpec;
  /** offset-noise strength (Guttenberg 2023; 0 = off) */
  offsetNoise: number;
}

const column = (v: ArrayLike<number>, rank: number) => tf.tensor(Float32Array.from(v), [v.length, ...Array(rank - 1).fill(1)]);

/** A network preconditioned by an objective: the denoiser for sampling and the loss for training. */
export class PreconditionedDenoiser {
  /** D(x, σ, cond) for samplers, likelihoods and metrics. */
  readonly D: Denoiser;

  constructor(readonly net: Network, readonly objective: Objective, readonly ctx: ObjectiveContext) {
    this.D = (x, sigma, cond) => tf.tidy(() => {
      const n = x.shape[0];
      if (typeof sigma === 'number') {
        const p = this.precond(sigma);
        const F = this.net(x.mul(p.cIn) as tf.Tensor4D, tf.fill([n], p.cNoise) as tf.Tensor1D, { cond });
        return p.cSkip === 0 ? F.mul(p.cOut) : x.mul(p.cSkip).add(F.mul(p.cOut));
      }
      const ps = Array.from(sigmaValues(sigma, n), (s) => this.precond(s));
      const col = (k: keyof Preconditioning) => column(ps.map((p) => p[k]), x.rank);
      const F = this.net(x.mul(col('cIn')) as tf.Tensor4D, tf.tensor1d(ps.map((p) => p.cNoise)), { cond });
      return x.mul(col('cSkip')).add(F.mul(col('cOut')));
    });
  }

  precond(sigma: number): Preconditioning {
    return this.objective.precond(sigma, this.ctx);
  }

  /**
   * The training loss on a batch x0: σ from the policy's levels, ε ~ N(0, I) (plus offset noise), and
   * mean_i w(σ_i)·‖D(x0 + σ_i ε, σ_i) − x0‖²/dims, computed on the network's output as
   * w·c_out²·‖F − target‖² (the same number; exact at small σ, where D − x0 would cancel).
   * Random draws come from `rng` in a fixed order: levels, then noise.
   */
  loss(x0: tf.Tensor4D, rng: Rng, policy: TrainingPolicy, opts: { training: boolean; seed: number; cond?: tf.Tensor1D }): tf.Scalar {
    return tf.tidy(() => {
      const n = x0.shape[0];
      const sigmas = policy.levels.sample(rng, n);
      const eps = offsetNoise(rng, x0.shape, policy.offsetNoise);
      const cIn = new Float32Array(n), cInSigma = new Float32Array(n), cNoise = new Float32Array(n), a = new Float32Array(n), b = new Float32Array(n), w = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const p = this.precond(sigmas[i]), t = this.objective.target(sigmas[i], this.ctx);
        cIn[i] = p.cIn; cInSigma[i] = p.cIn * sigmas[i]; cNoise[i] = p.cNoise; a[i] = t.x0; b[i] = t.eps;
        w[i] = outputWeight(policy.weighting, sigmas[i], { precond: p, sigmaData: this.ctx.sigmaData, levels: policy.levels });
      }
      const bshape = [n, 1, 1, 1];
      const xIn = x0.mul(tf.tensor(cIn, bshape)).add(eps.mul(tf.tensor(cInSigma, bshape))) as tf.Tensor4D;
      const target = a.every((v) => v === 0) && b.every((v) => v === 1) ? eps
        : a.every((v) => v === 1) && b.every((v) => v === 0) ? x0
          : x0.mul(tf.tensor(a, bshape)).add(eps.mul(tf.tensor(b, bshape)));
      const F = this.net(xIn, tf.tensor1d(cNoise), { training: opts.training, seed: opts.seed, cond: opts.cond });
      const perSample = F.sub(target).square().mean([1, 2, 3]);
      return perSample.mul(tf.tensor1d(w)).mean() as tf.Scalar;
    });
  }
}
