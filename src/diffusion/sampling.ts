// The one sampling planner, used by `difflab sample`, the experiment runner and the metrics: a sampler
// setting (name, its own options, grid choices) + steps + the model → the σ grid and the initial noise
// scale; and the one function that draws samples from a backend with it.
import { z } from 'zod';
import type { DiffusionBackend, SamplingModel } from './model.js';
import { tf } from '../compute/backend.js';
import { SampleStreams, type NormalSource } from '../util/rng.js';
import { guidedDenoiser, type GuidanceSpec } from './guidance.js';
import { getSampler, SAMPLER_NAMES, samplingSigmas, type SamplerEntry, type SamplerOptions } from './samplers/index.js';
import { DEFAULT_SPACING, TIMESTEP_SPACINGS, type TimestepSpacing } from './schedules.js';

export { DEFAULT_SPACING };

export const GRID_KINDS = ['discrete', 'uniform-t', 'karras', 'exponential'] as const;
export type GridKind = (typeof GRID_KINDS)[number];

/** Grid choices any sampler takes; unset ones come from the model (see planSampling). */
export const GridChoice = z.strictObject({
  grid: z.enum(GRID_KINDS).optional(),
  spacing: z.enum(TIMESTEP_SPACINGS).optional(),
  sigmaMin: z.number().positive().optional(),
  sigmaMax: z.number().positive().optional(),
  rho: z.number().positive().optional(),
  /** σ → shift·σ on every grid point (SD3's α; default: the model's training shift) */
  shift: z.number().positive().optional(),
});
export type GridChoiceT = z.infer<typeof GridChoice>;

/** Classifier-free guidance of a class-conditional model, in a setting: scale w and σ interval. */
export const GuidanceChoice = z.strictObject({
  guidance: z.number().min(0).optional(),
  guidanceInterval: z.tuple([z.number().min(0), z.number().positive()]).refine(([lo, hi]) => lo <= hi, 'expected [lo, hi] with lo ≤ hi').optional(),
});

/** A sampler with its options: what a grid point or a command line names. */
export interface SamplerSetting {
  name: string;
  /** the sampler's own options, defaults filled */
  options: Record<string, unknown>;
  grid: GridChoiceT;
  /** classifier-free guidance (class-conditional models; w = 1 when absent) */
  guidance?: GuidanceSpec;
  /** 'ddim', or 'ddim(eta=1)' when options or grid choices were given: metrics.jsonl's `sampler` */
  label: string;
}

const GRID_KEYS = Object.keys(GridChoice.shape), GUIDANCE_KEYS = Object.keys(GuidanceChoice.shape);

/**
 * Reads `ddim` or `{name: ddim, eta: 1, spacing: leading}`; errors name `where` and the accepted keys.
 * The label lists the given options in the given order, so it is stable across runs.
 */
export function parseSamplerSetting(v: unknown, where = 'sampler'): SamplerSetting {
  const obj = typeof v === 'string' ? { name: v } : v;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || typeof (obj as { name?: unknown }).name !== 'string') {
    throw new Error(`${where}: expected a sampler name or an object {name, ...options}; names: ${SAMPLER_NAMES.join(', ')}`);
  }
  const { name, ...rest } = obj as Record<string, unknown> & { name: string };
  if (!SAMPLER_NAMES.includes(name)) throw new Error(`${where}.name: unknown sampler '${name}'; expected one of ${SAMPLER_NAMES.join(', ')}`);
  const e = getSampler(name);
  const own: Record<string, unknown> = {}, grid: Record<string, unknown> = {}, guide: Record<string, unknown> = {};
  const accepted = [...Object.keys(e.options.shape), ...GRID_KEYS, ...GUIDANCE_KEYS];
  for (const [k, val] of Object.entries(rest)) {
    if (k in e.options.shape) own[k] = val;
    else if (GRID_KEYS.includes(k)) grid[k] = val;
    else if (GUIDANCE_KEYS.includes(k)) guide[k] = val;
    else throw new Error(`${where}: unknown option '${k}' for ${name}; accepted: ${accepted.join(', ')}`);
  }
  const fail = (r: { error: z.ZodError }) => {
    const i = r.error.issues[0];
    return new Error(`${where}.${i.path.join('.')}: ${i.message}`);
  };
  const po = e.options.safeParse(own);
  if (!po.success) throw fail(po);
  const pg = GridChoice.safeParse(grid);
  if (!pg.success) throw fail(pg);
  const pu = GuidanceChoice.safeParse(guide);
  if (!pu.success) throw fail(pu);
  if (pu.data.guidanceInterval && pu.data.guidance === undefined) throw new Error(`${where}.guidanceInterval: needs a guidance scale beside it`);
  const guidance = pu.data.guidance === undefined ? undefined : { scale: pu.data.guidance, interval: pu.data.guidanceInterval };
  const given = Object.entries(rest).filter(([, val]) => val !== undefined);
  const show = (v: unknown) => (Array.isArray(v) ? `[${v.join(';')}]` : String(v));
  const label = given.length ? `${name}(${given.map(([k, val]) => `${k}=${show(val)}`).join(',')})` : name;
  return { name, options: po.data as Record<string, unknown>, grid: pg.data, guidance, label };
}

