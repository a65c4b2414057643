// The latent backend: a frozen KL autoencoder whose scaled latents are where the diffusion happens (LDM).
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { fitDecoderStd, latentBitsPerDim } from '../metrics/bits-per-dim.js';
import { Vae, type VaeLossConfig } from '../models/vae.js';
import { readJsonFile } from '../util/fs.js';
import { latestCheckpoint, loadWeights } from '../train/checkpoint.js';
import type { TrainConfigT } from '../train/config.js';
import { diffusionGflop, REPLICA_MODULE, trainDiffusionStage, trainImagesOf, trainingShape, trainOptions } from './stages.js';
import { train, type TrainTask } from '../train/trainer.js';
import { DiffusionModel } from './diffusion-model.js';
import { savedConfig } from './saved-config.js';
import type { BackendEntry, BitsPerDimOptions, ModelBackend, SavedConfig, StageReport } from './types.js';

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

export function buildVae(cfg: TrainConfigT, imageSize: number, channels: number): Vae {
  return new Vae({ imageSize, inChannels: channels, ...cfg.vae!.model }, cfg.seed + 11);
}

export class LatentBackend implements ModelBackend {
  readonly name = 'latent';
  readonly dataShape: number[];
  readonly latentShape: number[];

  constructor(readonly vae: Vae, readonly scaleFactor: number, readonly model: DiffusionModel) {
    const v = vae.config;
    this.dataShape = [v.imageSize, v.imageSize, v.inChannels];
    this.latentShape = [vae.latentSize, vae.latentSize, v.latentChannels];
    const m = model.net.config;
    if (m.imageSize !== vae.latentSize || m.inChannels !== v.latentChannels || m.outChannels !== v.latentChannels) {
      throw new Error(`latent model: the network must take ${vae.latentSize}×${vae.latentSize}×${v.latentChannels} latents, got ${m.imageSize}×${m.imageSize}×${m.inChannels} → ${m.outChannels}`);
    }
  }

  get denoiser() { return this.model.D; }
  get sampling() { return this.model.sampling; }
  get describe() { return this.model.describe(); }

  /** z = scale · mean of q(z|x) (the posterior mean: deterministic, as for training latents). */
  encode(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.vae.encode(x as tf.Tensor4D).mean.mul(this.scaleFactor));
  }

  decode(z: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.vae.decode(z.div(this.scaleFactor) as tf.Tensor4D));
  }

  cost() {
    return { denoiserGflop: this.model.net.flopsPerImage() / 1e9, decoderGflop: this.vae.flopsPerImage().decoder / 1e9 };
  }

  bitsPerDim(x: tf.Tensor4D, opts: BitsPerDimOptions) {
    if (opts.method === 'ode') throw new Error("nll-ode: the latent model's bound uses its latent prior's variational bound; use nll");
    const heldOut = opts.heldOut();
    try {
      const std = fitDecoderStd(this.vae, heldOut, opts.seed);
      return latentBitsPerDim({ vae: this.vae, scaleFactor: this.scaleFactor, prior: this.denoiser, schedule: this.model.boundSchedule }, x, {
        decoderStd: std, decoderStdSource: `fit on ${heldOut.shape[0]} held-out training images: RMS reconstruction error with z ~ q(z|x)`,
        terms: opts.terms, seed: opts.seed,
      });
    } finally {
      heldOut.dispose();
    }
  }

  dispose(): void {
    this.vae.dispose();
    this.model.dispose();
  }
}

/** The autoencoder's loss on batches of `x`, its posterior noise drawn from the step's generator. */
export function vaeTask(vae: Vae, x: tf.Tensor4D, lossCfg: VaeLossConfig): TrainTask {
  return {
    params: vae.params.vars, datasetSize: x.shape[0],
    loss: (idx, rng) => tf.tidy(() => {
      const xb = tf.gather(x, Array.from(idx)) as tf.Tensor4D;
      const eps = tf.tensor4d(rng.normals(idx.length * vae.latentSize * vae.latentSize * vae.config.latentChannels), [idx.length, vae.latentSize, vae.latentSize, vae.config.latentChannels]);
      return vae.loss(xb, eps, lossCfg).loss;
    }),
  };
}

