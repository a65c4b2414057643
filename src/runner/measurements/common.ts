// Small pieces several measurements share: file names of points, the grid's sampler labels, whether
// the grid lists a measurement's metrics, and sampling points' keys.
import path from 'node:path';
import { parseSamplerSetting } from '../../diffusion/sampling.js';
import type { ResolvedExperiment } from '../config.js';
import type { Slot } from './types.js';

/** A grid point key or sampler label as a file name: characters other than [\w.+=,()@-] become '_'. */
export const safeFileName = (s: string) => s.replace(/[^\w.+=,()@-]+/g, '_');

/** The grid's sampler settings as labels, in grid order. */
export const samplerLabels = (exp: ResolvedExperiment): string[] => (exp.grid?.samplers ?? []).map((x) => parseSamplerSetting(x).label);

/** True when the grid lists one of the measurement's metrics. */
export const wanted = (exp: ResolvedExperiment, m: { metrics: readonly string[] }): boolean => (exp.grid?.metrics ?? []).some((x) => m.metrics.includes(x));

/** The sampling point of a 'setting' slot, keyed `model|sampler|steps|seed`. */
export function samplingPoint<K extends 'sample' | 'analytic'>(backend: string, kind: K, slot: Extract<Slot, { scope: 'setting' }>) {
  return { key: `${slot.model}|${slot.sampler}|${slot.steps}|${slot.seed}`, kind, backend, checkpoint: slot.checkpoint, ema: slot.ema, sampler: slot.sampler, steps: slot.steps, seed: slot.seed };
}

/** A grid point's generated features in one feature space (features/<point>@<network>.npy). */
export function featureFile(dir: string, point: string, net: string): string {
  return path.join(dir, 'features', `${safeFileName(point)}@${safeFileName(net)}.npy`);
}
