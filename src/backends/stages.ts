// The training stages backends are made of: a diffusion model on a tensor of training items (pixel
// images or latents), run by the shared loop with the config's training block.
import path from 'node:path';
import { DiffusionModel } from './diffusion-model.js';
import type { SavedConfig, StageReport } from './types.js';
import { tf } from '../compute/backend.js';
import { loadDataset } from '../data/index.js';
import type { TrainConfigT } from '../train/config.js';
import type { ReplicaTaskBuilder } from '../train/data-parallel.js';
import { train, type TrainOptions, type TrainTask } from '../train/trainer.js';

export function trainOptions(block: TrainConfigT['diffusion']['train'], cfg: TrainConfigT, outDir: string, label: string, resume: boolean, dataHash: string, force = false, workers = 1): TrainOptions {
  return {
    steps: block.steps, batchSize: block.batchSize, seed: cfg.seed, label, outDir, resume, force, config: cfg, dataHash, workers,
    lr: { base: block.lr, warmupSteps: block.warmupSteps, totalSteps: block.steps, decay: block.decay, minFactor: block.minLrFactor },
    adam: { weightDecay: block.weightDecay }, clipNorm: block.clipNorm, emaDecay: block.emaDecay, emaWarmup: block.emaWarmup, checkpointEvery: block.checkpointEvery,
    posthoc: block.posthocEma && { sigmaRels: block.posthocEma.sigmaRels, every: block.posthocEma.every ?? block.checkpointEvery },
  };
}

/** The module a replica thread imports to build a stage's task (see ReplicaRecipe). */
export const REPLICA_MODULE = import.meta.url;

/** A replica thread's task from its recipe: the same model and loss the main thread trains. */
export const replicaTask: ReplicaTaskBuilder = async (r, data, labels) => {
  if (r.kind === 'diffusion') return diffusionTask(new DiffusionModel(r.diffusion, { size: r.size, channels: r.channels }, r.seed), data, labels);
  const { buildVae, vaeTask } = await import('./latent.js');
  return vaeTask(buildVae(r.cfg, r.size, r.channels), data, r.cfg.vae!.loss);
};

/** The diffusion loss on batches of `data` (with their labels, for a class-conditional model). */
export function diffusionTask(model: DiffusionModel, data: tf.Tensor4D, labels?: Int32Array): TrainTask {
  return {
    params: model.net.params.vars, datasetSize: data.shape[0],
    loss: (idx, rng, seed) => tf.tidy(() => model.loss(tf.gather(data, Array.from(idx)) as tf.Tensor4D, rng, seed, labels && Int32Array.from(idx, (i) => labels[i]))),
  };
}

/** Trains `model` on `data` into `<out>/diffusion`; `saved` is stored with every checkpoint. */
export function trainDiffusionStage(model: DiffusionModel, data: tf.Tensor4D, cfg: TrainConfigT, opts: { out: string; resume: boolean; force?: boolean; hash: string; saved: SavedConfig; labels?: Int32Array; workers?: number }): StageReport {
  const t0 = performance.now();
  const labels = cfg.diffusion.conditioning ? opts.labels : undefined;
  const [, size, , channels] = data.shape;
  const task: TrainTask = {
    ...diffusionTask(model, data, labels),
    replica: { recipe: { module: REPLICA_MODULE, kind: 'diffusion', diffusion: cfg.diffusion, size, channels, seed: cfg.seed }, data, labels },
  };
  const r = train(task, { ...trainOptions(cfg.diffusion.train, cfg, path.join(opts.out, 'diffusion'), 'diffusion', opts.resume, opts.hash, opts.force, opts.workers), config: opts.saved });
  r.ema.dispose();
  return { stage: 'diffusion', steps: r.step, finalLoss: r.lastLoss, seconds: (performance.now() - t0) / 1000, checkpoint: r.checkpoint };
}

/** Training compute of a diffusion stage in GFLOP: 3 × forward FLOPs × batch × steps. */
export function diffusionGflop(model: DiffusionModel, cfg: TrainConfigT, step: number): number {
  return (3 * model.net.flopsPerImage() * cfg.diffusion.train.batchSize * step) / 1e9;
}

/** Training images the run saw: recorded in the checkpoint; older runs count their dataset once. */
export function trainImagesOf(cfg: SavedConfig): number {
  return cfg.trainImages ?? loadDataset({ ...cfg.data }).n;
}

/**
 * Image side and channels the models were built for: recorded in the checkpoint; runs written before
 * it was recorded fall back to loading their dataset once.
 */
export function trainingShape(cfg: SavedConfig): { h: number; c: number } {
  if (cfg.dataShape) return { h: cfg.dataShape[0], c: cfg.dataShape[2] };
  const ds = loadDataset({ ...cfg.data });
  return { h: ds.height, c: ds.channels };
}
