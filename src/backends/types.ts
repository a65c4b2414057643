// What every backend (where the diffusion happens: pixel, latent, analytic) declares, so that callers
// sample, score and cost a model without knowing which one it is.
import type { tf } from '../compute/backend.js';
import type { DiffusionBackend } from '../diffusion/model.js';
import type { BpdResult } from '../metrics/bits-per-dim.js';
import type { WeightsChoice } from '../train/checkpoint.js';
import type { TrainConfigT } from '../train/config.js';

// The model interface of the sampling planner lives with it; every backend implements it.
export type { DiffusionBackend, SamplingModel } from '../diffusion/model.js';

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
