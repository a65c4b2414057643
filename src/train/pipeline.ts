// From a training config to trained models: data, the VAE stage, the diffusion stage, and sampling
// from a finished run directory.
import fs from 'node:fs';
import path from 'node:path';
import { encodeMeans, LatentBackend, scaleFactorOf } from '../backends/latent.js';
import { PixelBackend } from '../backends/pixel.js';
import type { DiffusionBackend } from '../backends/types.js';
import { tf } from '../compute/backend.js';
import { datasetHash, loadDataset, permutation, subset, toFloat } from '../data/index.js';
import { getSampler, samplingSigmas } from '../diffusion/samplers/index.js';
import { discreteSchedule } from '../diffusion/schedules.js';
import { UNet } from '../models/unet.js';
import { Vae } from '../models/vae.js';
import { Rng } from '../util/rng.js';
import { checkpointAt, latestCheckpoint, loadWeights } from './checkpoint.js';
import type { TrainConfigT } from './config.js';
import { train, type TrainOptions } from './trainer.js';

export type Stage = 'vae' | 'diffusion' | 'all';

export function runDir(cfg: TrainConfigT): string {
  return cfg.out ?? path.join('results', 'train', cfg.name);
}

/** The training images as one [N, H, W, C] tensor in [−1, 1], with the dataset's hash. */
export function loadTrainingData(cfg: TrainConfigT): { x: tf.Tensor4D; hash: string } {
  let ds = loadDataset({ ...cfg.data });
  if (cfg.data.limit && cfg.data.limit < ds.n) ds = subset(ds, permutation(ds.n, new Rng(cfg.seed)).slice(0, cfg.data.limit));
  return { x: toFloat(ds, Int32Array.from({ length: ds.n }, (_, i) => i)), hash: datasetHash(ds) };
}

export function buildVae(cfg: TrainConfigT, imageSize: number, channels: number): Vae {
  return new Vae({ imageSize, inChannels: channels, ...cfg.vae!.model }, cfg.seed + 11);
}

export function buildUnet(cfg: TrainConfigT, imageSize: number, channels: number): UNet {
  return new UNet({ imageSize, inChannels: channels, outChannels: channels, ...cfg.diffusion.model }, cfg.seed + 23);
}

function trainOptions(block: TrainConfigT['diffusion']['train'], cfg: TrainConfigT, outDir: string, label: string, resume: boolean, dataHash: string): TrainOptions {
  return {
    steps: block.steps, batchSize: block.batchSize, seed: cfg.seed, label, outDir, resume, config: cfg, dataHash,
    lr: { base: block.lr, warmupSteps: block.warmupSteps, totalSteps: block.steps, decay: block.decay, minFactor: block.minLrFactor },
    adam: { weightDecay: block.weightDecay }, clipNorm: block.clipNorm, emaDecay: block.emaDecay, checkpointEvery: block.checkpointEvery,
  };
}

export interface StageReport {
  stage: 'vae' | 'diffusion';
  steps: number;
  finalLoss: number;
  seconds: number;
  checkpoint: string;
}

