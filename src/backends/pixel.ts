// The pixel backend: a UNet diffusing the images themselves, behind the shared denoiser.
import { tf } from '../compute/backend.js';
import { pixelBitsPerDim } from '../metrics/bits-per-dim.js';
import { loadWeights } from '../train/checkpoint.js';
import { diffusionGflop, trainDiffusionStage, trainingShape } from './stages.js';
import { DiffusionModel, REFERENCE_SCHEDULE } from './diffusion-model.js';
import type { BackendEntry, BitsPerDimOptions, ModelBackend } from './types.js';

export class PixelBackend implements ModelBackend {
  readonly name = 'pixel';
  readonly dataShape: number[];
  readonly latentShape: number[];
  /** Pixels live in [−1, 1]: every x̂0 is clipped there while sampling, as DDPM and DDIM do. */
  readonly clipDenoised: [number, number] = [-1, 1];

  constructor(readonly model: DiffusionModel) {
    const c = model.net.config;
    this.dataShape = [c.imageSize, c.imageSize, c.inChannels];
    this.latentShape = this.dataShape;
  }

  get denoiser() { return this.model.D; }
  get sampling() { return this.model.sampling; }
  get describe() { return this.model.describe(); }

  encode(x: tf.Tensor): tf.Tensor { return x.clone(); }
  decode(z: tf.Tensor): tf.Tensor { return z.clone(); }

  cost() {
    return { denoiserGflop: this.model.net.flopsPerImage() / 1e9, decoderGflop: 0 };
  }

  bitsPerDim(x: tf.Tensor4D, opts: BitsPerDimOptions) {
    const r = pixelBitsPerDim(this.denoiser, this.model.boundSchedule, x, { method: opts.method, terms: opts.terms, seed: opts.seed, sigmaRange: this.sampling.sigmaRange });
    if (opts.method === 'vlb' && !this.model.cfg.schedule) r.notes.push(`the ${this.model.cfg.objective.name} objective has no discrete schedule: the bound runs on the steps of the ${REFERENCE_SCHEDULE.name} schedule (T = ${REFERENCE_SCHEDULE.T})`);
    return r;
  }

  dispose(): void { this.model.dispose(); }
}

export const pixel: BackendEntry = {
  name: 'pixel',
  describe: 'a UNet on the images themselves',
  stages: (cfg) => [{ stage: 'diffusion', steps: cfg.diffusion.train.steps }],
  train(cfg, data, opts) {
    if (opts.stage === 'vae') return [];
    const [, h, , c] = data.x.shape;
    const model = new DiffusionModel(cfg.diffusion, { size: h, channels: c }, cfg.seed);
    try {
      return [trainDiffusionStage(model, data.x, cfg, { out: opts.out, resume: opts.resume, force: opts.force, workers: opts.workers, hash: data.hash, labels: data.labels, saved: { ...cfg, dataShape: [h, h, c], trainImages: data.x.shape[0] } })];
    } finally {
      model.dispose();
    }
  },
  load(_dir, base, meta, weights) {
    const cfg = meta.config, shape = trainingShape(cfg);
    const model = new DiffusionModel(cfg.diffusion, { size: shape.h, channels: shape.c }, cfg.seed);
    loadWeights(base, model.net.params.vars, weights);
    const backend = new PixelBackend(model);
    return { backend, config: cfg, step: meta.step, trainGflop: diffusionGflop(model, cfg, meta.step), dispose: () => backend.dispose() };
  },
};
