// Experiment files: YAML or JSON that compose presets by reference ($ref + overrides), validated with
// errors that name the file, the path inside it, and what is accepted.
import crypto from 'node:crypto';
import { z } from 'zod';
import { BACKEND_NAMES } from '../compute/backend.js';
import { parseSamplerSetting } from '../diffusion/sampling.js';
import { DISCRETE_SCHEDULES } from '../diffusion/schedules.js';
import { METRIC_GROUPS } from '../metrics/evaluate.js';
import { MAX_SIGMA_REL } from '../train/posthoc-ema.js';
import { TrainBlock, TrainConfig, Weighting } from '../train/config.js';
import { TOY2D_NAMES } from '../data/toy2d.js';
import { DATASET_NAMES } from '../data/index.js';
import { OBJECTIVE_NAMES } from '../diffusion/objectives/index.js';
import { ConfigError, deepMerge, formatIssues, isObject, readStructured, resolveRefs, SAFE_NAME, SAFE_NAME_MESSAGE } from '../util/config-files.js';

export { ConfigError };

/** Metrics of the analytic (Gaussian-mixture) backend, where the exact answer is known. */
export const ANALYTIC_METRICS = ['sw2', 'path-rms'] as const;
/**
 * recon: the latent models' autoencoders on test images (rFID against the reference, PSNR); ood:
 * per-image bits/dim on the model's test set and eval.ood's, and the AUROC of telling them apart.
 */
export const GRID_METRICS = [...METRIC_GROUPS, 'recon', 'ood', 'memorization', ...ANALYTIC_METRICS] as const;
export const CHART_NAMES = ['quality-vs-nfe', 'cost-frontier', 'quality-vs-training-compute', 'quality-vs-training-steps', 'likelihood-vs-quality', 'quality-vs-dimension', 'autoencoders', 'quality-vs-shift', 'quality-vs-token-dim', 'ood-likelihood', 'quality-vs-guidance', 'quality-vs-ema', 'bits-per-dim', 'loss', 'schedules', 'sampler-error', 'memorization', 'samples'] as const;

/** Grid coordinates that pick an arm's rows (each given field must match; checkpoint defaults to each model's final one). */
const ArmSelector = z.strictObject({
  /** a grid backend, or a list of them (an argmin across models) */
  backend: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  /** a training step, or 'final' (default), or 'all' (every checkpoint: the axis of steps-to-target) */
  checkpoint: z.union([z.number().int().nonnegative(), z.enum(['final', 'all'])]).optional(),
  /** a sampler name (any of its settings), a full setting label (euler(guidance=1)), or a list of full labels */
  sampler: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  steps: z.number().int().positive().optional(),
  seed: z.number().int().optional(),
  ema: z.number().positive().optional(),
  shift: z.number().positive().optional(),
  guidance: z.number().optional(),
  dim: z.number().int().positive().optional(),
  objective: z.string().optional(),
});
export type ArmSelectorT = z.infer<typeof ArmSelector>;

export const CONTRAST_STATISTICS = ['difference', 'ratio', 'argmin', 'steps-to-target', 'auroc'] as const;

/**
 * One pre-registered contrast. `statistic` of `metric` on arm a (and b), against its reference value
 * (difference, steps-to-target: 0; ratio: 1; auroc: 0.5; argmin: `than`, or 0 for argmin(a) − argmin(b));
 * `predicts` says on which side of it the cited finding puts the statistic.
 */
export const Contrast = z.strictObject({
  /** a short name, shown in the report */
  name: z.string().min(1),
  /** a metric family (fid, bits_per_dim, sw2, auroc-raw, …) or a full metric name (fid@lenet-mnist) */
  metric: z.string().min(1),
  statistic: z.enum(CONTRAST_STATISTICS),
  a: ArmSelector,
  b: ArmSelector.optional(),
  /** argmin: the row field the minimum is taken over (guidance, shift, ema, steps, dim, …) */
  over: z.string().optional(),
  /** argmin without b: the value the argmin is compared with */
  than: z.number().optional(),
  /** steps-to-target: the metric value to reach (the first checkpoint at or below it, interpolated in steps) */
  target: z.number().optional(),
  predicts: z.enum(['above', 'below']),
  /** where the prediction comes from (figure, table) */
  source: z.string().optional(),
}).superRefine((c, ctx) => {
  const need = (ok: boolean, path: string, message: string) => { if (!ok) ctx.addIssue({ code: 'custom', path: [path], message }); };
  if (c.statistic === 'difference' || c.statistic === 'ratio') need(!!c.b, 'b', `a ${c.statistic} needs two arms, a and b`);
  if (c.statistic === 'argmin') { need(!!c.over, 'over', "argmin needs the field it runs over ('over: guidance')"); need(!!c.b || c.than !== undefined, 'than', 'argmin needs arm b or a value to compare with (than: 1)'); }
  if (c.statistic === 'steps-to-target') { need(c.target !== undefined, 'target', 'steps-to-target needs the metric value to reach (target: 30)'); need(!!c.b, 'b', 'steps-to-target compares two arms, a and b'); }
  if (c.statistic === 'auroc') need(!c.b, 'b', 'auroc is one arm against 0.5: drop b');
});
export type ContrastT = z.infer<typeof Contrast>;

