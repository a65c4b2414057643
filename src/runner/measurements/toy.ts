// The embedded toy: a 2-D data set embedded in D dimensions by a fixed random orthonormal map, one MLP
// denoiser per dimension, objective and seed (trained by the first of its points), sampled and
// scored in the data plane (SW₂, distance to the nearest data point, distance off the plane).
import fs from 'node:fs';
import path from 'node:path';
import { embeddedToyDir, EmbeddedToyModel, evaluateEmbeddedToy, type EmbeddedToySpec } from '../../backends/embedded-toy.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { qualityVsDimension, toySampleScatter, type ToySamples } from '../../plots/charts/toy.js';
import { readNpy, writeNpy } from '../../util/npy.js';
import { configHash } from '../config.js';
import { safeFileName, samplerLabels } from './common.js';
import type { Measurement } from './types.js';

/** The first 500 plane samples of every toy point that kept them (toy-samples/<point>.npy). */
function toySamples(dir: string, rows: ResultRow[]): ToySamples[] {
  const out: ToySamples[] = [];
  for (const r of rows.filter((x) => x.metric === 'sw2' && x.dim != null)) {
    const f = path.join(dir, 'toy-samples', `${safeFileName(r.point)}.npy`);
    if (!fs.existsSync(f)) continue;
    const a = readNpy(f);
    out.push({ objective: r.objective!, dim: r.dim!, setting: `${r.sampler} ${r.steps} steps`, points: Array.from(a.data.subarray(0, 2 * Math.min(500, a.shape[0]))) });
  }
  return out;
}

export const embeddedToy: Measurement = {
  kind: 'toy',
  // The 'toy' grid backend's points, whatever the metrics: the toy scores itself in its data plane.
  metrics: [],
  points(exp, backend, slot) {
    if (slot.scope !== 'backend' || backend !== 'toy') return [];
    const g = exp.grid!;
    return exp.toy!.dims.flatMap((dim) => exp.toy!.objectives.flatMap((objective) => g.seeds.flatMap((seed) => samplerLabels(exp).flatMap((sampler) => g.steps.map((steps) => (
      { key: `toy:${objective}:D${dim}|${sampler}|${steps}|${seed}`, kind: 'toy' as const, backend, checkpoint: null, ema: null, sampler, steps, seed, dim, objective }))))));
  },
  describe: (p) => `${p.objective} D=${p.dim} ${p.sampler} ${p.steps} steps`,
  // The first point of a toy model trains it: all its points go to one shard.
  shardUnit: (p) => `toy:${p.objective}:${p.dim}:${p.seed}`,
  evaluate(p, ctx, base) {
    const { exp, dir, root } = ctx;
    const rows: ResultRow[] = [];
    const t = exp.toy!;
    const weighting = t.weighting === undefined ? undefined : typeof t.weighting === 'string' ? { name: t.weighting } : t.weighting;
    const spec: EmbeddedToySpec = { data: t.data, dim: p.dim!, objective: p.objective!, hidden: t.hidden, layers: t.layers, trainPoints: t.trainPoints, train: t.train, seed: p.seed, ...(weighting ? { weighting } : {}) };
    const model = new EmbeddedToyModel(spec);
    try {
      // Trained in the grid stage (once per dimension, objective and seed; a finished one is reused).
      const fit = model.fit(embeddedToyDir(path.join(root, exp.name, 'toy'), configHash(spec), spec));
      const r = evaluateEmbeddedToy(model, { setting: ctx.settings.get(p.sampler!)!, steps: p.steps!, n: exp.eval.n, seed: p.seed, bootstrap: exp.eval.bootstrap });
      const trainGflop = (3 * model.net.flops() * t.train.batchSize * fit.steps) / 1e9;
      const toyBase = { ...base, dim: p.dim, objective: p.objective, nfe: r.nfe, seconds: r.seconds / r.n, gflop: (model.net.flops() * r.nfe) / 1e9, n: r.n, train_step: fit.steps, train_gflop: trainGflop };
      rows.push({ ...toyBase, metric: 'sw2', value: r.sw2, std: null, ci_low: r.low, ci_high: r.high, unit: 'sliced W2 in the data plane (unit-variance coordinates)' });
      rows.push({ ...toyBase, metric: 'sw2-floor', value: r.floor, std: null });
      rows.push({ ...toyBase, metric: 'off-plane-rms', value: r.offPlaneRms, std: null, unit: 'RMS distance from the data plane' });
      rows.push({ ...toyBase, metric: 'nn-distance', value: r.nnDistance.value, std: null, ci_low: r.nnDistance.low, ci_high: r.nnDistance.high, unit: 'mean distance in the plane to the nearest of 10,000 fresh data points' });
      rows.push({ ...toyBase, metric: 'nn-distance-floor', value: r.nnDistance.floor, std: null });
      // The samples in the plane, for the report's scatter per dimension and objective.
      writeNpy(path.join(dir, 'toy-samples', `${safeFileName(p.key)}.npy`), Float32Array.from(r.plane), [r.n, 2]);
    } finally {
      model.dispose();
    }
    return rows;
  },
  charts: [{ name: 'quality-vs-dimension', byDefault: false, draw: (c) => [...qualityVsDimension(c.rows), ...toySampleScatter(toySamples(c.dir, c.rows))] }],
};
