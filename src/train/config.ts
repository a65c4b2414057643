// The training configuration: schema, defaults, and loading with errors that name file and field.
import fs from 'node:fs';
import { z } from 'zod';
import { ConfigError, formatIssues, readStructured, resolveRefs, SAFE_NAME, SAFE_NAME_MESSAGE } from '../util/config-files.js';

export { ConfigError };
import { DATASET_NAMES } from '../data/index.js';
import { NOISE_DISTRIBUTIONS } from '../diffusion/noise-levels.js';
import { getObjective, OBJECTIVE_NAMES } from '../diffusion/objectives/index.js';
import { DISCRETE_SCHEDULES } from '../diffusion/schedules.js';
import { WEIGHTINGS, type WeightingSpec } from '../diffusion/weighting.js';
import { MAX_SIGMA_REL } from './posthoc-ema.js';

const side = z.number().int().positive().max(4096);
const size2 = z.tuple([side, side]);

export const TrainBlock = z.strictObject({
  steps: z.number().int().positive().max(10_000_000),
  batchSize: z.number().int().positive().max(4096).default(32),
  lr: z.number().positive().default(2e-4),
  warmupSteps: z.number().int().nonnegative().default(0),
  decay: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
  minLrFactor: z.number().min(0).max(1).default(0.1),
  weightDecay: z.number().min(0).default(0),
  clipNorm: z.number().positive().optional(),
  emaDecay: z.number().min(0).max(1).default(0.999),
  /**
   * EMA decay warm-up, min(emaDecay, (1 + t)/(10 + t)) at step t (LDM's LitEma); runs saved before
   * this option existed load with false
   */
  emaWarmup: z.boolean().default(true),
  checkpointEvery: z.number().int().positive().max(10_000_000).default(500),
  /**
   * post-hoc EMA (EDM2): power-function EMAs of these lengths σ_rel, snapshotted every `every` steps
   * (default: checkpointEvery), from which `difflab ema` reconstructs any other length
   */
  posthocEma: z.strictObject({
    sigmaRels: z.array(z.number().positive().lt(MAX_SIGMA_REL, `σ_rel must be below ${MAX_SIGMA_REL.toFixed(4)} (γ = 0)`)).min(1).max(8).default([0.05, 0.1]),
    every: z.number().int().positive().max(10_000_000).optional(),
  }).optional(),
});

const Shift = z.union([
  z.number().positive(),
  z.strictObject({ base: z.number().int().positive(), resolution: z.number().int().positive() }),
]);

const Noise = z.discriminatedUnion('distribution', [
  z.strictObject({ distribution: z.literal('uniform-discrete'), shift: Shift.optional() }),
  z.strictObject({ distribution: z.literal('uniform'), shift: Shift.optional() }),
  z.strictObject({ distribution: z.literal('log-normal'), pMean: z.number().default(-1.2), pStd: z.number().positive().default(1.2), shift: Shift.optional() }),
  z.strictObject({ distribution: z.literal('logit-normal'), m: z.number().default(0), s: z.number().positive().default(1), shift: Shift.optional() }),
], { error: () => `expected a distribution of ${NOISE_DISTRIBUTIONS.join(', ')}` });

export const Weighting = z.union([
  z.enum(WEIGHTINGS),
  z.strictObject({ name: z.enum(WEIGHTINGS), gamma: z.number().positive().optional(), bias: z.number().optional(), tMin: z.number().positive().lt(1).optional() }),
]);

const Objective = z.union([
  z.enum(OBJECTIVE_NAMES),
  z.strictObject({ name: z.enum(OBJECTIVE_NAMES), sigmaData: z.number().positive().default(0.5) }),
]);

let legacyNoted = false, quietLegacy = false;

/**
 * The objective block before objectives had their own registry: `objective: {parameterization,
 * weighting, gamma, offsetNoise}`. Still read, with a one-line note, and mapped to the current keys.
 */
