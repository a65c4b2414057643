// What every backend (where the diffusion happens: pixel, latent, analytic) declares, so that callers
// sample, score and cost a model without knowing which one it is.
import type { tf } from '../compute/backend.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import type { TimeMap } from '../diffusion/objectives/index.js';
import type { DiscreteSchedule } from '../diffusion/schedules.js';
import type { BpdResult } from '../metrics/bits-per-dim.js';
import type { WeightsChoice } from '../train/checkpoint.js';
import type { TrainConfigT } from '../train/config.js';

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

export interface BitsPerDimOptions {
  method: 'vlb' | 'ode';
  terms?: 'all' | number;
  seed: number;
  /** held-out training images, for backends that fit something on them (latent: the decoder σ) */
  heldOut: () => tf.Tensor4D;
}

/** A trained network backend (pixel, latent). */
export interface ModelBackend extends DiffusionBackend {
  /** one-line description of the objective, noise levels and weighting it was trained with */
  describe: string;
  /** GFLOP per sample of one denoiser evaluation and of decoding to data space */
  cost(): { denoiserGflop: number; decoderGflop: number };
  /** bits/dim of 8-bit test images (in [−1, 1]), an upper bound on −log₂ P(x)/D */
  bitsPerDim(x: tf.Tensor4D, opts: BitsPerDimOptions): BpdResult;
  dispose(): void;
}

export interface LoadedRun {
  backend: ModelBackend;
  config: TrainConfigT;
  /** diffusion-stage step of the loaded checkpoint */
  step: number;
  /**
   * Training compute that produced these weights, in GFLOP: 3 × forward FLOPs per image (forward +
   * backward ≈ 3 forwards) × batch × steps for each trained network; latent runs add the VAE stage
   * and the one encoder pass over the training images that makes the diffusion stage's latents.
   */
  trainGflop: number;
  dispose(): void;
}

export type Stage = 'vae' | 'diffusion' | 'all';

export interface StageReport {
  stage: 'vae' | 'diffusion';
  steps: number;
  finalLoss: number;
  seconds: number;
  checkpoint: string;
}

/** The training images a backend trains on, in [−1, 1], with their dataset hash. */
export interface TrainingData {
  x: tf.Tensor4D;
  hash: string;
  /** class labels of the images, where the dataset has them */
  labels?: Int32Array;
}

/** A config as checkpoints store it: with the scale factor (latent) and the training images' shape. */
export type SavedConfig = TrainConfigT & { scaleFactor?: number; dataShape?: [number, number, number]; trainImages?: number };

/** A trainable backend kind: one construction path for training and for loading. */
export interface BackendEntry {
  name: 'pixel' | 'latent';
  describe: string;
  /** The training stages a config runs, in order, with their step counts (a run is trained when each reached its count). */
  stages(cfg: TrainConfigT): { stage: 'vae' | 'diffusion'; steps: number }[];
  /** Runs the configured stages in order into `out`; returns what each stage did. */
  train(cfg: TrainConfigT, data: TrainingData, opts: { out: string; stage: Stage; resume: boolean; force?: boolean; /** training threads (data-parallel); 1 when absent */ workers?: number }): StageReport[];
  /** Rebuilds the backend from a run directory's diffusion checkpoint `base` (with its sidecar). */
  load(dir: string, base: string, meta: { config: SavedConfig; step: number }, weights: WeightsChoice): LoadedRun;
}
