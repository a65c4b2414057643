// Experiment files: YAML or JSON that compose presets by reference ($ref + overrides), validated with
// errors that name the file, the path inside it, and what is accepted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { BACKEND_NAMES } from '../compute/backend.js';
import { SAMPLER_NAMES } from '../diffusion/samplers/index.js';
import { DISCRETE_SCHEDULES } from '../diffusion/schedules.js';
import { METRIC_GROUPS } from '../metrics/evaluate.js';
import { ConfigError, TrainConfig } from '../train/config.js';

export { ConfigError };

/** Metrics of the analytic (Gaussian-mixture) backend, where the exact answer is known. */
export const ANALYTIC_METRICS = ['sw2', 'path-rms', 'nll-exact'] as const;
export const GRID_METRICS = [...METRIC_GROUPS, ...ANALYTIC_METRICS] as const;
export const CHART_NAMES = ['quality-vs-nfe', 'cost-frontier', 'quality-vs-training-compute', 'bits-per-dim', 'loss', 'schedules', 'sampler-error', 'samples'] as const;

const Eval = z.strictObject({
  /** generated samples per grid point */
  n: z.number().int().min(2).default(256),
  /** real test images for the reference statistics (default: the whole test split) */
  realN: z.number().int().positive().optional(),
  /** test images for bits/dim */
  nllN: z.number().int().positive().default(64),
  /** 'all' KL terms or K stratified timesteps */
  nllTerms: z.union([z.literal('all'), z.number().int().positive()]).default(50),
  kidSubsets: z.number().int().positive().default(100),
  kidSubsetSize: z.number().int().positive().default(1000),
  /** feature network: lenet (the dataset's) or a TF.js model.json path */
  features: z.string().default('lenet'),
});

export const Experiment = z.strictObject({
  name: z.string().regex(/^[\w.-]+$/, 'letters, digits, ".", "_" and "-" only'),
  description: z.string().optional(),
  seed: z.number().int().default(0),
  /** tfjs compute backend */
  compute: z.enum(BACKEND_NAMES).default('auto'),
  /** models to train (or reuse), by name; each is a training config (see configs/train) */
  models: z.record(z.string().regex(/^[\w.-]+$/), z.unknown()).default({}),
  /** the exact Gaussian-mixture backend: a mixture JSON (configs/gmm) */
  analytic: z.strictObject({ gmm: z.string() }).optional(),
  grid: z.strictObject({
    /** model names from `models`, or 'analytic' */
    backends: z.array(z.string()).min(1),
    samplers: z.array(z.enum(SAMPLER_NAMES as [string, ...string[]])).default([]),
    steps: z.array(z.number().int().positive()).default([]),
    seeds: z.array(z.number().int()).min(1).default([0]),
    metrics: z.array(z.enum(GRID_METRICS)).min(1),
    /**
     * diffusion-stage training steps whose checkpoints are evaluated (each must be a saved checkpoint,
     * a multiple of checkpointEvery or the last step); empty: the final checkpoint only
     */
    checkpoints: z.array(z.number().int().positive()).default([]),
  }).optional(),
  eval: Eval.default(Eval.parse({})),
  /** schedules to plot (the `schedules` chart) */
  schedules: z.strictObject({ names: z.array(z.enum(DISCRETE_SCHEDULES)).min(1), T: z.number().int().min(2).default(1000) }).optional(),
  charts: z.array(z.enum(CHART_NAMES)).optional(),
  /** add the claims table to the report */
  claims: z.boolean().default(false),
}).superRefine((e, ctx) => {
  for (const [i, b] of (e.grid?.backends ?? []).entries()) {
    if (b === 'analytic') {
      if (!e.analytic) ctx.addIssue({ code: 'custom', path: ['grid', 'backends', i], message: "'analytic' needs an analytic block: { gmm: configs/gmm/<file>.json }" });
    } else if (!(b in e.models)) {
      ctx.addIssue({ code: 'custom', path: ['grid', 'backends', i], message: `unknown backend '${b}'; expected 'analytic' or one of the models: ${Object.keys(e.models).join(', ') || '(none defined)'}` });
    }
  }
  if (e.grid && e.grid.samplers.length && !e.grid.steps.length) ctx.addIssue({ code: 'custom', path: ['grid', 'steps'], message: 'a sampler grid needs at least one step count' });
  if (e.grid?.checkpoints.length && e.grid.backends.every((b) => b === 'analytic')) ctx.addIssue({ code: 'custom', path: ['grid', 'checkpoints'], message: 'checkpoints apply to trained models; the analytic backend has none' });
});

