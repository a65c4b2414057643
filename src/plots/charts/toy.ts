// The embedded toy's charts: quality against the ambient dimension and the samples in the data plane.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, heading, backendColors } from '../vocabulary.js';

/**
 * The embedded toy (src/backends/embedded-toy.ts): sample quality against the ambient dimension D (log
 * axis), one line per objective; SW₂ with its 95% bootstrap interval and the floor (two fresh data
 * sets of the same size), and the samples' distance from the data plane beside it.
 */
export function qualityVsDimension(rows: ResultRow[]): Chart[] {
  const metrics = [
    { metric: 'sw2', name: 'sw2', title: 'SW₂ in the data plane', axis: 'sliced W₂ to fresh data (log scale)', floorNote: 'two fresh data sets' },
    { metric: 'nn-distance', name: 'nn', title: 'distance to the nearest data point', axis: 'mean distance to the nearest data point (log scale)', floorNote: 'fresh data points' },
  ];
  const out: Chart[] = [];
  const color = (values: object[]) => ({ field: 'objective', type: 'nominal', title: 'objective', scale: backendColors(values, 'objective') });
  const xOf = (values: { dim: number | null | undefined }[]) => ({ field: 'dim', type: 'quantitative', title: 'ambient dimension D (log scale)', scale: { type: 'log', base: 2, nice: false, padding: 12 }, axis: { values: [...new Set(values.map((v) => v.dim))] } });
  for (const m of metrics) {
    const sel = rows.filter((r) => r.metric === m.metric && r.dim != null);
    if (!sel.length) continue;
    const values = sel.map((r) => ({ objective: r.objective, setting: `${r.sampler} ${r.steps} steps`, dim: r.dim, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value }));
    const floorRows = rows.filter((r) => r.metric === `${m.metric}-floor`);
    const floor = floorRows.length ? floorRows.reduce((a, r) => a + r.value, 0) / floorRows.length : undefined;
    const n = sel[0].n, x = xOf(values), y = { type: 'quantitative', title: m.axis, scale: { type: 'log', nice: false } };
    out.push({
      name: `quality-vs-dimension-${m.name}`,
      title: `${m.title} vs ambient dimension`,
      spec: {
        $schema: SCHEMA,
        title: heading(`Sample quality vs ambient dimension (${m.title})`, `a 2-D toy set embedded in D dimensions by a fixed random orthonormal map, one MLP denoiser per D and objective; samples mapped back to the plane; lower is better; bars: 95% interval; dashed: floor (${m.floorNote}, n = ${n})`),
        width: WIDTH, height: HEIGHT,
        layer: [
          { data: { values }, mark: { type: 'line', point: true }, encoding: { x, y: { field: 'value', ...y }, color: color(values), tooltip: [{ field: 'objective' }, { field: 'dim', type: 'quantitative' }, { field: 'setting' }, { field: 'value', type: 'quantitative', format: '.4g' }] } },
          { data: { values }, mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'ci_low', ...y }, y2: { field: 'ci_high' }, color: color(values) } },
          ...(floor !== undefined ? [
            { data: { values: [{ floor }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { y: { field: 'floor', type: 'quantitative' } } },
            { data: { values: [{ floor, text: `floor ${floor.toPrecision(3)} (n = ${n})` }] }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10, color: '#333' }, encoding: { x: { value: 0 }, y: { field: 'floor', type: 'quantitative' }, text: { field: 'text' } } },
          ] : []),
        ],
      } as TopLevelSpec,
    });
  }
  const off = rows.filter((r) => r.metric === 'off-plane-rms' && r.dim != null).map((r) => ({ objective: r.objective, dim: r.dim, value: r.value }));
  if (off.length) {
    out.push({
      name: 'quality-vs-dimension-off-plane',
      title: 'distance from the data plane vs ambient dimension',
      spec: {
        $schema: SCHEMA,
        title: heading('Distance of the samples from the data plane', 'RMS over samples of ‖x − PPᵀx‖ (the data lie exactly on the plane: floor 0); lower is better'),
        width: WIDTH, height: HEIGHT,
        data: { values: off },
        mark: { type: 'line', point: true },
        encoding: { x: xOf(off), y: { field: 'value', type: 'quantitative', title: 'RMS distance from the plane' }, color: color(off), tooltip: [{ field: 'objective' }, { field: 'dim', type: 'quantitative' }, { field: 'value', type: 'quantitative', format: '.4g' }] },
      } as TopLevelSpec,
    });
  }
  return out;
}

export interface ToySamples { objective: string; dim: number; setting: string; points: number[] }

/**
 * Generated toy samples mapped back to the data plane, one panel per objective (rows) and ambient
 * dimension (columns): the paper's figure of samples as D grows. Points outside ±3 (unit-variance
 * coordinates; the data reach about ±2) are drawn on the border.
 */
export function toySampleScatter(sets: ToySamples[]): Chart[] {
  if (!sets.length) return [];
  const lim = 3, clamp = (v: number) => Math.max(-lim, Math.min(lim, v));
  const values = sets.flatMap((s) => Array.from({ length: s.points.length / 2 }, (_, i) => ({ objective: s.objective, D: s.dim, u: clamp(s.points[2 * i]), v: clamp(s.points[2 * i + 1]) })));
  const dims = [...new Set(sets.map((s) => s.dim))].sort((a, b) => a - b);
  return [{
    name: 'toy-samples',
    title: 'generated toy samples per ambient dimension',
    spec: {
      $schema: SCHEMA,
      title: heading('Generated samples in the data plane, per objective and ambient dimension D', `the first 500 samples of each model (${sets[0].setting}), mapped back by Pᵀ; axes clipped to ±3 (the data span about ±2)`),
      data: { values },
      facet: { row: { field: 'objective', type: 'nominal', title: 'objective' }, column: { field: 'D', type: 'ordinal', title: 'ambient dimension D', sort: dims } },
      spec: {
        width: 110, height: 110,
        mark: { type: 'circle', size: 4, opacity: 0.5 },
        encoding: {
          x: { field: 'u', type: 'quantitative', scale: { domain: [-lim, lim] }, axis: null },
          y: { field: 'v', type: 'quantitative', scale: { domain: [-lim, lim] }, axis: null },
          color: { field: 'objective', type: 'nominal', legend: null, scale: backendColors(values, 'objective') },
        },
      },
    } as TopLevelSpec,
  }];
}
