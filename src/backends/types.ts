// The interface every diffusion backend implements: where the diffusion happens, and its denoiser.
import type { tf } from '../compute/backend.js';
import type { Denoiser } from '../diffusion/samplers/types.js';

export interface DiffusionBackend {
  /** 'pixel', 'latent', 'analytic' */
  name: string;
  /** Shape of one data item, e.g. [28, 28, 1] or [2]. */
  dataShape: number[];
  /** Shape of one item in the space the diffusion runs in (equal to dataShape for pixel/analytic). */
  latentShape: number[];
  /** data → diffusion space (identity for pixel and analytic, VAE encoder × scale for latent). */
  encode(x: tf.Tensor): tf.Tensor;
  /** diffusion space → data. */
  decode(z: tf.Tensor): tf.Tensor;
  /** E[x0 | x0 + σε = x] in the diffusion space, as every sampler expects. */
  denoiser: Denoiser;
  /** Exact −log p(x) in nats per item, where the backend knows it (the analytic backend does). */
  exactNll?(x: tf.Tensor): Float64Array;
}