function trainVae(cfg: TrainConfigT, vae: Vae, x: tf.Tensor4D, opts: { out: string; resume: boolean; force?: boolean; hash: string; workers?: number }): StageReport {
  const t0 = performance.now();
  const [, h, , c] = x.shape;
  const task: TrainTask = { ...vaeTask(vae, x, cfg.vae!.loss), replica: { recipe: { module: REPLICA_MODULE, kind: 'vae', cfg, size: h, channels: c }, data: x } };
  const r = train(task, { ...trainOptions(cfg.vae!.train, cfg, path.join(opts.out, 'vae'), 'vae', opts.resume, opts.hash, opts.force, opts.workers), config: { ...cfg, dataShape: [h, h, c], trainImages: x.shape[0] } });
  r.ema.dispose();
  return { stage: 'vae', steps: r.step, finalLoss: r.lastLoss, seconds: (performance.now() - t0) / 1000, checkpoint: r.checkpoint };
}

export const latent: BackendEntry = {
  name: 'latent',
  describe: 'a frozen KL autoencoder with a UNet on its scaled latents',
  stages: (cfg) => [{ stage: 'vae', steps: cfg.vae!.train.steps }, { stage: 'diffusion', steps: cfg.diffusion.train.steps }],
  train(cfg, data, opts) {
    const { x, hash } = data;
    const [, h, , c] = x.shape;
    const reports: StageReport[] = [];
    const vae = buildVae(cfg, h, c);
    try {
      const vaeDir = path.join(opts.out, 'vae');
      if (opts.stage === 'vae' || opts.stage === 'all') reports.push(trainVae(cfg, vae, x, { out: opts.out, resume: opts.resume, force: opts.force, hash, workers: opts.workers }));
      if (opts.stage === 'vae') return reports;
      const base = latestCheckpoint(vaeDir);
      if (!base) throw new Error(`${vaeDir}: no VAE checkpoint; run the vae stage first (--stage vae or all)`);
      loadWeights(base, vae.params.vars, 'model'); // the autoencoder is used as trained, without EMA
      // One pass over the data: the scale factor and the training latents come from the same means.
      const means = encodeMeans(vae, x);
      const scaleFactor = scaleFactorOf(means);
      const z = means.mul(scaleFactor) as tf.Tensor4D;
      means.dispose();
      const model = new DiffusionModel(cfg.diffusion, { size: vae.latentSize, channels: vae.config.latentChannels }, cfg.seed);
      try {
        reports.push(trainDiffusionStage(model, z, cfg, { out: opts.out, resume: opts.resume, force: opts.force, workers: opts.workers, hash, labels: data.labels, saved: { ...cfg, scaleFactor, dataShape: [h, h, c], trainImages: x.shape[0] } }));
      } finally {
        z.dispose();
        model.dispose();
      }
      return reports;
    } finally {
      vae.dispose();
    }
  },
  load(dir, base, meta, weights) {
    const cfg = meta.config;
    const vaeBase = latestCheckpoint(path.join(dir, 'vae'));
    if (!vaeBase) throw new Error(`${dir}: the latent run has no VAE checkpoint under vae/`);
    const vmeta = readJsonFile<{ config: SavedConfig; step: number }>(`${vaeBase}.json`, 'a checkpoint sidecar');
    const vcfg = savedConfig(vmeta.config, `${vaeBase}.json`);
    const probe = trainingShape(vcfg);
    const vae = buildVae(vcfg, probe.h, probe.c);
    loadWeights(vaeBase, vae.params.vars, 'model');
    const model = new DiffusionModel(cfg.diffusion, { size: vae.latentSize, channels: vae.config.latentChannels }, cfg.seed);
    loadWeights(base, model.net.params.vars, weights);
    const vf = vae.flopsPerImage();
    const vaeGflop = (3 * (vf.encoder + vf.decoder) * vcfg.vae!.train.batchSize * vmeta.step + vf.encoder * trainImagesOf(cfg)) / 1e9;
    const backend = new LatentBackend(vae, cfg.scaleFactor!, model);
    return { backend, config: cfg, step: meta.step, trainGflop: vaeGflop + diffusionGflop(model, cfg, meta.step), dispose: () => backend.dispose() };
  },
};
