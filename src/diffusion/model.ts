// What the sampling planner and the samplers need of a model: its denoiser, the space it diffuses in,
// and the facts that decide a sampling grid. Every backend (src/backends) implements it.
import type { tf } from '../compute/backend.js';
import type { Denoiser } from './denoiser.js';
import type { TimeMap } from './objectives/index.js';
import type { DiscreteSchedule } from './schedules.js';

/** What the sampling planner needs to know about a model. */
export interface SamplingModel {
  /** the objective it was trained with ('analytic' for the exact mixture) */
  objective: string;
  /** σ range the denoiser was trained on: Karras and exponential grids span it by default */
  sigmaRange: [number, number];
  /** the grid that ddpm, ddim and plms use by default */
  nativeGrid: 'discrete' | 'uniform-t' | 'karras';
  /** the discrete schedule behind 'discrete' grids (eps/x0/v models; the analytic backend's reference) */
  schedule?: DiscreteSchedule;
  /** t ↔ σ of 'uniform-t' grids */
  timeMap: TimeMap;
  /** the training noise levels' shift factor: the default shift of every sampling grid */
  shift: number;
  /**
   * The initial noise's scale on discrete and uniform-t grids: the x whose network input c_in·x is a
   * standard normal (VP: √(1+σ²), x_T = z as diffusers starts; flow: 1+σ, x_1 = z).
   */
  priorScale(sigma: number): number;
  /** class-conditional models: the number of classes (the null label is this number) */
  classes?: number;
}

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
  sampling: SamplingModel;
  /** Range every x̂0 is clipped to while sampling, where the diffusion space is bounded (pixels). */
  clipDenoised?: [number, number];
  /** Exact −log p(x) in nats per item, where the backend knows it (the analytic backend does). */
  exactNll?(x: tf.Tensor): Float64Array;
}

