// Sampler error on the exact mixture against NFE.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, heading, samplerScales } from '../vocabulary.js';

/** Sampler error vs NFE on the analytic backend (log-log), and SW₂ with its noise floor. */
export function samplerError(rows: ResultRow[]): Chart[] {
  const out: Chart[] = [];
  for (const [metric, stem, what] of [
    ['path-median', 'sampler-error-median', 'median distance per sample: the sampler\'s order on paths that stay in their mode'],
    ['path-rms', 'sampler-error-path', 'RMS over samples: dominated by the few paths that switch modes'],
  ] as const) {
    const path = rows.filter((r) => r.metric === metric);
    if (!path.length) continue;
    out.push({
      name: stem,
      title: `sampler error vs NFE (analytic backend, ${metric === 'path-rms' ? 'RMS' : 'median'})`,
      spec: {
        $schema: SCHEMA,
        title: heading(`Distance to the exact ODE solution vs NFE (${metric === 'path-rms' ? 'RMS' : 'median'})`, `exact Gaussian-mixture denoiser: pure discretisation error; deterministic samplers; ${what}`),
        width: WIDTH, height: HEIGHT,
        data: { values: path.map((r) => ({ sampler: r.sampler, nfe: r.nfe, value: r.value })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'nfe', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'NFE' },
          y: { field: 'value', type: 'quantitative', scale: { type: 'log', nice: false, padding: 8 }, title: metric === 'path-rms' ? 'RMS distance to the exact solution' : 'median distance to the exact solution' },
          color: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(path).color },
          shape: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(path).shape },
        },
      } as TopLevelSpec,
    });
  }
  const sw = rows.filter((r) => r.metric === 'sw2');
  if (sw.length) {
    const floor = rows.filter((r) => r.metric === 'sw2-floor');
    out.push({
      name: 'sampler-error-sw2',
      title: 'sliced W₂ vs NFE (analytic backend)',
      spec: {
        $schema: SCHEMA,
        title: heading('Sliced Wasserstein-2 to exact samples vs NFE', 'dashed: two exact sample sets of the same size (the metric\'s noise floor)'),
        width: WIDTH, height: HEIGHT,
        layer: [
          {
            data: { values: sw.map((r) => ({ sampler: r.sampler, nfe: r.nfe, value: r.value })) },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'nfe', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'NFE' },
              y: { field: 'value', type: 'quantitative', scale: { type: 'log', nice: false, padding: 8 }, title: 'sliced W₂' },
              color: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(sw).color },
              shape: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(sw).shape },
            },
          },
          {
            data: { values: [{ floor: floor.length ? floor.reduce((a, r) => a + r.value, 0) / floor.length : 0 }] },
            mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
            encoding: { y: { field: 'floor', type: 'quantitative' } },
          },
        ],
      } as TopLevelSpec,
    });
  }
  return out;
}
