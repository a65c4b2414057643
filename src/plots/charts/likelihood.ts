// Likelihood charts: bits/dim per model, against training steps, and against FID.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, heading, backendColors, family, chartKey, shortName, qualityMetrics, type Floors, label } from '../vocabulary.js';

/**
 * bits/dim per model, in the backends' colours, with 95% intervals (± 1.96 standard errors over the
 * test images, as the claims use) and n in the labels; the probability-flow ODE estimate, where
 * computed, beside the variational bound in a lighter shade.
 */
export function bitsPerDim(rows: ResultRow[]): Chart[] {
  const values = rows.filter((r) => r.metric === 'bits_per_dim' || r.metric === 'bits_per_dim_ode').map((r) => ({
    backend: r.backend, method: r.metric === 'bits_per_dim' ? 'variational bound' : 'probability-flow ODE', value: r.value,
    lo: r.value - 1.96 * (r.std ?? 0), hi: r.value + 1.96 * (r.std ?? 0), n: r.n, label: `${r.value.toFixed(3)} (n = ${r.n})`,
  }));
  if (!values.length) return [];
  const x = { field: 'backend', type: 'nominal', title: 'model', axis: { labelAngle: 0 } };
  const methods = [...new Set(values.map((v) => v.method))];
  return [{
    name: 'bits-per-dim',
    title: 'bits/dim of the test images',
    spec: {
      $schema: SCHEMA,
      title: heading('Negative log-likelihood of test images (bits/dim)', `upper bounds on −log₂ P(x)/D for 8-bit pixels, n test images each; lower is better; bars: 95% interval (± 1.96 s.e.); the floor, the data's entropy, is unknown (≥ 0)`),
      width: WIDTH, height: HEIGHT,
      data: { values },
      layer: [
        { mark: 'bar', encoding: { x, xOffset: { field: 'method', sort: methods }, y: { field: 'value', type: 'quantitative', title: 'bits/dim' }, color: { field: 'backend', type: 'nominal', title: 'model', scale: backendColors(values) }, opacity: { field: 'method', type: 'ordinal', title: 'estimate', sort: methods, scale: { domain: methods, range: methods.map((m) => (m === 'variational bound' ? 0.9 : 0.45)) } }, tooltip: [{ field: 'backend' }, { field: 'method' }, { field: 'value', type: 'quantitative', format: '.4f' }, { field: 'lo', type: 'quantitative', format: '.4f' }, { field: 'hi', type: 'quantitative', format: '.4f' }, { field: 'n' }] } },
        { mark: { type: 'errorbar', ticks: { size: 14 }, color: 'black' }, encoding: { x, xOffset: { field: 'method', sort: methods }, y: { field: 'lo', type: 'quantitative', title: 'bits/dim' }, y2: { field: 'hi' } } },
        { mark: { type: 'text', dy: -8, fontSize: 9, color: '#333' }, encoding: { x, xOffset: { field: 'method', sort: methods }, y: { field: 'hi', type: 'quantitative' }, text: { field: 'label' } } },
      ],
    } as TopLevelSpec,
  }];
}

/**
 * bits/dim against the diffusion stage's training steps (each point a checkpoint), ± one standard
 * error; drawn when a model has bits/dim at more than one checkpoint. The data's entropy, the
 * metric's floor, is unknown; 0 bits/dim is the only bound drawn.
 */
export function bitsPerDimVsTrainingSteps(rows: ResultRow[]): Chart[] {
  const sel = rows.filter((r) => (r.metric === 'bits_per_dim' || r.metric === 'bits_per_dim_ode') && r.train_step != null);
  const multi = [...new Set(sel.map((r) => r.backend))].some((b) => new Set(sel.filter((r) => r.backend === b).map((r) => r.train_step)).size > 1);
  if (!multi) return [];
  const values = sel.map((r) => ({
    backend: r.backend, method: r.metric === 'bits_per_dim' ? 'variational bound' : 'probability-flow ODE', step: r.train_step, value: r.value,
    lo: r.value - (r.std ?? 0), hi: r.value + (r.std ?? 0), n: r.n,
  }));
  const x = { field: 'step', type: 'quantitative', scale: { nice: false, padding: 12 }, title: 'diffusion training steps' };
  return [{
    name: 'bits-per-dim-vs-training-steps',
    title: 'bits/dim vs training steps',
    spec: {
      $schema: SCHEMA,
      title: heading('Negative log-likelihood vs training steps (bits/dim)', 'upper bounds on −log₂ P(x)/D of 8-bit test pixels, each point a checkpoint (EMA weights); lower is better; bars ± 1 s.e.; floor: the data\'s entropy, unknown (≥ 0)'),
      width: WIDTH, height: HEIGHT,
      data: { values },
      layer: [
        { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'value', type: 'quantitative', title: 'bits/dim', scale: { zero: false } }, color: { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) }, strokeDash: { field: 'method', type: 'nominal', title: 'estimate' }, tooltip: [{ field: 'backend' }, { field: 'method' }, { field: 'step', type: 'quantitative', title: 'training step' }, { field: 'value', type: 'quantitative', format: '.4f' }, { field: 'n' }] } },
        { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: 'bits/dim' }, y2: { field: 'hi' }, color: { field: 'backend', type: 'nominal', scale: backendColors(values) } } },
      ],
    } as TopLevelSpec,
  }];
}