function fromLegacy(d: unknown): unknown {
  if (typeof d !== 'object' || d === null) return d;
  const o = (d as { objective?: unknown }).objective;
  if (typeof o !== 'object' || o === null || !('parameterization' in o || 'offsetNoise' in o || 'gamma' in o || ('weighting' in o && !('name' in o)))) return d;
  const { parameterization, weighting, gamma, offsetNoise, ...rest } = o as Record<string, unknown>;
  if (!legacyNoted && !quietLegacy) {
    process.stderr.write('note: diffusion.objective {parameterization, weighting, gamma, offsetNoise} is deprecated: write objective: eps|x0|v|edm|flow, weighting, offsetNoise beside it\n');
    legacyNoted = true;
  }
  const out: Record<string, unknown> = { ...(d as Record<string, unknown>), objective: parameterization ?? 'eps', ...rest };
  if (weighting !== undefined || gamma !== undefined) out.weighting = gamma !== undefined ? { name: weighting ?? 'simple', gamma } : weighting;
  if (offsetNoise !== undefined) out.offsetNoise = offsetNoise;
  return out;
}

/** The DDPM/ADM UNet (src/models/unet.ts), the default backbone; `arch: unet` may be written out. */
const UNetModel = z.strictObject({
  arch: z.literal('unet'),
  channels: z.number().int().positive().max(1024).default(32),
  channelMult: z.array(z.number().int().positive().max(16)).min(1).max(6).default([1, 2, 2]),
  numResBlocks: z.number().int().positive().max(8).default(1),
  attentionResolutions: z.array(z.number().int().positive()).default([]),
  dropout: z.number().min(0).max(1).default(0),
  heads: z.number().int().positive().max(64).default(1),
  /**
   * time/class embedding as scale and shift after each residual block's second GroupNorm (ADM);
   * runs saved before this option existed load with false, the embedding added before the norm
   */
  scaleShiftNorm: z.boolean().default(true),
});

/** The diffusion transformer of Peebles & Xie 2023 (src/models/dit.ts), with JiT's and U-ViT's options. */
const DiTModel = z.strictObject({
  arch: z.literal('dit'),
  /** patch side p: tokens of p²·C values (pixels, or the autoencoder's latent channels) */
  patchSize: z.number().int().positive().max(64),
  /** token width (DiT's hidden_size); a multiple of 4 for the 2-D sin-cos position embedding */
  hiddenSize: z.number().int().positive().max(4096).multipleOf(4).default(96),
  depth: z.number().int().positive().max(64).default(6),
  heads: z.number().int().positive().max(64).default(4),
  mlpRatio: z.number().positive().max(16).default(4),
  /** JiT's bottleneck patch embedding: p²·C → bottleneck → hiddenSize */
  bottleneck: z.number().int().positive().max(4096).optional(),
  /** the class label as this many in-context tokens (JiT) instead of through adaLN */
  labelTokens: z.number().int().positive().max(64).optional(),
  /** U-ViT's long skips between the first and last halves of the blocks (SiD2) */
  longSkips: z.boolean().default(false),
});

/**
 * The backbone block. Without `arch` it is the UNet, and the resolved config leaves `arch` out, so
 * configs (and run ids) written before the DiT existed stay the same.
 */
const DiffusionModelBlock = z.preprocess(
  (m) => (typeof m === 'object' && m !== null && !Array.isArray(m) && !('arch' in m) ? { ...m, arch: 'unet' } : m),
  z.discriminatedUnion('arch', [UNetModel, DiTModel], { error: () => 'expected unet (the default) or dit' }),
).transform((m) => {
  if (m.arch === 'dit') return m;
  const { arch: _arch, ...unet } = m;
  return unet as Omit<typeof m, 'arch'> & { arch?: undefined };
});

