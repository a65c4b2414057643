// Memorization: each model's nearest-training-distance ratio (generated ÷ real test) per sampler
// setting, with its 95% interval, against 1 (as far from the training set as fresh data).
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { backendColors, heading, HEIGHT, SCHEMA, WIDTH, type Chart } from '../vocabulary.js';

export function memorizationChart(rows: ResultRow[]): Chart[] {
  const values = rows.filter((r) => r.metric === 'nn-train-ratio').map((r) => ({ backend: r.backend, setting: `${r.sampler} ${r.steps} steps`, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value, n: r.n }));
  if (!values.length) return [];
  const copies = rows.filter((r) => r.metric === 'near-copies').map((r) => `${r.backend} ${r.sampler} ${r.steps}: ${(100 * r.value).toFixed(1)}%`);
  const x = { field: 'setting', type: 'nominal', title: 'sampler setting', axis: { labelAngle: 0 } };
  const color = { field: 'backend', type: 'nominal', title: 'model', scale: backendColors(values) };
  const y = { type: 'quantitative', title: 'nearest-training distance, samples ÷ real test images', scale: { zero: false } };
  return [{
    name: 'memorization',
    title: 'memorization: distance to the training set',
    spec: {
      $schema: SCHEMA,
      title: heading('Distance to the nearest training image, samples ÷ real test images', `pixel space, n = ${values[0].n} per set; dashed: 1, as far as fresh data (below: closer to the training set); bars: 95% bootstrap interval; near-copies (d₁/d₂ < 1/3): ${copies.join(', ')}`),
      width: WIDTH, height: HEIGHT,
      layer: [
        { data: { values }, mark: { type: 'point', filled: true, size: 70 }, encoding: { x, xOffset: { field: 'backend' }, y: { field: 'value', ...y }, color, tooltip: [{ field: 'backend' }, { field: 'setting' }, { field: 'value', type: 'quantitative', format: '.3f' }, { field: 'ci_low', type: 'quantitative', format: '.3f' }, { field: 'ci_high', type: 'quantitative', format: '.3f' }] } },
        { data: { values }, mark: { type: 'errorbar', ticks: true }, encoding: { x, xOffset: { field: 'backend' }, y: { field: 'ci_low', ...y }, y2: { field: 'ci_high' }, color } },
        { data: { values: [{ one: 1 }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { y: { field: 'one', type: 'quantitative' } } },
      ],
    } as TopLevelSpec,
  }];
}
