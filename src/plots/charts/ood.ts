// Out-of-distribution detection by likelihood: per-image bits/dim histograms and AUROC against chance.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, heading, backendColors } from '../vocabulary.js';

export interface OodSet { backend: string; inName: string; oodName: string; inDist: number[]; ood: number[] }

/**
 * Out-of-distribution likelihoods: histograms of per-image bits/dim on the training distribution's test
 * set and on another dataset's, one panel per model (the paper's Fig. 1), and the AUROC of each score
 * with its 95% bootstrap interval against chance (0.5, dashed).
 */
export function oodLikelihood(sets: OodSet[], rows: ResultRow[]): Chart[] {
  const out: Chart[] = [];
  if (sets.length) {
    const values = sets.flatMap((s) => [
      ...s.inDist.map((v) => ({ backend: s.backend, set: `${s.inName} test (training distribution)`, bpd: v })),
      ...s.ood.map((v) => ({ backend: s.backend, set: `${s.oodName} test (out of distribution)`, bpd: v })),
    ]);
    out.push({
      name: 'ood-histograms',
      title: 'bits/dim of in- and out-of-distribution test images',
      spec: {
        $schema: SCHEMA,
        title: heading('Per-image bits/dim: training distribution vs another dataset', `variational bound per test image, ${sets[0].inDist.length} images per set; lower bits/dim = judged more likely; the likelihood's floor, the data's entropy, is unknown (≥ 0)`),
        data: { values },
        facet: { column: { field: 'backend', type: 'nominal', title: 'model' } },
        spec: {
          width: 260, height: 200,
          mark: { type: 'bar', opacity: 0.55, binSpacing: 0 },
          encoding: {
            x: { field: 'bpd', type: 'quantitative', bin: { maxbins: 40 }, title: 'bits/dim' },
            y: { aggregate: 'count', type: 'quantitative', title: 'images', stack: null },
            color: { field: 'set', type: 'nominal', title: 'test set', legend: { labelLimit: 400, orient: 'bottom' } },
          },
        },
        resolve: { scale: { x: 'independent' } },
      } as TopLevelSpec,
    });
  }
  const au = rows.filter((r) => r.metric.startsWith('auroc-')).map((r) => ({ backend: r.backend, score: r.metric.slice(6), value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value }));
  if (au.length) {
    const x = { field: 'score', type: 'nominal', title: 'score', sort: ['raw', 'typicality', 'complexity'] };
    const color = { field: 'backend', type: 'nominal', title: 'model', scale: backendColors(au) };
    out.push({
      name: 'ood-auroc',
      title: 'AUROC of out-of-distribution detection',
      spec: {
        $schema: SCHEMA,
        title: heading('Out-of-distribution detection by likelihood (AUROC)', 'raw: bits/dim; typicality: |bits/dim − training mean|; complexity: bits/dim − deflate bits/dim (Serrà et al. 2020); 1 = perfect; dashed: chance 0.5, below it the other dataset looks more likely; bars: 95% bootstrap interval'),
        width: WIDTH, height: HEIGHT,
        layer: [
          { data: { values: au }, mark: { type: 'point', filled: true, size: 70 }, encoding: { x, xOffset: { field: 'backend' }, y: { field: 'value', type: 'quantitative', title: 'AUROC', scale: { domain: [0, 1] } }, color, tooltip: [{ field: 'backend' }, { field: 'score' }, { field: 'value', type: 'quantitative', format: '.3f' }, { field: 'ci_low', type: 'quantitative', format: '.3f' }, { field: 'ci_high', type: 'quantitative', format: '.3f' }] } },
          { data: { values: au }, mark: { type: 'errorbar', ticks: true }, encoding: { x, xOffset: { field: 'backend' }, y: { field: 'ci_low', type: 'quantitative', title: 'AUROC' }, y2: { field: 'ci_high' }, color } },
          { data: { values: [{ chance: 0.5 }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { y: { field: 'chance', type: 'quantitative' } } },
        ],
      } as TopLevelSpec,
    });
  }
  return out;
}