export const DiffusionConfig = z.preprocess(fromLegacy, z.strictObject({
  /** the network behind the denoiser: a UNet (the default) or a DiT (arch: dit) */
  model: DiffusionModelBlock,
  /** eps | x0 | v | edm | flow | flow-x0 | flow-eps (src/diffusion/objectives/) */
  objective: Objective.default('eps'),
  /**
   * the discrete DDPM schedule of eps, x0 and v (default linear, T = 1000); edm and flow have none
   * (null: none, to override a preset's)
   */
  schedule: z.strictObject({ name: z.enum(DISCRETE_SCHEDULES), T: z.number().int().min(2).max(100_000).default(1000), zeroTerminalSnr: z.boolean().default(false) }).nullable().optional(),
  /** training noise levels (default: the objective's) and their shift */
  noise: Noise.optional(),
  /** loss weighting on ‖D − x0‖² (default: the objective's, 'simple') */
  weighting: Weighting.optional(),
  /** offset-noise strength (0 = off) */
  offsetNoise: z.number().min(0).default(0),
  /**
   * class-conditional training: the dataset's labels 0…classes−1 go into the UNet, and with
   * probability condDrop a label is replaced by the null label (classifier-free guidance)
   */
  conditioning: z.strictObject({
    classes: z.number().int().min(1).max(100_000),
    condDrop: z.number().min(0).max(1).default(0.1),
  }).optional(),
  train: TrainBlock,
}).transform((d, ctx) => {
  const objective = typeof d.objective === 'string' ? { name: d.objective, sigmaData: 0.5 } : d.objective;
  const o = getObjective(objective.name);
  if (d.schedule && !o.usesSchedule) {
    ctx.addIssue({ code: 'custom', path: ['schedule'], message: `the ${o.name} objective has no discrete schedule; remove it (schedules apply to eps, x0 and v)` });
  }
  const schedule = o.usesSchedule ? d.schedule ?? { name: 'linear' as const, T: 1000, zeroTerminalSnr: false } : undefined;
  const noise = d.noise ?? o.defaultNoise;
  if (noise.distribution === 'uniform-discrete' && !o.usesSchedule) {
    ctx.addIssue({ code: 'custom', path: ['noise', 'distribution'], message: `'uniform-discrete' needs a discrete schedule, which the ${o.name} objective has not; use uniform, log-normal or logit-normal` });
  }
  const w = d.weighting ?? o.defaultWeighting;
  const weighting: WeightingSpec = typeof w === 'string' ? { name: w as WeightingSpec['name'] } : w;
  return { ...d, objective, schedule, noise, weighting };
}));

export type DiffusionConfigT = z.infer<typeof DiffusionConfig>;

export const TrainConfig = z.strictObject({
  name: z.string().regex(SAFE_NAME, SAFE_NAME_MESSAGE),
  seed: z.number().int().default(0),
  backend: z.enum(['pixel', 'latent']),
  data: z.strictObject({
    name: z.enum(DATASET_NAMES),
    split: z.enum(['train', 'test', 'all']).default('train'),
    dir: z.string().optional(),
    channels: z.union([z.literal(1), z.literal(3)]).optional(),
    crop: size2.optional(),
    pad: size2.optional(),
    resize: size2.optional(),
    /** Use only the first `limit` images (after a seeded shuffle). */
    limit: z.number().int().positive().optional(),
  }),
  vae: z.strictObject({
    model: z.strictObject({
      channels: z.number().int().positive().max(1024).default(32),
      channelMult: z.array(z.number().int().positive().max(16)).min(1).max(4).default([1, 2, 2]),
      numResBlocks: z.number().int().positive().max(8).default(1),
      latentChannels: z.number().int().positive().max(64).default(4),
      midAttention: z.boolean().default(false),
    }),
    loss: z.strictObject({ reconstruction: z.enum(['l1', 'l2']).default('l1'), klWeight: z.number().min(0).default(1e-6) }),
    train: TrainBlock,
  }).optional(),
  diffusion: DiffusionConfig,
  out: z.string().optional(),
}).superRefine((c, ctx) => {
  if (c.backend === 'latent' && !c.vae) ctx.addIssue({ code: 'custom', path: ['vae'], message: 'the latent backend needs a vae block (model, loss, train)' });
});

export type TrainConfigT = z.infer<typeof TrainConfig>;

/**
 * Validates a parsed config; every problem is reported as `file: path.to.field: message`. `saved`:
 * the config comes from a checkpoint, so an old objective block there needs no note.
 */
export function parseTrainConfig(raw: unknown, file: string, saved = false): TrainConfigT {
  quietLegacy = saved;
  let r: ReturnType<typeof TrainConfig.safeParse>;
  try {
    r = TrainConfig.safeParse(raw);
  } finally {
    quietLegacy = false;
  }
  if (r.success) return r.data;
  throw new ConfigError(formatIssues(r.error.issues, file, [], TrainConfig as unknown as z.ZodType));
}

/** Reads a YAML or JSON training config; `$ref: preset.yaml` pulls a preset and overrides its fields. */
export function loadTrainConfig(file: string): TrainConfigT {
  if (!fs.existsSync(file)) throw new ConfigError(`${file}: cannot read: no such file`);
  return parseTrainConfig(resolveRefs(readStructured(file, file, { excerpt: true }), file), file);
}