export function isStochastic(s: SamplerSetting): boolean {
  const st = getSampler(s.name).stochastic;
  return typeof st === 'function' ? st(s.options) : st;
}

export interface SamplingPlan {
  sigmas: Float64Array;
  /** x at the first step is initScale·z for standard-normal z */
  initScale: number;
  grid: GridKind;
  spacing?: TimestepSpacing;
  shift: number;
  entry: SamplerEntry;
  /** the sampler function's options (without sigmas, rng and clipping) */
  samplerOptions: Partial<SamplerOptions>;
  describe: string;
}

/**
 * σs and the initial scale for `steps` steps of a sampler on a model:
 *  - grid: the setting's, else the model's native grid for ddpm/ddim/plms (discrete timesteps of its
 *    schedule, or uniform in t for flow models) and Karras (ρ = 7) for the others;
 *  - discrete: the schedule's timesteps by `spacing` (default trailing); uniform-t: t = t_max·(1 − i/N)
 *    through the model's time map; karras/exponential: over [sigmaMin, sigmaMax], default the model's
 *    trained σ range;
 *  - shift: every σ is multiplied by it (default: the model's training shift; 1 without one);
 *  - start: x = σ_0·z on Karras/exponential grids (k-diffusion), and on native grids the model's prior
 *    scale, x = √(1+σ_0²)·z for VP models (x_T = z, as diffusers) and (1+σ_0)·z for flow (x_1 = z).
 */