const Eval = z.strictObject({
  /** generated samples per grid point */
  n: z.number().int().min(2).max(1_000_000).default(256),
  /** real test images for the reference statistics (default: the whole test split) */
  realN: z.number().int().positive().max(1_000_000).optional(),
  /** test images for bits/dim */
  nllN: z.number().int().positive().max(1_000_000).default(64),
  /** 'all' KL terms or K stratified timesteps */
  nllTerms: z.union([z.literal('all'), z.number().int().positive()]).default(50),
  kidSubsets: z.number().int().positive().max(100_000).default(100),
  kidSubsetSize: z.number().int().positive().max(1_000_000).default(1000),
  /** bootstrap resamples behind each FID interval and paired comparison */
  bootstrap: z.number().int().min(10).max(10_000).default(100),
  /**
   * under-training guard, quality bar: a model is compared only when the upper end of its best
   * final-checkpoint FID∞ interval is at most this share of the real features' total variance tr Σ
   */
  guardQuality: z.number().positive().default(0.25),
  /** under-training guard, loss bar: the 90% interval of the loss's relative change over the last fifth must lie inside ±this */
  guardMargin: z.number().positive().lt(1).default(0.05),
  /** deprecated (FID ÷ floor at n depended on n): replaced by guardQuality; accepted and ignored */
  guardFactor: z.number().min(1).optional(),
  /** samples per sampler call at a grid point (default: 2¹⁶ latent pixels per call, 256 at 16×16); every sample has its own noise stream, so it changes no sample */
  batchSize: z.number().int().positive().optional(),
  /** feature networks, each a feature space every quality metric is computed in: lenet, mlp (the dataset's own) or a TF.js model.json path; default both of difflab's */
  features: z.union([z.string(), z.array(z.string()).min(1)]).default(['lenet', 'mlp']),
  /** the out-of-distribution test set of the 'ood' metric (its test split, the model's resize and channels) */
  ood: z.strictObject({ name: z.enum(DATASET_NAMES), dir: z.string().optional() }).optional(),
});