/**
 * bits/dim against FID, one point per trained model (its final checkpoint; the first sampler setting
 * scored), coloured by backend kind: bits/dim ± 1 s.e. across, FID's 95% interval up, the FID floor
 * dashed. The subtitle names, per kind, the model with the best FID and the one with the best bits/dim.
 */
export function likelihoodVsQuality(rows: ResultRow[], kindOf: (backend: string) => string, floors?: Floors): Chart[] {
  const out: Chart[] = [];
  const nll = rows.filter((r) => r.metric === 'bits_per_dim');
  for (const metric of qualityMetrics(rows).filter((m) => family(m) === 'fid')) {
    const fids = rows.filter((r) => r.metric === metric);
    const setting = fids.length ? `${fids[0].sampler} ${fids[0].steps}` : '';
    const values = nll.flatMap((b) => {
      const f = fids.find((r) => r.backend === b.backend && `${r.sampler} ${r.steps}` === setting);
      if (!f) return [];
      return [{ model: b.backend, kind: kindOf(b.backend), bpd: b.value, bpd_lo: b.value - (b.std ?? 0), bpd_hi: b.value + (b.std ?? 0), fid: f.value, fid_lo: f.ci_low ?? f.value, fid_hi: f.ci_high ?? f.value }];
    });
    if (values.length < 2) continue;
    const best = [...new Set(values.map((v) => v.kind))].sort().map((k) => {
      const of = values.filter((v) => v.kind === k);
      const bf = of.reduce((a, v) => (v.fid < a.fid ? v : a)), bn = of.reduce((a, v) => (v.bpd < a.bpd ? v : a));
      return `${k}: best FID ${bf.model} (${bf.fid.toPrecision(3)}), best bits/dim ${bn.model} (${bn.bpd.toFixed(3)})${bf.model === bn.model ? ', the same model' : ''}`;
    });
    const f = floors?.[metric];
    const x = { field: 'bpd', type: 'quantitative', title: 'bits/dim (variational bound, test images; log scale)', scale: { type: 'log', nice: false, padding: 16 } };
    const y = { field: 'fid', type: 'quantitative', title: label(metric), scale: { zero: false } };
    out.push({
      name: `likelihood-vs-quality-${chartKey(metric)}`,
      title: `bits/dim vs ${label(metric)}`,
      spec: {
        $schema: SCHEMA,
        title: heading(`Likelihood vs sample quality (${shortName(metric)}, ${setting} steps)`, [`one point per trained model (final checkpoint); lower-left is better on both; bars: ± 1 s.e. (bits/dim), 95% bootstrap interval (FID); dashed: real-data floor`, ...best].join('; ')),
        width: WIDTH, height: HEIGHT,
        data: { values },
        layer: [
          { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, color: { field: 'kind', type: 'nominal', title: 'backend', scale: backendColors(values, 'kind') }, tooltip: [{ field: 'model' }, { field: 'kind' }, { field: 'bpd', type: 'quantitative', format: '.4f', title: 'bits/dim' }, { field: 'fid', type: 'quantitative', format: '.4g', title: 'FID' }] } },
          { mark: { type: 'errorbar', ticks: true }, encoding: { x: { field: 'bpd_lo', type: 'quantitative', title: x.title }, x2: { field: 'bpd_hi' }, y, color: { field: 'kind', type: 'nominal', scale: backendColors(values, 'kind') } } },
          { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'fid_lo', type: 'quantitative', title: y.title }, y2: { field: 'fid_hi' }, color: { field: 'kind', type: 'nominal', scale: backendColors(values, 'kind') } } },
          { mark: { type: 'text', align: 'left', dx: 6, dy: -6, fontSize: 9, color: '#444' }, encoding: { x, y, text: { field: 'model' } } },
          ...(f ? [
            { data: { values: [{ floor: f.value }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { y: { field: 'floor', type: 'quantitative', title: y.title } } },
            { data: { values: [{ floor: f.value, text: `real-data floor ${f.value.toPrecision(3)} (n = ${f.n})` }] }, mark: { type: 'text', align: 'right', dy: -6, fontSize: 10, color: '#333' }, encoding: { x: { value: WIDTH }, y: { field: 'floor', type: 'quantitative', title: y.title }, text: { field: 'text' } } },
          ] : []),
        ],
      } as TopLevelSpec,
    });
  }
  return out;
}
