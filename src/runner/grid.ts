// The grid: every point an experiment evaluates, in a fixed order, as each measurement contributes
// them (src/runner/measurements), and a shard's share of them.
import type { ResolvedExperiment } from './config.js';
import { MEASUREMENTS, measurementOf } from './measurements/index.js';
import { modelBackends } from './models.js';
import type { GridPoint } from './measurements/types.js';

export type { GridPoint };
export { safeFileName } from './measurements/common.js';
import { samplerLabels } from './measurements/common.js';

export interface Shard { index: number; count: number }

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new Error(`--shard: expected i/n with 0 ≤ i < n (e.g. 0/4), got '${s}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}


/**
 * A shard's points: every n-th point of the grid taken kind by kind (bits/dim, sampling, …), so that
 * each shard gets its share of every kind of work (in grid order a model's bits/dim point and its
 * sampling points alternate, and every n-th point would give one shard all the bits/dim points); the
 * points of one unit (a measurement's shardUnit: e.g. one toy model, which its first point trains)
 * count as one.
 */
export function shardPoints(points: GridPoint[], shard: Shard): GridPoint[] {
  const unit = (p: GridPoint) => measurementOf(p.kind).shardUnit?.(p) ?? p.key;
  const kinds = [...new Set(points.map((p) => p.kind))];
  const units = kinds.flatMap((k) => [...new Set(points.filter((p) => p.kind === k).map(unit))]);
  const mine = new Set(units.filter((_, i) => i % shard.count === shard.index));
  return points.filter((p) => mine.has(unit(p)));
}

/**
 * Every grid point, in a fixed order: per entry of grid.backends, first the points each measurement
 * takes once per backend; then per checkpoint × EMA length × seed the points each takes once there,
 * followed by those it takes per sampler setting × step count (measurements in MEASUREMENTS' order
 * at each slot). Checkpoints and EMA lengths apply to trained models only.
 */
export function gridPoints(exp: ResolvedExperiment): GridPoint[] {
  const g = exp.grid;
  if (!g) return [];
  const out: Omit<GridPoint, 'index'>[] = [];
  const models = modelBackends(exp);
  for (const backend of g.backends) {
    for (const m of MEASUREMENTS) out.push(...m.points(exp, backend, { scope: 'backend' }));
    const trainedModel = models.includes(backend);
    const ckpts: (number | null)[] = trainedModel && g.checkpoints.length ? g.checkpoints : [null];
    const emas: (number | null)[] = trainedModel && g.ema.length ? g.ema : [null];
    for (const checkpoint of ckpts) for (const ema of emas) {
      const model = `${backend}${checkpoint === null ? '' : `@${checkpoint}`}${ema === null ? '' : `~ema:${ema}`}`;
      for (const seed of g.seeds) {
        const at = { checkpoint, ema, seed, model };
        for (const m of MEASUREMENTS) out.push(...m.points(exp, backend, { scope: 'checkpoint', ...at }));
        for (const sampler of samplerLabels(exp)) for (const steps of g.steps) {
          for (const m of MEASUREMENTS) out.push(...m.points(exp, backend, { scope: 'setting', ...at, sampler, steps }));
        }
      }
    }
  }
  return out.map((p, index) => ({ ...p, index }));
}