/** Runs the configured stages in order (latent: VAE, then diffusion on its frozen latents). */
export function runTraining(cfg: TrainConfigT, stage: Stage, resume: boolean): StageReport[] {
  const out = runDir(cfg);
  const { x, hash } = loadTrainingData(cfg);
  const [, h, , c] = x.shape;
  const reports: StageReport[] = [];
  let vae: Vae | undefined;
  try {
    if (cfg.backend === 'latent') {
      vae = buildVae(cfg, h, c);
      const vaeDir = path.join(out, 'vae');
      if (stage === 'vae' || stage === 'all') {
        const t0 = performance.now();
        const v = vae, lossCfg = cfg.vae!.loss;
        const r = train({
          params: v.params.vars, datasetSize: x.shape[0],
          loss: (idx, rng) => tf.tidy(() => {
            const xb = tf.gather(x, Array.from(idx)) as tf.Tensor4D;
            const eps = tf.tensor4d(rng.normals(idx.length * v.latentSize * v.latentSize * v.config.latentChannels), [idx.length, v.latentSize, v.latentSize, v.config.latentChannels]);
            return v.loss(xb, eps, lossCfg).loss;
          }),
        }, { ...trainOptions(cfg.vae!.train, cfg, vaeDir, 'vae', resume, hash), config: { ...cfg, dataShape: [h, h, c], trainImages: x.shape[0] } });
        r.ema.dispose();
        reports.push({ stage: 'vae', steps: r.step, finalLoss: r.lastLoss, seconds: (performance.now() - t0) / 1000, checkpoint: r.checkpoint });
      }
      const base = latestCheckpoint(vaeDir);
      if (!base) throw new Error(`${vaeDir}: no VAE checkpoint; run the vae stage first (--stage vae or all)`);
      loadWeights(base, vae.params.vars, 'model'); // the autoencoder is used as trained, without EMA
    }
    if (stage === 'diffusion' || stage === 'all') {
      const t0 = performance.now();
      let data: tf.Tensor4D, backend: PixelBackend | LatentBackend, scaleFactor: number | undefined;
      const schedule = discreteSchedule(cfg.diffusion.schedule.name, { T: cfg.diffusion.schedule.T, zeroTerminalSnr: cfg.diffusion.schedule.zeroTerminalSnr });
      if (vae) {
        // One pass over the data: the scale factor and the training latents come from the same means.
        const means = encodeMeans(vae, x);
        scaleFactor = scaleFactorOf(means);
        const unet = buildUnet(cfg, vae.latentSize, vae.config.latentChannels);
        backend = new LatentBackend(vae, scaleFactor, unet, schedule, cfg.diffusion.objective);
        data = means.mul(scaleFactor) as tf.Tensor4D;
        means.dispose();
      } else {
        backend = new PixelBackend(buildUnet(cfg, h, c), schedule, cfg.diffusion.objective);
        data = x;
      }
      const b = backend;
      try {
        const r = train({
          params: b.model.params.vars, datasetSize: data.shape[0],
          loss: (idx, rng, seed) => tf.tidy(() => b.loss(tf.gather(data, Array.from(idx)) as tf.Tensor4D, rng, seed)),
        }, { ...trainOptions(cfg.diffusion.train, cfg, path.join(out, 'diffusion'), 'diffusion', resume, hash), config: { ...cfg, scaleFactor, dataShape: [h, h, c], trainImages: x.shape[0] } });
        r.ema.dispose();
        reports.push({ stage: 'diffusion', steps: r.step, finalLoss: r.lastLoss, seconds: (performance.now() - t0) / 1000, checkpoint: r.checkpoint });
      } finally {
        if (data !== x) data.dispose();
        b.model.dispose();
      }
    }
  } finally {
    x.dispose();
    vae?.dispose();
  }
  return reports;
}