export function planSampling(model: SamplingModel, setting: SamplerSetting, steps: number): SamplingPlan {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps: expected an integer ≥ 1, got ${steps}`);
  const entry = getSampler(setting.name), g = setting.grid;
  const grid: GridKind = g.grid ?? (entry.grid === 'native' ? model.nativeGrid : 'karras');
  const sigmaMin = g.sigmaMin ?? model.sigmaRange[0], sigmaMax = g.sigmaMax ?? model.sigmaRange[1];
  if (!(sigmaMin < sigmaMax)) throw new Error(`sigmaMin: expected below sigmaMax (${sigmaMax}), got ${sigmaMin}`);
  let sigmas: Float64Array, spacing: TimestepSpacing | undefined;
  if (grid === 'discrete') {
    if (!model.schedule) throw new Error(`grid: 'discrete' needs a discrete schedule and the ${model.objective} model has none; use uniform-t, karras or exponential`);
    spacing = g.spacing ?? DEFAULT_SPACING;
    sigmas = samplingSigmas({ kind: 'discrete', steps, schedule: model.schedule, spacing });
  } else if (grid === 'uniform-t') {
    const tMax = model.timeMap.t(sigmaMax);
    sigmas = new Float64Array(steps + 1);
    for (let i = 0; i < steps; i++) sigmas[i] = model.timeMap.sigma(tMax * (1 - i / steps));
  } else {
    sigmas = samplingSigmas({ kind: grid, steps, sigmaMin, sigmaMax, rho: g.rho });
  }
  const shift = g.shift ?? model.shift;
  if (shift !== 1) for (let i = 0; i < steps; i++) sigmas[i] *= shift;
  const initScale = grid === 'discrete' || grid === 'uniform-t' ? model.priorScale(sigmas[0]) : sigmas[0];
  const samplerOptions = { ...entry.preset, ...(entry.toOptions?.(setting.options) ?? {}) };
  const describe = `${steps} steps on a ${grid} grid${spacing ? ` (${spacing} spacing)` : ''}, σ ${+sigmas[0].toPrecision(4)} → ${+sigmas[steps - 1].toPrecision(4)} → 0${shift !== 1 ? `, shift ×${shift}` : ''}`;
  return { sigmas, initScale, grid, spacing, shift, entry, samplerOptions, describe };
}

export interface SampleRequest {
  setting: SamplerSetting;
  steps: number;
  /** standard-normal initial noise, n × the backend's latent size */
  z: Float32Array;
  /** fresh noise of stochastic samplers (an Rng, or one stream per sample) */
  rng: NormalSource;
  /** class labels, one per sample, for a class-conditional backend (guided by the setting's guidance) */
  labels?: Int32Array;
  /** clip x̂0 as the backend asks (pixels: to [−1, 1]); false turns it off */
  clip?: boolean;
  /** clip x̂0 to this range instead */
  clipDenoised?: [number, number];
}

export interface SampleOutput {
  /** samples in the diffusion space ([n, ...latentShape]) */
  x: tf.Tensor;
  /** network evaluations per sample: a guided step counts 2 */
  nfe: number;
  seconds: number;
  plan: SamplingPlan;
}

/**
 * Runs the planned sampler on a backend's denoiser from the given noise; with labels, through
 * classifier-free guidance (the setting's scale and interval; w = 1, plain conditional, without
 * one). The caller disposes x.
 */
export function sampleLatents(b: DiffusionBackend, req: SampleRequest): SampleOutput {
  const plan = planSampling(b.sampling, req.setting, req.steps);
  const size = b.latentShape.reduce((p, q) => p * q, 1);
  const n = req.z.length / size;
  if (!Number.isInteger(n) || n < 1) throw new Error(`initial noise: ${req.z.length} numbers is not a whole number of samples of [${b.latentShape.join(', ')}]`);
  const classes = b.sampling.classes;
  if (req.labels && classes === undefined) throw new Error(`class labels: the ${b.name} model is unconditional (train it with diffusion.conditioning to sample by class)`);
  if (req.setting.guidance && !req.labels) {
    throw new Error(classes === undefined ? `guidance: the ${b.name} model is unconditional; classifier-free guidance needs a class-conditional model` : 'guidance: needs class labels (--class)');
  }
  const guided = req.labels ? guidedDenoiser(b.denoiser, req.labels, classes!, req.setting.guidance ?? { scale: 1 }) : undefined;
  const xT = tf.tensor(req.z.map((v) => v * plan.initScale), [n, ...b.latentShape]);
  const t0 = performance.now();
  const clipDenoised = req.clipDenoised ?? (req.clip === false ? undefined : b.clipDenoised);
  const r = plan.entry.sampler(guided?.D ?? b.denoiser, xT, { ...plan.samplerOptions, sigmas: plan.sigmas, rng: req.rng, clipDenoised });
  const seconds = (performance.now() - t0) / 1000;
  if (r.x !== xT) xT.dispose();
  return { x: r.x, nfe: guided ? guided.evaluations() : r.nfe, seconds, plan };
}

/** Class-balanced labels of samples first…first+n−1: sample i is class i mod classes. */
export function balancedLabels(first: number, n: number, classes: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (first + i) % classes);
}

export interface ImageRequest {
  setting: SamplerSetting;
  steps: number;
  n: number;
  seed: number;
  /** index of the first sample (a shard's offset); sample i's noise comes from (seed, i) only */
  first?: number;
  /** samples per sampler call (default: defaultBatchSize); does not change any sample */
  batchSize?: number;
  /** one class per sample; class-conditional models default to balanced labels (i mod classes) */
  labels?: Int32Array;
  clip?: boolean;
  clipDenoised?: [number, number];
  /** initial noise to use instead of each sample's stream (n × latent size) */
  z?: Float32Array;
  /** called after each batch with the samples drawn so far (progress for long draws) */
  onBatch?: (done: number, total: number) => void;
}

/**
 * Samples per sampler call when none is given: 2¹⁶ latent pixels' worth (256 at 16×16, 64 at 32×32),
 * so that a guided call (twice the batch) stays well inside the wasm backend's memory — a forward
 * pass of the 16×16 pixel UNet on 1000 images aborts there. The batch size changes no sample.
 */
export function defaultBatchSize(latentShape: number[]): number {
  const pixels = latentShape.length >= 2 ? latentShape[0] * latentShape[1] : 1;
  return Math.max(1, Math.floor(65536 / pixels));
}

/** The compute backend's own out-of-memory failures, reworded to say what to change. */
function explainOutOfMemory(e: unknown, batch: number): unknown {
  const m = (e as Error)?.message ?? '';
  if (!/Aborted\(|out of memory|table index is out of bounds|Cannot enlarge memory/i.test(m)) return e;
  return new Error(`the compute backend ran out of memory sampling ${batch} at once (${m.split('.')[0]}): use a smaller batch (--batch, eval.batchSize); it changes no sample`);
}

/**
 * Draws n images from a trained backend, decoded and clipped to the data range [−1, 1]. Sample i's
 * initial noise and every later sampler noise come from its own stream Rng(seed, first + i), so an
 * image is the same whatever the batch size, job count, shard or resume (adaptive probability-flow
 * steps are the exception: their step sizes are chosen for the batch as a whole).
 */
export function sampleImages(b: DiffusionBackend, opts: ImageRequest): { images: tf.Tensor4D; labels?: Int32Array; nfe: number; seconds: number; plan: SamplingPlan } {
  const size = b.latentShape.reduce((p, q) => p * q, 1);
  const first = opts.first ?? 0, batch = opts.batchSize ?? Math.min(opts.n, defaultBatchSize(b.latentShape));
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch size: expected an integer ≥ 1, got ${batch}`);
  if (opts.z && opts.z.length !== opts.n * size) throw new Error(`initial noise: expected ${opts.n * size} numbers, got ${opts.z.length}`);
  const classes = b.sampling.classes;
  const labels = opts.labels ?? (classes !== undefined ? balancedLabels(first, opts.n, classes) : undefined);
  if (labels && labels.length !== opts.n) throw new Error(`class labels: expected ${opts.n}, got ${labels.length}`);
  const t0 = performance.now();
  const parts: tf.Tensor[] = [];
  let evaluations = 0, plan: SamplingPlan | undefined;
  try {
    for (let start = 0; start < opts.n; start += batch) {
      const count = Math.min(batch, opts.n - start);
      const streams = new SampleStreams(opts.seed, first + start, count);
      const z = opts.z ? opts.z.subarray(start * size, (start + count) * size) : streams.normals(count * size);
      let r: SampleOutput;
      try {
        r = sampleLatents(b, { setting: opts.setting, steps: opts.steps, z, rng: streams, labels: labels?.subarray(start, start + count), clip: opts.clip, clipDenoised: opts.clipDenoised });
      } catch (e) {
        throw explainOutOfMemory(e, count);
      }
      parts.push(tf.tidy(() => tf.clipByValue(b.decode(r.x), -1, 1)));
      r.x.dispose();
      evaluations += r.nfe * count;
      plan = r.plan;
      opts.onBatch?.(start + count, opts.n);
    }
    const images = (parts.length === 1 ? parts[0].clone() : tf.concat(parts, 0)) as tf.Tensor4D;
    return { images, labels, nfe: evaluations / opts.n, seconds: (performance.now() - t0) / 1000, plan: plan! };
  } finally {
    tf.dispose(parts);
  }
}
