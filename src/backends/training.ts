// From a training config to trained models: the data, then the stages of the config's backend.
import path from 'node:path';
import { backendEntry, type Stage, type StageReport } from './index.js';
import type { TrainingData } from './types.js';
import { datasetHash, loadDataset, permutation, subset, toFloat } from '../data/index.js';
import { Rng } from '../util/rng.js';
import type { TrainConfigT } from '../train/config.js';

export type { Stage, StageReport };

export function runDir(cfg: TrainConfigT): string {
  return cfg.out ?? path.join('results', 'train', cfg.name);
}

/**
 * The training images as one [N, H, W, C] tensor in [−1, 1], with the dataset's hash and labels; a
 * class-conditional config needs labels below its class count.
 */
export function loadTrainingData(cfg: TrainConfigT): TrainingData {
  let ds = loadDataset({ ...cfg.data });
  if (cfg.data.limit && cfg.data.limit < ds.n) ds = subset(ds, permutation(ds.n, new Rng(cfg.seed)).slice(0, cfg.data.limit));
  const classes = cfg.diffusion.conditioning?.classes;
  if (classes !== undefined) {
    if (!ds.labels) throw new Error(`diffusion.conditioning: dataset ${ds.name} has no class labels (image folders take their classes from sub-folders)`);
    const max = ds.labels.reduce((m, v) => Math.max(m, v), -1);
    if (max >= classes) throw new Error(`diffusion.conditioning.classes: dataset ${ds.name} has labels up to ${max}; expected classes ≥ ${max + 1}, got ${classes}`);
  }
  return { x: toFloat(ds, Int32Array.from({ length: ds.n }, (_, i) => i)), hash: datasetHash(ds), labels: ds.labels };
}

/** Runs the configured stages in order (latent: VAE, then diffusion on its frozen latents), each on `workers` threads. */
export function runTraining(cfg: TrainConfigT, stage: Stage, resume: boolean, force = false, workers = 1): StageReport[] {
  const data = loadTrainingData(cfg);
  try {
    return backendEntry(cfg.backend).train(cfg, data, { out: runDir(cfg), stage, resume, force, workers });
  } finally {
    data.x.dispose();
  }
}