export interface LoadedRun {
  backend: DiffusionBackend & { model: UNet };
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

/**
 * Rebuilds a run's diffusion backend from its newest checkpoints (or the diffusion stage's checkpoint
 * at `step`), with EMA (or raw) weights. The VAE of a latent run is always its final one: the
 * diffusion stage trained on its latents.
 */
export function loadRun(dir: string, weights: 'ema' | 'model' = 'ema', step?: number): LoadedRun {
  const base = checkpointAt(path.join(dir, 'diffusion'), step);
  const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as { config: SavedConfig; step: number };
  const cfg = meta.config;
  const schedule = discreteSchedule(cfg.diffusion.schedule.name, { T: cfg.diffusion.schedule.T, zeroTerminalSnr: cfg.diffusion.schedule.zeroTerminalSnr });
  const diffusionGflop = (unet: UNet) => (3 * unet.flopsPerImage() * cfg.diffusion.train.batchSize * meta.step) / 1e9;
  if (cfg.backend === 'latent') {
    const vaeBase = latestCheckpoint(path.join(dir, 'vae'));
    if (!vaeBase) throw new Error(`${dir}: the latent run has no VAE checkpoint under vae/`);
    const vmeta = JSON.parse(fs.readFileSync(`${vaeBase}.json`, 'utf8')) as { config: SavedConfig; step: number };
    const vcfg = vmeta.config;
    const probe = trainingShape(vcfg);
    const vae = buildVae(vcfg, probe.h, probe.c);
    loadWeights(vaeBase, vae.params.vars, 'model');
    const unet = buildUnet(cfg, vae.latentSize, vae.config.latentChannels);
    loadWeights(base, unet.params.vars, weights);
    const vf = vae.flopsPerImage();
    const vaeGflop = (3 * (vf.encoder + vf.decoder) * vcfg.vae!.train.batchSize * vmeta.step + vf.encoder * trainImagesOf(cfg)) / 1e9;
    const backend = new LatentBackend(vae, cfg.scaleFactor!, unet, schedule, cfg.diffusion.objective);
    return { backend, config: cfg, step: meta.step, trainGflop: vaeGflop + diffusionGflop(unet), dispose: () => { vae.dispose(); unet.dispose(); } };
  }
  const probe = trainingShape(cfg);
  const unet = buildUnet(cfg, probe.h, probe.c);
  loadWeights(base, unet.params.vars, weights);
  return { backend: new PixelBackend(unet, schedule, cfg.diffusion.objective), config: cfg, step: meta.step, trainGflop: diffusionGflop(unet), dispose: () => unet.dispose() };
}

/** A config as checkpoints store it: with the scale factor (latent) and the training images' shape. */
type SavedConfig = TrainConfigT & { scaleFactor?: number; dataShape?: [number, number, number]; trainImages?: number };

/** Training images the run saw: recorded in the checkpoint; older runs count their dataset once. */
function trainImagesOf(cfg: SavedConfig): number {
  return cfg.trainImages ?? loadDataset({ ...cfg.data }).n;
}

/**
 * Image side and channels the models were built for: recorded in the checkpoint; runs written before
 * it was recorded fall back to loading their dataset once.
 */
function trainingShape(cfg: SavedConfig): { h: number; c: number } {
  if (cfg.dataShape) return { h: cfg.dataShape[0], c: cfg.dataShape[2] };
  const ds = loadDataset({ ...cfg.data });
  return { h: ds.height, c: ds.channels };
}

/**
 * Draws n samples from a loaded run and decodes them to images in [−1, 1]. Pixel runs clip every x̂0
 * to the data range [−1, 1] unless `clip` is false, as DDPM and DDIM do for images: an ε-model's
 * x̂0 = (x_t − s·ε̂)/α multiplies its ε error by σ, so early steps would otherwise overshoot wildly
 * (measured on a 500-step MNIST model: x̂0 MSE 23 at σ = 50, against 0.86 for predicting 0).
 * Latents are unbounded and never clipped.
 */
export function sampleRun(run: LoadedRun, opts: { sampler: string; steps: number; n: number; seed: number; eta?: number; clip?: boolean }): { images: tf.Tensor4D; nfe: number; seconds: number } {
  const e = getSampler(opts.sampler);
  const b = run.backend;
  const schedule = (b as PixelBackend | LatentBackend).schedule;
  // Karras grids span the σ range the model was trained on (as k-diffusion wraps discrete models).
  const sigmas = e.grid === 'discrete'
    ? samplingSigmas({ kind: 'discrete', steps: opts.steps, schedule, spacing: 'trailing' })
    : samplingSigmas({ kind: 'karras', steps: opts.steps, sigmaMax: schedule.sigmas[schedule.T - 1], sigmaMin: schedule.sigmas[0] });
  const rng = new Rng(opts.seed);
  const scale = e.grid === 'discrete' ? Math.sqrt(1 + sigmas[0] ** 2) : sigmas[0];
  const xT = tf.tensor(rng.fork().normals(opts.n * b.latentShape.reduce((p, q) => p * q, 1)).map((v) => v * scale), [opts.n, ...b.latentShape]);
  const t0 = performance.now();
  const clipDenoised: [number, number] | undefined = b.name === 'pixel' && opts.clip !== false ? [-1, 1] : undefined;
  const r = e.sampler(b.denoiser, xT, { ...e.preset, sigmas, rng, eta: opts.eta, clipDenoised });
  const images = tf.tidy(() => tf.clipByValue(b.decode(r.x), -1, 1)) as tf.Tensor4D;
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([xT, r.x]);
  return { images, nfe: r.nfe, seconds };
}