export const Experiment = z.strictObject({
  name: z.string().regex(SAFE_NAME, SAFE_NAME_MESSAGE),
  description: z.string().optional(),
  seed: z.number().int().default(0),
  /** tfjs compute backend */
  compute: z.enum(BACKEND_NAMES).default('auto'),
  /** models to train (or reuse), by name; each is a training config (see configs/train) */
  models: z.record(z.string(), z.unknown()).default({}),
  /** the exact Gaussian-mixture backend: a mixture JSON (configs/gmm) */
  analytic: z.strictObject({ gmm: z.string() }).optional(),
  /**
   * a 2-D toy set embedded in D dimensions by a fixed random column-orthonormal map, with a small MLP
   * denoiser per dimension and objective (src/backends/embedded-toy.ts): the grid backend 'toy'
   */
  toy: z.strictObject({
    data: z.enum(TOY2D_NAMES).default('swiss-roll'),
    /** ambient dimensions D */
    dims: z.array(z.number().int().min(2).max(65_536)).min(1),
    objectives: z.array(z.enum(OBJECTIVE_NAMES)).min(1),
    /**
     * one loss weighting for every objective (on ‖D − x0‖², σ_data = 1); default: each objective's own.
     * edm with σ_data = 1 is the v-loss, 1 + SNR, that Back to Basics trains every prediction with
     */
    weighting: Weighting.optional(),
    hidden: z.number().int().positive().max(8192).default(256),
    /** dense layers, the output layer included */
    layers: z.number().int().min(2).max(32).default(5),
    /** training points drawn once from the toy set */
    trainPoints: z.number().int().positive().max(10_000_000).default(10_000),
    train: TrainBlock,
  }).optional(),
  grid: z.strictObject({
    /** model names from `models`, 'analytic' or 'toy' */
    backends: z.array(z.string()).min(1),
    /** a sampler name, or {name, ...its options, ...grid choices} (src/diffusion/samplers/index.ts) */
    samplers: z.array(z.union([z.string(), z.looseObject({ name: z.string() })])).default([]),
    steps: z.array(z.number().int().positive().max(100_000)).default([]),
    seeds: z.array(z.number().int()).min(1).default([0]),
    metrics: z.array(z.enum(GRID_METRICS)).min(1),
    /**
     * diffusion-stage training steps whose checkpoints are evaluated (each must be a saved checkpoint,
     * a multiple of checkpointEvery or the last step); empty: the final checkpoint only
     */
    checkpoints: z.array(z.number().int().positive()).default([]),
    /**
     * post-hoc EMA lengths σ_rel (EDM2) to evaluate each model's weights at, reconstructed from the
     * snapshots of train.posthocEma; empty: the classic EMA
     */
    ema: z.array(z.number().positive().lt(MAX_SIGMA_REL, `σ_rel must be below ${MAX_SIGMA_REL.toFixed(4)}`)).default([]),
  }).optional(),
  eval: Eval.default(Eval.parse({})),
  /** schedules to plot (the `schedules` chart) */
  schedules: z.strictObject({ names: z.array(z.enum(DISCRETE_SCHEDULES)).min(1), T: z.number().int().min(2).default(1000) }).optional(),
  charts: z.array(z.enum(CHART_NAMES)).optional(),
  /** add the claims table to the report */
  claims: z.boolean().default(false),
  /**
   * the published figure this experiment reproduces: stated in the report and every chart's subtitle,
   * next to what a recorded run here found
   */
  paper: z.strictObject({
    /** authors, year and title */
    cite: z.string().min(1),
    /** the figure or table mirrored, with its axes */
    figure: z.string().min(1),
    /** what the paper found (with its numbers where it prints them) */
    finding: z.string().min(1),
    /** what a recorded run here measured; written after running, see experiments/README.md */
    here: z.string().optional(),
    /** deprecated: verdicts are computed from `contrasts`; accepted and ignored */
    agreement: z.enum(['agrees', 'partly agrees', 'disagrees', 'not yet run']).optional(),
    /** the likely reason where the small-scale result differs */
    why: z.string().optional(),
  }).optional(),
  /**
   * pre-registered contrasts: what the cited paper predicts, as a statistic of this run's rows with a
   * predicted direction; the report computes each one's interval and verdict (src/plots/contrasts.ts)
   */
  contrasts: z.array(Contrast).default([]),
  /**
   * set by the loader, not written by hand: the grid backends that are training-seed replicas of a
   * model block with `seeds: [...]` (name.s<seed> → the block's name and seed)
   */
  replicas: z.record(z.string(), z.strictObject({ model: z.string(), trainSeed: z.number().int() })).default({}),
  /**
   * overrides for a short run of the same experiment (`difflab run EXP --quick`): merged into the
   * file as $ref overrides are; the run is named <name>-quick
   */
  quick: z.record(z.string(), z.unknown()).optional(),
}).superRefine((e, ctx) => {
  for (const k of Object.keys(e.models)) if (!SAFE_NAME.test(k)) ctx.addIssue({ code: 'custom', path: ['models', k], message: SAFE_NAME_MESSAGE });
  for (const [i, b] of (e.grid?.backends ?? []).entries()) {
    if (b === 'toy') {
      if (!e.toy) ctx.addIssue({ code: 'custom', path: ['grid', 'backends', i], message: "'toy' needs a toy block: { dims: [...], objectives: [...], train: { steps } }" });
    } else if (b === 'analytic') {
      if (!e.analytic) ctx.addIssue({ code: 'custom', path: ['grid', 'backends', i], message: "'analytic' needs an analytic block: { gmm: configs/gmm/<file>.json }" });
    } else if (!(b in e.models)) {
      ctx.addIssue({ code: 'custom', path: ['grid', 'backends', i], message: `unknown backend '${b}'; expected 'analytic', 'toy' or one of the models: ${Object.keys(e.models).join(', ') || '(none defined)'}` });
    }
  }
  const labels = (e.grid?.samplers ?? []).map((sm, i) => {
    try {
      return parseSamplerSetting(sm, 'sampler').label;
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['grid', 'samplers', i], message: (err as Error).message.replace(/^sampler(\.|: )?/, '') || 'invalid sampler' });
      return undefined;
    }
  });
  labels.forEach((l, i) => { if (l && labels.indexOf(l) !== i) ctx.addIssue({ code: 'custom', path: ['grid', 'samplers', i], message: `'${l}' is listed twice` }); });
  if (e.grid && e.grid.samplers.length && !e.grid.steps.length) ctx.addIssue({ code: 'custom', path: ['grid', 'steps'], message: 'a sampler grid needs at least one step count' });
  if (e.grid?.ema.length) {
    for (const [name, m] of Object.entries(e.models)) {
      const diffusion = isObject(m) ? (m as { diffusion?: { train?: { posthocEma?: unknown } } }).diffusion : undefined;
      if (e.grid.backends.includes(name) && isObject(m) && !diffusion?.train?.posthocEma) ctx.addIssue({ code: 'custom', path: ['models', name, 'diffusion', 'train', 'posthocEma'], message: 'grid.ema needs post-hoc EMA snapshots: add posthocEma: {} to the model\'s diffusion.train block' });
    }
  }
  if (e.grid?.metrics.includes('ood') && !e.eval.ood) ctx.addIssue({ code: 'custom', path: ['eval', 'ood'], message: "the 'ood' metric needs the other dataset: eval.ood: { name: mnist | fashion-mnist | ... }" });
  if (e.grid?.metrics.includes('recon') && !e.grid.metrics.includes('fid')) ctx.addIssue({ code: 'custom', path: ['grid', 'metrics'], message: "'recon' scores reconstructions on the FID features: add 'fid'" });
  if (e.grid?.checkpoints.length && e.grid.backends.every((b) => b === 'analytic' || b === 'toy')) ctx.addIssue({ code: 'custom', path: ['grid', 'checkpoints'], message: 'checkpoints apply to trained models; the analytic backend has none' });
  for (const [i, c] of e.contrasts.entries()) {
    for (const arm of ['a', 'b'] as const) {
      const b = c[arm]?.backend;
      const logical = new Set(Object.values(e.replicas).map((r) => r.model));
      for (const name of b === undefined ? [] : Array.isArray(b) ? b : [b]) {
        if (!(e.grid?.backends ?? []).includes(name) && !logical.has(name)) ctx.addIssue({ code: 'custom', path: ['contrasts', i, arm, 'backend'], message: `'${name}' is not in grid.backends (${(e.grid?.backends ?? []).join(', ') || 'none'})` });
      }
    }
  }
  // Counted before any point is made: a grid of 1e8 points would exhaust memory while being listed.
  const n = gridSizeBound(e);
  if (n > MAX_GRID_POINTS) ctx.addIssue({ code: 'custom', path: ['grid'], message: `up to ${n.toExponential(2)} points (backends × checkpoints × ema × seeds × samplers × steps); at most ${MAX_GRID_POINTS} per experiment: split it into several experiments` });
});

