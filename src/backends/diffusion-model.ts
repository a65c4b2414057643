// The diffusion half of the pixel and latent backends: a UNet or a DiT behind an objective's preconditioning,
// with the training policy (noise levels, weighting) and sampling defaults its config names. Built
// the same way for training and for loading.
import { tf } from '../compute/backend.js';
import { PreconditionedDenoiser, type Denoiser, type TrainingPolicy } from '../diffusion/denoiser.js';
import { noiseLevels } from '../diffusion/noise-levels.js';
import { getObjective, type ObjectiveContext } from '../diffusion/objectives/index.js';
import { discreteSchedule, type DiscreteSchedule } from '../diffusion/schedules.js';
import { describeWeighting } from '../diffusion/weighting.js';
import { DiT } from '../models/dit.js';
import { UNet } from '../models/unet.js';
import type { DiffusionConfigT } from '../train/config.js';
import type { Rng } from '../util/rng.js';
import type { SamplingModel } from './types.js';

/** The reference schedule of objectives without one: the bits/dim bound is evaluated on its steps. */
export const REFERENCE_SCHEDULE = { name: 'linear', T: 1000 } as const;

/** The network F behind the denoiser: the UNet (default) or a DiT (`model.arch: dit`). */
export type Backbone = UNet | DiT;

/** Builds the configured backbone for inputs of `shape` (pixels, or the autoencoder's latents). */
export function buildBackbone(cfg: DiffusionConfigT, shape: { size: number; channels: number }, seed: number): Backbone {
  const io = { imageSize: shape.size, inChannels: shape.channels, outChannels: shape.channels, numClasses: cfg.conditioning?.classes };
  const m = cfg.model;
  if (m.arch === 'dit') {
    const { arch: _arch, ...dit } = m;
    return new DiT({ ...io, ...dit }, seed);
  }
  return new UNet({ ...io, ...m }, seed);
}

export class DiffusionModel {
  readonly net: Backbone;
  readonly denoiser: PreconditionedDenoiser;
  readonly policy: TrainingPolicy;
  readonly sampling: SamplingModel;
  /** the discrete schedule of eps/x0/v models; for others, the reference one of the bits/dim bound */
  readonly boundSchedule: DiscreteSchedule;

  constructor(readonly cfg: DiffusionConfigT, shape: { size: number; channels: number }, seed: number) {
    this.net = buildBackbone(cfg, shape, seed + 23);
    const objective = getObjective(cfg.objective.name);
    const schedule = cfg.schedule ? discreteSchedule(cfg.schedule.name, { T: cfg.schedule.T, zeroTerminalSnr: cfg.schedule.zeroTerminalSnr }) : undefined;
    const ctx: ObjectiveContext = { schedule, sigmaData: cfg.objective.sigmaData };
    const net = this.net;
    this.denoiser = new PreconditionedDenoiser((x, c, o) => net.forward(x, c, { training: o.training, seed: o.seed, cond: o.cond }), objective, ctx);
    const levels = noiseLevels(cfg.noise, objective, ctx);
    this.policy = { levels, weighting: cfg.weighting, offsetNoise: cfg.offsetNoise };
    this.boundSchedule = schedule ?? discreteSchedule(REFERENCE_SCHEDULE.name, { T: REFERENCE_SCHEDULE.T });
    this.sampling = {
      objective: objective.name,
      sigmaRange: objective.sigmaRange(ctx),
      nativeGrid: objective.nativeGrid,
      schedule,
      timeMap: objective.timeMap(ctx),
      shift: levels.alpha,
      priorScale: (sigma) => 1 / objective.precond(sigma, ctx).cIn,
      classes: cfg.conditioning?.classes,
    };
  }

  get D(): Denoiser {
    return this.denoiser.D;
  }

  /**
   * The training loss on a batch in the space the diffusion runs in. A class-conditional model takes
   * the batch's labels; each is replaced by the null label with probability condDrop, drawn from
   * `rng` before the loss's own draws.
   */
  loss(x0: tf.Tensor4D, rng: Rng, seed: number, labels?: Int32Array): tf.Scalar {
    const c = this.cfg.conditioning;
    if (!c) return this.denoiser.loss(x0, rng, this.policy, { training: true, seed });
    if (!labels || labels.length !== x0.shape[0]) throw new Error(`class-conditional training: expected ${x0.shape[0]} labels, got ${labels?.length ?? 'none'}`);
    const dropped = Int32Array.from(labels, (v) => (rng.uniform() < c.condDrop ? c.classes : v));
    return tf.tidy(() => this.denoiser.loss(x0, rng, this.policy, { training: true, seed, cond: tf.tensor1d(dropped, 'int32') }));
  }

  describe(): string {
    return `${this.cfg.objective.name} objective, ${this.policy.levels.describe}, ${describeWeighting(this.cfg.weighting)} weighting`;
  }

  dispose(): void {
    this.net.dispose();
  }
}