export type ExperimentT = z.infer<typeof Experiment>;
export type ResolvedModel = z.infer<typeof TrainConfig>;

export interface ResolvedExperiment extends Omit<ExperimentT, 'models'> {
  models: Record<string, ResolvedModel>;
  /** the file it came from */
  file: string;
}

function readStructured(file: string, where: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`${where}: cannot read ${file}`);
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v;
  return out;
}

/**
 * Replaces every `{ $ref: FILE, ...overrides }` by FILE's content (resolved relative to the file that
 * names it, itself resolved recursively) merged with the overrides.
 */
export function resolveRefs(value: unknown, file: string, where: string[] = [], seen: string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveRefs(v, file, [...where, String(i)], seen));
  if (!isObject(value)) return value;
  let out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== '$ref') out[k] = resolveRefs(v, file, [...where, k], seen);
  if ('$ref' in value) {
    const ref = value.$ref;
    const at = `${file}: ${[...where, '$ref'].join('.')}`;
    if (typeof ref !== 'string') throw new ConfigError(`${at}: expected a file path (string), got ${JSON.stringify(ref)}`);
    const target = path.resolve(path.dirname(file), ref);
    if (!fs.existsSync(target)) throw new ConfigError(`${at}: file not found: ${ref} (resolved to ${path.relative(process.cwd(), target)})`);
    if (seen.includes(target)) throw new ConfigError(`${at}: circular reference through ${ref}`);
    const base = resolveRefs(readStructured(target, at), target, [], [...seen, target]);
    out = deepMerge(base, out) as Record<string, unknown>;
  }
  return out;
}

/** Accepted keys of the object schema at `p` (for "unknown key" messages). */
function keysAt(schema: z.ZodType, p: PropertyKey[]): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  const unwrap = (x: z.ZodType): z.ZodType => {
    let cur = x as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } } };
    for (let i = 0; i < 10; i++) {
      const d = cur._zod.def;
      if ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable' || d.type === 'prefault') && d.innerType) cur = d.innerType as never;
      else if (d.type === 'pipe' && d.in) cur = d.in as never;
      else break;
    }
    return cur as unknown as z.ZodType;
  };
  for (const key of p) {
    if (!s) return undefined;
    const u = unwrap(s) as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType>; element?: z.ZodType; valueType?: z.ZodType } } };
    const d = u._zod.def;
    if (d.type === 'object' && d.shape) s = d.shape[String(key)];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return undefined;
  }
  if (!s) return undefined;
  const d = (unwrap(s) as unknown as { _zod: { def: { type: string; shape?: Record<string, unknown> } } })._zod.def;
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

function formatIssues(issues: z.core.$ZodIssue[], file: string, prefix: string[], schema: z.ZodType): string {
  return issues.map((i) => {
    const p = [...prefix, ...i.path.map(String)];
    const where = p.length ? p.join('.') : '(top level)';
    if (i.code === 'unrecognized_keys') {
      const keys = keysAt(schema, i.path);
      return `${file}: ${where ? `${where}: ` : ''}unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}${keys ? `; accepted: ${keys.join(', ')}` : ''}`;
    }
    return `${file}: ${where}: ${i.message}`;
  }).join('\n');
}

/** Reads, composes and validates an experiment file. */
export function loadExperiment(file: string): ResolvedExperiment {
  const raw = resolveRefs(readStructured(file, file), file);
  const r = Experiment.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error.issues, file, [], Experiment as unknown as z.ZodType));
  const models: Record<string, ResolvedModel> = {};
  for (const [name, m] of Object.entries(r.data.models)) {
    const withName = isObject(m) ? { name: `${r.data.name}-${name}`, ...m } : m;
    const mr = TrainConfig.safeParse(withName);
    if (!mr.success) throw new ConfigError(formatIssues(mr.error.issues, file, ['models', name], TrainConfig as unknown as z.ZodType));
    models[name] = mr.data;
  }
  return { ...r.data, models, file };
}

/** A stable hash of a JSON value (keys sorted), for run ids and checkpoint reuse. */
export function configHash(v: unknown): string {
  const canon = (x: unknown): unknown => (Array.isArray(x) ? x.map(canon) : isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon(x[k])])) : x);
  return crypto.createHash('sha256').update(JSON.stringify(canon(v))).digest('hex').slice(0, 10);
}
