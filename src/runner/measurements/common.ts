// Small pieces several measurements share: file names of points, the grid's sampler labels, and
// whether a grid asks for samples at all.
import { parseSamplerSetting } from '../../diffusion/sampling.js';
import type { ResolvedExperiment } from '../config.js';
import type { Slot } from './types.js';

/** A grid point key or sampler label as a file name: characters other than [\w.+=,()@-] become '_'. */
export const safeFileName = (s: string) => s.replace(/[^\w.+=,()@-]+/g, '_');

/** The grid's sampler settings as labels, in grid order. */
export const samplerLabels = (exp: ResolvedExperiment): string[] => (exp.grid?.samplers ?? []).map((x) => parseSamplerSetting(x).label);

/** Metrics that need no samples: per-model likelihoods, reconstructions, out-of-distribution scores. */
const NO_SAMPLES = ['nll', 'nll-ode', 'recon', 'ood'];

/** True when a grid metric needs generated samples (FID, KID, cost, the mixture's errors, …). */
export const samplesWanted = (exp: ResolvedExperiment): boolean => (exp.grid?.metrics ?? []).some((m) => !NO_SAMPLES.includes(m));

/** The sampling point of a 'setting' slot, keyed `model|sampler|steps|seed`. */
export function samplingPoint<K extends 'sample' | 'analytic'>(backend: string, kind: K, slot: Extract<Slot, { scope: 'setting' }>) {
  return { key: `${slot.model}|${slot.sampler}|${slot.steps}|${slot.seed}`, kind, backend, checkpoint: slot.checkpoint, ema: slot.ema, sampler: slot.sampler, steps: slot.steps, seed: slot.seed };
}
