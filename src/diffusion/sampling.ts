// The one sampling planner, used by `difflab sample`, the experiment runner and the metrics: a sampler
// setting (name, its own options, grid choices) + steps + the model → the σ grid and the initial noise
// scale; and the one function that draws samples from a backend with it.
import { z } from 'zod';
import type { DiffusionBackend, SamplingModel } from '../backends/types.js';
import { tf } from '../compute/backend.js';
import type { Rng } from '../util/rng.js';
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

/** A sampler with its options: what a grid point or a command line names. */
export interface SamplerSetting {
  name: string;
  /** the sampler's own options, defaults filled */
  options: Record<string, unknown>;
  grid: GridChoiceT;
  /** 'ddim', or 'ddim(eta=1)' when options or grid choices were given: metrics.jsonl's `sampler` */
  label: string;
}

const GRID_KEYS = Object.keys(GridChoice.shape);

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
  const own: Record<string, unknown> = {}, grid: Record<string, unknown> = {};
  const accepted = [...Object.keys(e.options.shape), ...GRID_KEYS];
  for (const [k, val] of Object.entries(rest)) {
    if (k in e.options.shape) own[k] = val;
    else if (GRID_KEYS.includes(k)) grid[k] = val;
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
  const given = Object.entries(rest).filter(([, val]) => val !== undefined);
  const label = given.length ? `${name}(${given.map(([k, val]) => `${k}=${val}`).join(',')})` : name;
  return { name, options: po.data as Record<string, unknown>, grid: pg.data, label };
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
  /** fresh noise of stochastic samplers */
  rng: Rng;
  /** clip x̂0 as the backend asks (pixels: to [−1, 1]); false turns it off */
  clip?: boolean;
  /** clip x̂0 to this range instead */
  clipDenoised?: [number, number];
}

export interface SampleOutput {
  /** samples in the diffusion space ([n, ...latentShape]) */
  x: tf.Tensor;
  nfe: number;
  seconds: number;
  plan: SamplingPlan;
}

/** Runs the planned sampler on a backend's denoiser from the given noise. The caller disposes x. */
export function sampleLatents(b: DiffusionBackend, req: SampleRequest): SampleOutput {
  const plan = planSampling(b.sampling, req.setting, req.steps);
  const size = b.latentShape.reduce((p, q) => p * q, 1);
  const n = req.z.length / size;
  if (!Number.isInteger(n) || n < 1) throw new Error(`initial noise: ${req.z.length} numbers is not a whole number of samples of [${b.latentShape.join(', ')}]`);
  const xT = tf.tensor(req.z.map((v) => v * plan.initScale), [n, ...b.latentShape]);
  const t0 = performance.now();
  const clipDenoised = req.clipDenoised ?? (req.clip === false ? undefined : b.clipDenoised);
  const r = plan.entry.sampler(b.denoiser, xT, { ...plan.samplerOptions, sigmas: plan.sigmas, rng: req.rng, clipDenoised });
  const seconds = (performance.now() - t0) / 1000;
  if (r.x !== xT) xT.dispose();
  return { x: r.x, nfe: r.nfe, seconds, plan };
}

/**
 * Draws n images from a trained backend: z (unless given) from a fork of `rng`, sampler noise from
 * `rng` itself (callers pass new Rng(seed)); decoded and clipped to the data range [−1, 1].
 */
export function sampleImages(b: DiffusionBackend, opts: { setting: SamplerSetting; steps: number; n: number; seed: number; clip?: boolean; clipDenoised?: [number, number]; z?: Float32Array; rng: Rng }): { images: tf.Tensor4D; nfe: number; seconds: number; plan: SamplingPlan } {
  const size = b.latentShape.reduce((p, q) => p * q, 1);
  const z = opts.z ?? opts.rng.fork().normals(opts.n * size);
  const t0 = performance.now();
  const r = sampleLatents(b, { setting: opts.setting, steps: opts.steps, z, rng: opts.rng, clip: opts.clip, clipDenoised: opts.clipDenoised });
  const images = tf.tidy(() => tf.clipByValue(b.decode(r.x), -1, 1)) as tf.Tensor4D;
  r.x.dispose();
  return { images, nfe: r.nfe, seconds: (performance.now() - t0) / 1000, plan: r.plan };
}
