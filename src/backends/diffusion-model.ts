// The diffusion half of the pixel and latent backends: a UNet behind an objective's preconditioning,
// with the training policy (noise levels, weighting) and sampling defaults its config names. Built
// the same way for training and for loading.
import { tf } from '../compute/backend.js';
import { PreconditionedDenoiser, type Denoiser, type TrainingPolicy } from '../diffusion/denoiser.js';
import { noiseLevels } from '../diffusion/noise-levels.js';
import { getObjective, type ObjectiveContext } from '../diffusion/objectives/index.js';
import { discreteSchedule, type DiscreteSchedule } from '../diffusion/schedules.js';
import { describeWeighting } from '../diffusion/weighting.js';
import { UNet } from '../models/unet.js';
import type { DiffusionConfigT } from '../train/config.js';
import type { Rng } from '../util/rng.js';
import type { SamplingModel } from './types.js';

/** The reference schedule of objectives without one: the bits/dim bound is evaluated on its steps. */
export const REFERENCE_SCHEDULE = { name: 'linear', T: 1000 } as const;

export class DiffusionModel {
  readonly unet: UNet;
  readonly denoiser: PreconditionedDenoiser;
  readonly policy: TrainingPolicy;
  readonly sampling: SamplingModel;
  /** the discrete schedule of eps/x0/v models; for others, the reference one of the bits/dim bound */
  readonly boundSchedule: DiscreteSchedule;

  constructor(readonly cfg: DiffusionConfigT, shape: { size: number; channels: number }, seed: number) {
    this.unet = new UNet({ imageSize: shape.size, inChannels: shape.channels, outChannels: shape.channels, ...cfg.model }, seed + 23);
    const objective = getObjective(cfg.objective.name);
    const schedule = cfg.schedule ? discreteSchedule(cfg.schedule.name, { T: cfg.schedule.T, zeroTerminalSnr: cfg.schedule.zeroTerminalSnr }) : undefined;
    const ctx: ObjectiveContext = { schedule, sigmaData: cfg.objective.sigmaData };
    const unet = this.unet;
    this.denoiser = new PreconditionedDenoiser((x, c, o) => unet.forward(x, c, { training: o.training, seed: o.seed }), objective, ctx);
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
    };
  }

  get D(): Denoiser {
    return this.denoiser.D;
  }

  /** The training loss on a batch in the space the diffusion runs in. */
  loss(x0: tf.Tensor4D, rng: Rng, seed: number): tf.Scalar {
    return this.denoiser.loss(x0, rng, this.policy, { training: true, seed });
  }

  describe(): string {
    return `${this.cfg.objective.name} objective, ${this.policy.levels.describe}, ${describeWeighting(this.cfg.weighting)} weighting`;
  }

  dispose(): void {
    this.unet.dispose();
  }
}