/** The most grid points one experiment may have. */
export const MAX_GRID_POINTS = 100_000;

/** An upper bound on an experiment's grid points, from the grid's lengths alone (no point is made). */
function gridSizeBound(e: { grid?: { backends: string[]; checkpoints: number[]; ema: number[]; seeds: number[]; samplers: unknown[]; steps: number[]; metrics: string[] }; toy?: { dims: number[]; objectives: string[] } }): number {
  const g = e.grid;
  if (!g) return 0;
  const settings = g.samplers.length * g.steps.length, seeds = g.seeds.length;
  // A trained model: per checkpoint × EMA × seed, bits/dim and each setting's sampling (and
  // memorization) points; per seed its reconstruction and OOD points.
  const perModel = Math.max(1, g.checkpoints.length) * Math.max(1, g.ema.length) * seeds * (settings * (g.metrics.includes('memorization') ? 2 : 1) + 1) + 2 * seeds;
  return g.backends.reduce((total, b) => total + (b === 'toy' ? (e.toy?.dims.length ?? 0) * (e.toy?.objectives.length ?? 0) * seeds * settings : b === 'analytic' ? seeds * settings : perModel), 0);
}

export type ExperimentT = z.infer<typeof Experiment>;
export type ResolvedModel = z.infer<typeof TrainConfig>;

