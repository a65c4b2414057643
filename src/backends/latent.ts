// The latent backend: a frozen KL autoencoder whose scaled latents are where the diffusion happens (LDM).
import { tf } from '../compute/backend.js';
import type { Denoiser } from '../diffusion/samplers/types.js';
import type { DiscreteSchedule } from '../diffusion/schedules.js';
import type { UNet } from '../models/unet.js';
import type { Vae } from '../models/vae.js';
import type { Rng } from '../util/rng.js';
import { diffusionLoss, unetDenoiser, type DiffusionObjective } from './pixel.js';
import type { DiffusionBackend } from './types.js';

/** Posterior means of q(z|x) for a whole dataset, encoded in batches. */
export function encodeMeans(vae: Vae, x: tf.Tensor4D, batch = 64): tf.Tensor4D {
  const parts: tf.Tensor[] = [];
  for (let i = 0; i < x.shape[0]; i += batch) {
    parts.push(tf.tidy(() => vae.encode(x.slice([i, 0, 0, 0], [Math.min(batch, x.shape[0] - i), -1, -1, -1])).mean));
  }
  const out = tf.concat(parts, 0) as tf.Tensor4D;
  tf.dispose(parts);
  return out;
}

/** LDM's scale factor from unscaled latents: 1/std, accumulated in float64. */
export function scaleFactorOf(z: tf.Tensor): number {
  const v = z.dataSync();
  let sum = 0, sumSq = 0;
  for (let i = 0; i < v.length; i++) { sum += v[i]; sumSq += v[i] * v[i]; }
  const mean = sum / v.length;
  return 1 / Math.sqrt(sumSq / v.length - mean * mean);
}

/**
 * LDM's scale factor: 1/std of the latents over data, so that the diffusion sees roughly unit
 * variance whatever the autoencoder learned. Computed from the posterior means of `x`.
 */
export function estimateScaleFactor(vae: Vae, x: tf.Tensor4D, batch = 64): number {
  const z = encodeMeans(vae, x, batch);
  const s = scaleFactorOf(z);
  z.dispose();
  return s;
}

export class LatentBackend implements DiffusionBackend {
  readonly name = 'latent';
  readonly dataShape: number[];
  readonly latentShape: number[];
  denoiser: Denoiser;

  constructor(readonly vae: Vae, readonly scaleFactor: number, readonly model: UNet, readonly schedule: DiscreteSchedule, readonly objective: DiffusionObjective) {
    const v = vae.config;
    this.dataShape = [v.imageSize, v.imageSize, v.inChannels];
    this.latentShape = [vae.latentSize, vae.latentSize, v.latentChannels];
    const m = model.config;
    if (m.imageSize !== vae.latentSize || m.inChannels !== v.latentChannels || m.outChannels !== v.latentChannels) {
      throw new Error(`latent model: the UNet must take ${vae.latentSize}×${vae.latentSize}×${v.latentChannels} latents, got ${m.imageSize}×${m.imageSize}×${m.inChannels} → ${m.outChannels}`);
    }
    this.denoiser = unetDenoiser(model, schedule, objective.parameterization);
  }

  /** z = scale · mean of q(z|x) (the posterior mean: deterministic, as for training latents). */
  encode(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.vae.encode(x as tf.Tensor4D).mean.mul(this.scaleFactor));
  }

  decode(z: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.vae.decode(z.div(this.scaleFactor) as tf.Tensor4D));
  }

  /** Latents of a whole dataset in batches, computed once: the VAE is frozen while the UNet trains. */
  encodeAll(x: tf.Tensor4D, batch = 64): tf.Tensor4D {
    const means = encodeMeans(this.vae, x, batch);
    const out = means.mul(this.scaleFactor) as tf.Tensor4D;
    means.dispose();
    return out;
  }

  /** The diffusion loss on a batch of (already encoded) latents. */
  loss(z0: tf.Tensor4D, rng: Rng, seed: number): tf.Scalar {
    return diffusionLoss(this.model, this.schedule, this.objective, z0, rng, { training: true, seed });
  }
}
