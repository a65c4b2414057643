// From a training config to trained models: the data, then the stages of the config's backend.
import path from 'node:path';
import { backendEntry, type Stage, type StageReport } from '../backends/index.js';
import type { tf } from '../compute/backend.js';
import { datasetHash, loadDataset, permutation, subset, toFloat } from '../data/index.js';
import { Rng } from '../util/rng.js';
import type { TrainConfigT } from './config.js';

export type { Stage, StageReport };

export function runDir(cfg: TrainConfigT): string {
  return cfg.out ?? path.join('results', 'train', cfg.name);
}

/** The training images as one [N, H, W, C] tensor in [−1, 1], with the dataset's hash. */
export function loadTrainingData(cfg: TrainConfigT): { x: tf.Tensor4D; hash: string } {
  let ds = loadDataset({ ...cfg.data });
  if (cfg.data.limit && cfg.data.limit < ds.n) ds = subset(ds, permutation(ds.n, new Rng(cfg.seed)).slice(0, cfg.data.limit));
  return { x: toFloat(ds, Int32Array.from({ length: ds.n }, (_, i) => i)), hash: datasetHash(ds) };
}

/** Runs the configured stages in order (latent: VAE, then diffusion on its frozen latents). */
export function runTraining(cfg: TrainConfigT, stage: Stage, resume: boolean, force = false): StageReport[] {
  const data = loadTrainingData(cfg);
  try {
    return backendEntry(cfg.backend).train(cfg, data, { out: runDir(cfg), stage, resume, force });
  } finally {
    data.x.dispose();
  }
}
