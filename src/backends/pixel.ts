// The pixel backend: a UNet trained on the images themselves (DDPM), behind the σ-space Denoiser.
import { tf } from '../compute/backend.js';
import { lossWeight, offsetNoise, vpCoefficients, vpToX0Eps, type LossWeighting, type Parameterization } from '../diffusion/noise.js';
import { sigmaToT, type DiscreteSchedule } from '../diffusion/schedules.js';
import type { Denoiser } from '../diffusion/samplers/types.js';
import { UNet } from '../models/unet.js';
import type { Rng } from '../util/rng.js';
import type { DiffusionBackend } from './types.js';

export interface DiffusionObjective {
  parameterization: Parameterization;
  weighting: LossWeighting;
  /** min-snr's γ */
  gamma?: number;
  /** Offset-noise strength (0 = off). */
  offsetNoise?: number;
}

/**
 * The network's prediction turned into E[x0|x] for samplers: a σ-form input x maps to the VP input
 * x_t = x/√(1+σ²) at the (fractional) timestep whose σ_t = σ, as k-diffusion wraps discrete models.
 */
export function unetDenoiser(model: UNet, schedule: DiscreteSchedule, param: Parameterization): Denoiser {
  return (x, sigma) => tf.tidy(() => {
    const alpha = 1 / Math.sqrt(1 + sigma * sigma), sigmaVp = sigma * alpha;
    const xt = x.mul(alpha) as tf.Tensor4D;
    const t = tf.fill([x.shape[0]], sigmaToT(schedule, sigma)) as tf.Tensor1D;
    const out = model.forward(xt, t);
    return vpToX0Eps(param, out, xt, alpha, sigmaVp).x0;
  });
}

/**
 * The diffusion training loss on a batch of x0 (in the space the model diffuses in): t uniform over
 * the T steps, ε ~ N(0, I) (plus offset noise), the MSE between the network output and the target of
 * its parameterization, weighted per sample by the chosen loss weighting.
 */
export function diffusionLoss(model: UNet, schedule: DiscreteSchedule, obj: DiffusionObjective, x0: tf.Tensor4D, rng: Rng, opts: { training: boolean; seed: number }): tf.Scalar {
  return tf.tidy(() => {
    const n = x0.shape[0];
    const t = Array.from({ length: n }, () => rng.int(schedule.T));
    const eps = offsetNoise(rng, x0.shape, obj.offsetNoise ?? 0);
    const a = new Float32Array(n), s = new Float32Array(n), w = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = vpCoefficients(schedule, t[i]);
      a[i] = c.alpha; s[i] = c.sigmaVp;
      w[i] = lossWeight(obj.weighting, schedule, t[i], obj.parameterization, { gamma: obj.gamma });
    }
    const bshape = [n, 1, 1, 1];
    const A = tf.tensor(a, bshape), S = tf.tensor(s, bshape);
    const xt = x0.mul(A).add(eps.mul(S)) as tf.Tensor4D;
    // Per-sample targets, as noise.ts's vpTarget with each sample's own α, s (v = α·ε − s·x0).
    const target = obj.parameterization === 'eps' ? eps : obj.parameterization === 'x0' ? x0 : eps.mul(A).sub(x0.mul(S));
    const out = model.forward(xt, tf.tensor1d(t), { training: opts.training, seed: opts.seed });
    const perSample = out.sub(target).square().mean([1, 2, 3]);
    return perSample.mul(tf.tensor1d(w)).mean() as tf.Scalar;
  });
}

export class PixelBackend implements DiffusionBackend {
  readonly name = 'pixel';
  readonly dataShape: number[];
  readonly latentShape: number[];
  denoiser: Denoiser;

  constructor(readonly model: UNet, readonly schedule: DiscreteSchedule, readonly objective: DiffusionObjective) {
    const c = model.config;
    this.dataShape = [c.imageSize, c.imageSize, c.inChannels];
    this.latentShape = this.dataShape;
    this.denoiser = unetDenoiser(model, schedule, objective.parameterization);
  }

  encode(x: tf.Tensor): tf.Tensor { return x.clone(); }
  decode(z: tf.Tensor): tf.Tensor { return z.clone(); }

  loss(x0: tf.Tensor4D, rng: Rng, seed: number): tf.Scalar {
    return diffusionLoss(this.model, this.schedule, this.objective, x0, rng, { training: true, seed });
  }
}