export interface ResolvedExperiment extends Omit<ExperimentT, 'models'> {
  models: Record<string, ResolvedModel>;
  /** the file it came from */
  file: string;
}

/** Reads, composes and validates an experiment file; `quick`: with its quick block merged in. */
export function loadExperiment(file: string, o: { quick?: boolean } = {}): ResolvedExperiment {
  let raw = resolveRefs(readStructured(file, file, { excerpt: true }), file);
  if (o.quick) {
    if (!isObject(raw) || !isObject(raw.quick)) throw new ConfigError(`${file}: quick: --quick needs a quick block (overrides for a short run); this experiment has none`);
    const { quick, ...full } = raw;
    raw = { ...(deepMerge(full, quick) as Record<string, unknown>), name: `${String(full.name)}-quick` };
  }
  raw = expandSeeds(raw, file);
  const r = Experiment.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error.issues, file, [], Experiment as unknown as z.ZodType));
  if (r.data.paper?.agreement !== undefined) process.stderr.write(`note: ${file}: paper.agreement is deprecated and ignored: the report computes its verdicts from contrasts:\n`);
  if (r.data.eval.guardFactor !== undefined) process.stderr.write(`note: ${file}: eval.guardFactor is deprecated and ignored (FID ÷ floor at n depends on n): the guard reads FID∞ against eval.guardQuality\n`);
  const models: Record<string, ResolvedModel> = {};
  for (const [name, m] of Object.entries(r.data.models)) {
    const withName = isObject(m) ? { name: `${r.data.name}-${name}`, ...m } : m;
    const mr = TrainConfig.safeParse(withName);
    if (!mr.success) throw new ConfigError(formatIssues(mr.error.issues, file, ['models', name], TrainConfig as unknown as z.ZodType));
    models[name] = mr.data;
  }
  return { ...r.data, models, file };
}

/** The most training seeds one model block may list. */
export const MAX_TRAIN_SEEDS = 32;

/**
 * Training seeds as replicates: a model block with `seeds: [0, 1, 2]` becomes one model per seed,
 * `<name>.s<seed>` (its `seed` set, its name suffixed, so each trains once and is reused by config
 * hash), each in grid.backends where the block's name was; `replicas` records what each is a replica
 * of, for rows (model, train_seed) and contrasts (an arm naming the block takes every seed).
 */
function expandSeeds(raw: unknown, file: string): unknown {
  if (!isObject(raw) || !isObject(raw.models)) return raw;
  const models: Record<string, unknown> = {}, replicas: Record<string, { model: string; trainSeed: number }> = {}, expanded = new Map<string, string[]>();
  for (const [name, m] of Object.entries(raw.models)) {
    if (!isObject(m) || !('seeds' in m)) { models[name] = m; continue; }
    const { seeds, ...rest } = m;
    const ok = Array.isArray(seeds) && seeds.length >= 1 && seeds.length <= MAX_TRAIN_SEEDS && seeds.every((x) => Number.isInteger(x)) && new Set(seeds).size === seeds.length;
    if (!ok) throw new ConfigError(`${file}: models.${name}.seeds: expected 1 to ${MAX_TRAIN_SEEDS} distinct integers (training seeds, e.g. [0, 1, 2]), got ${JSON.stringify(seeds)}`);
    const names = (seeds as number[]).map((sd) => `${name}.s${sd}`);
    (seeds as number[]).forEach((sd, i) => {
      models[names[i]] = { ...rest, seed: sd, ...(typeof rest.name === 'string' ? { name: `${rest.name}-s${sd}` } : {}) };
      replicas[names[i]] = { model: name, trainSeed: sd };
    });
    expanded.set(name, names);
  }
  if (!expanded.size) return raw;
  const grid = isObject(raw.grid) && Array.isArray(raw.grid.backends) ? { ...raw.grid, backends: raw.grid.backends.flatMap((b) => expanded.get(String(b)) ?? [b]) } : raw.grid;
  return { ...raw, models, replicas, ...(grid !== undefined ? { grid } : {}) };
}

/** A stable hash of a JSON value (keys sorted), for run ids and checkpoint reuse. */
export function configHash(v: unknown): string {
  const canon = (x: unknown): unknown => (Array.isArray(x) ? x.map(canon) : isObject(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon(x[k])])) : x);
  return crypto.createHash('sha256').update(JSON.stringify(canon(v))).digest('hex').slice(0, 10);
}
