// The training configuration: schema, defaults, and loading with errors that name file and field.
import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { DATASET_NAMES } from '../data/index.js';
import { LOSS_WEIGHTINGS, PARAMETERIZATIONS } from '../diffusion/noise.js';
import { DISCRETE_SCHEDULES } from '../diffusion/schedules.js';

const size2 = z.tuple([z.number().int().positive(), z.number().int().positive()]);

export const TrainBlock = z.strictObject({
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive().default(32),
  lr: z.number().positive().default(2e-4),
  warmupSteps: z.number().int().nonnegative().default(0),
  decay: z.enum(['cosine', 'linear', 'constant']).default('cosine'),
  minLrFactor: z.number().min(0).max(1).default(0.1),
  weightDecay: z.number().min(0).default(0),
  clipNorm: z.number().positive().optional(),
  emaDecay: z.number().min(0).max(1).default(0.999),
  checkpointEvery: z.number().int().positive().default(500),
});

export const TrainConfig = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, 'letters, digits, ".", "_" and "-" only'),
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
      channels: z.number().int().positive().default(32),
      channelMult: z.array(z.number().int().positive()).min(1).max(4).default([1, 2, 2]),
      numResBlocks: z.number().int().positive().default(1),
      latentChannels: z.number().int().positive().default(4),
      midAttention: z.boolean().default(false),
    }),
    loss: z.strictObject({ reconstruction: z.enum(['l1', 'l2']).default('l1'), klWeight: z.number().min(0).default(1e-6) }),
    train: TrainBlock,
  }).optional(),
  diffusion: z.strictObject({
    model: z.strictObject({
      channels: z.number().int().positive().default(32),
      channelMult: z.array(z.number().int().positive()).min(1).default([1, 2, 2]),
      numResBlocks: z.number().int().positive().default(1),
      attentionResolutions: z.array(z.number().int().positive()).default([]),
      dropout: z.number().min(0).max(1).default(0),
      heads: z.number().int().positive().default(1),
    }),
    schedule: z.strictObject({ name: z.enum(DISCRETE_SCHEDULES), T: z.number().int().min(2).default(1000), zeroTerminalSnr: z.boolean().default(false) }),
    objective: z.strictObject({
      parameterization: z.enum(PARAMETERIZATIONS).default('eps'),
      weighting: z.enum(LOSS_WEIGHTINGS).default('simple'),
      gamma: z.number().positive().optional(),
      offsetNoise: z.number().min(0).default(0),
    }),
    train: TrainBlock,
  }),
  out: z.string().optional(),
}).superRefine((c, ctx) => {
  if (c.backend === 'latent' && !c.vae) ctx.addIssue({ code: 'custom', path: ['vae'], message: 'the latent backend needs a vae block (model, loss, train)' });
});

export type TrainConfigT = z.infer<typeof TrainConfig>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates a parsed config; every problem is reported as `file: path.to.field: message`. */
export function parseTrainConfig(raw: unknown, file: string): TrainConfigT {
  const r = TrainConfig.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : '(top level)';
    return `${file}: ${where}: ${i.message}`;
  });
  throw new ConfigError(lines.join('\n'));
}

/** Reads a YAML or JSON training config. */
export function loadTrainConfig(file: string): TrainConfigT {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseTrainConfig(raw, file);
}
