// Sample-quality charts: FID/KID against NFE, cost, training compute and steps, guidance scale, EMA length and noise-schedule shift.
import type { TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '../../metrics/result-row.js';
import { type Chart, SCHEMA, WIDTH, HEIGHT, PALETTE, linesWithPoints, heading, backendColors, samplerScales, family, chartKey, shortName, qualityMetrics, type Floors, intervalAndFloor, ciNote, label, withoutGuidance } from '../vocabulary.js';

/** One chart: a metric against a numeric setting (the x field of `values`), one line per backend and sampler setting. */
function metricVsSetting(metric: string, values: Record<string, unknown>[], o: { name: string; title: string; subtitle: string; x: Record<string, unknown> }, floors?: Floors): Chart {
  const field = o.x.field as string;
  return {
    name: o.name,
    title: o.title,
    spec: {
      $schema: SCHEMA,
      title: heading(o.title, o.subtitle),
      width: WIDTH, height: HEIGHT,
      layer: [...linesWithPoints({
        data: { values },
        transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['backend', 'setting', field] }],
        mark: { type: 'line', point: true },
        encoding: {
          x: o.x, y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } },
          color: { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) },
          strokeDash: { field: 'setting', type: 'nominal', title: 'sampler', legend: { labelLimit: 400 } },
          tooltip: [{ field: 'backend' }, { field: 'setting' }, { field, type: 'quantitative' }, { field: 'value', type: 'quantitative', format: '.4g' }],
        },
      }), ...intervalAndFloor(metric, values, o.x, floors, ['backend', 'setting', field])],
    } as TopLevelSpec,
  };
}

const valueRow = (r: ResultRow) => ({ backend: r.backend, value: r.value, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null, n: r.n });

/**
 * FID, per-class FID and class accuracy against the classifier-free guidance scale w (rows whose
 * sampler setting gives one): one line per backend and sampler setting (guidance interval included).
 */
export function qualityVsGuidance(rows: ResultRow[], floors?: Floors): Chart[] {
  const guided = rows.filter((r) => r.guidance != null);
  const metrics = [...new Set(guided.filter((r) => ['fid', 'fid_class', 'class_acc'].includes(family(r.metric))).map((r) => r.metric))].sort();
  return metrics.map((metric) => {
    const values = guided.filter((r) => r.metric === metric).map((r) => ({ ...valueRow(r), setting: withoutGuidance(r.sampler, r.steps), w: r.guidance }));
    const better = family(metric) === 'class_acc' ? 'higher is better; bars: 95% Wilson interval; grey line: the network on real images' : `lower is better; ${family(metric) === 'fid' ? ciNote(metric) : 'mean over classes; grey line: real-data floor'}`;
    return metricVsSetting(metric, values, {
      name: `quality-vs-guidance-${chartKey(metric)}`, title: `${label(metric)} vs classifier-free guidance scale`,
      subtitle: `${metric}, n = ${values[0]?.n} samples, classes balanced; ${better}`,
      x: { field: 'w', type: 'quantitative', title: 'guidance scale w (0 unconditional, 1 conditional)' },
    }, floors);
  });
}

/** FID against the post-hoc EMA length σ_rel (rows of grid.ema), one line per backend and sampler setting. */
export function qualityVsEma(rows: ResultRow[], floors?: Floors): Chart[] {
  const sel = rows.filter((r) => r.ema != null);
  return qualityMetrics(sel).map((metric) => {
    const values = sel.filter((r) => r.metric === metric).map((r) => ({ ...valueRow(r), setting: `${r.sampler} ${r.steps} steps`, ema: r.ema }));
    return metricVsSetting(metric, values, {
      name: `quality-vs-ema-${chartKey(metric)}`, title: `${shortName(metric)} vs EMA length`,
      subtitle: `${metric}, n = ${values[0]?.n}; weights reconstructed from power-function EMA snapshots; lower is better; ${ciNote(metric)}`,
      x: { field: 'ema', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'EMA length σ_rel (post-hoc, EDM2)' },
    }, floors);
  });
}

/** Quality (FID/KID) against NFE: one line per backend and sampler (colour = backend, dash = sampler). */
export function qualityVsNfe(rows: ResultRow[], floors?: Floors): Chart[] {
  return qualityMetrics(rows).map((metric) => {
    const values = rows.filter((r) => r.metric === metric).map((r) => ({ backend: r.backend, sampler: r.sampler, nfe: r.nfe, value: r.value, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null, seed: r.seed, n: r.n }));
    // Ticks at the NFEs the grid has (a log axis otherwise labels round numbers between them).
    const ticks = [...new Set(values.map((v) => v.nfe))].filter((v): v is number => v != null).sort((a, b) => a - b);
    const x = { field: 'nfe', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'NFE (denoiser evaluations per sample)', axis: { values: ticks, format: 'd' } };
    const color = { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) };
    const shape = { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(values).shape, legend: { labelLimit: 400 } };
    return {
      name: `quality-vs-nfe-${chartKey(metric)}`,
      title: `${label(metric)} vs NFE`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${shortName(metric)} vs number of function evaluations`, `${metric}, n = ${values[0]?.n}; colour: backend, shape: sampler; lower is better; ${ciNote(metric)}`),
        width: WIDTH, height: HEIGHT,
        layer: [
          // Solid lines, one per backend and sampler (the shape tells samplers apart; dashes are the floor's).
          { data: { values }, transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['backend', 'sampler', 'nfe'] }], mark: { type: 'line', opacity: 0.7 }, encoding: { x, y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } }, color, detail: { field: 'sampler' } } },
          { data: { values }, transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['backend', 'sampler', 'nfe'] }], mark: { type: 'point', filled: true, size: 70, opacity: 1 }, encoding: { x, y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } }, color, shape, tooltip: [{ field: 'backend' }, { field: 'sampler' }, { field: 'nfe', type: 'quantitative' }, { field: 'value', type: 'quantitative', format: '.4g' }] } },
          ...intervalAndFloor(metric, values, x, floors, ['backend', 'sampler', 'nfe']),
        ],
      } as TopLevelSpec,
    };
  });
}

/**
 * Quality against cost per sample (wall-clock and GFLOP), per backend: every sampler × step count as a
 * point labelled with its steps, and each backend's cost frontier (the points no cheaper point beats)
 * as a line.
 */
export function costFrontier(rows: ResultRow[], floors?: Floors): Chart[] {
  const out: Chart[] = [];
  for (const metric of qualityMetrics(rows)) {
    for (const [field, title, stem] of [['seconds', 'wall-clock seconds per sample', 'seconds'], ['gflop', 'GFLOP per sample', 'gflop']] as const) {
      const values = rows.filter((r) => r.metric === metric && r[field] !== null).map((r) => ({ backend: r.backend, sampler: r.sampler, steps: r.steps, cost: r[field], value: r.value, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null }));
      if (!values.length) continue;
      // Each backend's frontier: in order of cost, the points that beat every cheaper one.
      const frontier = [...new Set(values.map((v) => v.backend))].flatMap((b) => {
        let best = Infinity;
        return values.filter((v) => v.backend === b).sort((p, q) => (p.cost as number) - (q.cost as number)).filter((v) => (v.value < best ? ((best = v.value), true) : false));
      });
      const x = { field: 'cost', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title, axis: { tickCount: 6, format: '~g', labelOverlap: true } };
      const y = { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } };
      const color = { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) };
      out.push({
        name: `cost-frontier-${chartKey(metric)}-${stem}`,
        title: `${label(metric)} vs ${title}`,
        spec: {
          $schema: SCHEMA,
          title: heading(`${shortName(metric)} vs ${title}`, `each point is one sampler × step count (labelled with its steps); line: each backend's cost frontier; lower left is better; ${ciNote(metric)}`),
          width: WIDTH, height: HEIGHT,
          layer: [
            { data: { values: frontier }, mark: { type: 'line', opacity: 0.6 }, encoding: { x, y, color, order: { field: 'cost', type: 'quantitative' } } },
            { data: { values }, mark: { type: 'point', filled: true, size: 70 }, encoding: { x, y, color, shape: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(values).shape, legend: { labelLimit: 400 } }, tooltip: [{ field: 'backend' }, { field: 'sampler' }, { field: 'steps' }, { field: 'cost', type: 'quantitative', format: '.3g' }, { field: 'value', type: 'quantitative', format: '.4g' }] } },
            { data: { values }, mark: { type: 'text', align: 'left', dx: 6, dy: -5, fontSize: 9, color: '#444' }, encoding: { x, y, text: { field: 'steps' } } },
            ...intervalAndFloor(metric, values, x, floors, ['backend', 'sampler', 'steps', 'cost']),
          ],
        } as TopLevelSpec,
      });
    }
  }
  return out;
}


/**
 * Quality against the training compute that produced each checkpoint: the compute-matched comparison.
 * One line per backend and sampler setting; read two backends at the same x. Needs at least two
 * checkpoints of some backend (grid.checkpoints).
 */
export function qualityVsTrainingCompute(rows: ResultRow[], floors?: Floors): Chart[] {
  return qualityVsTraining(rows, floors, 'gflop');
}

/** Quality against the diffusion stage's training steps (each point a checkpoint), one line per model. */
export function qualityVsTrainingSteps(rows: ResultRow[], floors?: Floors): Chart[] {
  return qualityVsTraining(rows, floors, 'step');
}

function qualityVsTraining(rows: ResultRow[], floors: Floors | undefined, axis: 'gflop' | 'step'): Chart[] {
  const out: Chart[] = [];
  const x = axis === 'gflop'
    ? { field: 'gflop', type: 'quantitative' as const, scale: { type: 'log' as const, nice: false, padding: 12 }, title: 'training compute (GFLOP, incl. the VAE stage for latent)' }
    : { field: 'step', type: 'quantitative' as const, scale: { nice: false, padding: 12 }, title: 'diffusion training steps' };
  for (const metric of qualityMetrics(rows)) {
    const sel = rows.filter((r) => r.metric === metric && r.train_gflop != null && r.train_step != null);
    const multi = [...new Set(sel.map((r) => r.backend))].some((b) => new Set(sel.filter((r) => r.backend === b).map((r) => r.train_step)).size > 1);
    if (!multi) continue;
    out.push({
      name: `quality-vs-training-${axis === 'gflop' ? 'compute' : 'steps'}-${chartKey(metric)}`,
      title: `${label(metric)} vs training ${axis === 'gflop' ? 'compute' : 'steps'}`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${shortName(metric)} vs training ${axis === 'gflop' ? 'compute' : 'steps'}`, `each point is a checkpoint (EMA weights); ${axis === 'gflop' ? 'compare backends at equal training GFLOP' : 'the latent models\' autoencoder stage is not counted'}; lower is better; ${ciNote(metric)}`),
        width: WIDTH, height: HEIGHT,
        layer: [...linesWithPoints({
          data: { values: sel.map((r) => ({ backend: r.backend, setting: `${r.sampler} ${r.steps} steps`, step: r.train_step, gflop: r.train_gflop, value: r.value })) },
          transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['backend', 'setting', 'step', 'gflop'] }],
          mark: { type: 'line', point: true },
          encoding: {
            x,
            y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } },
            color: { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(sel) },
            strokeDash: { field: 'setting', type: 'nominal', title: 'sampler', legend: { labelLimit: 400 } },
            tooltip: [{ field: 'backend' }, { field: 'setting' }, { field: 'step', type: 'quantitative', title: 'training step' }, { field: 'gflop', type: 'quantitative', format: '.3g' }, { field: 'value', type: 'quantitative', format: '.4g' }],
          },
        }), ...intervalAndFloor(metric, sel.map((r) => ({ backend: r.backend, setting: `${r.sampler} ${r.steps} steps`, [axis]: axis === 'gflop' ? r.train_gflop : r.train_step, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null })),
          { field: axis, type: 'quantitative', scale: x.scale }, floors, ['backend', 'setting', axis])],
      } as TopLevelSpec,
    });
  }
  return out;
}

/**
 * Quality against the sampling grid's shift α (SD3: every σ multiplied by α; log axis), one panel
 * per backend kind, one line per image resolution, each with its own real-data floor (dashed, in the
 * line's colour) and 95% intervals. `info` gives a model's kind, resolution and floors.
 */
export function qualityVsShift(rows: ResultRow[], info: (backend: string) => { kind: string; resolution: number | null; floors?: Floors } | undefined): Chart[] {
  const out: Chart[] = [];
  for (const metric of qualityMetrics(rows).filter((m) => family(m) === 'fid')) {
    // Rows without a shift were sampled on an unshifted grid (α = 1).
    const sel = rows.filter((r) => r.metric === metric && info(r.backend));
    if (!sel.some((r) => r.shift != null)) continue;
    if (!sel.length) continue;
    const res = (b: string) => { const i = info(b)!; return i.resolution === null ? b : `${i.resolution}×${i.resolution}`; };
    const values = sel.map((r) => ({ kind: info(r.backend)!.kind, resolution: res(r.backend), model: r.backend, setting: `${r.sampler} ${r.steps} steps`, shift: r.shift ?? 1, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value }));
    const floorsOf = [...new Set(sel.map((r) => r.backend))].flatMap((b) => {
      const f = info(b)!.floors?.[metric];
      return f ? [{ kind: info(b)!.kind, resolution: res(b), floor: f.value }] : [];
    });
    const resolutions = [...new Set(values.map((v) => v.resolution))].sort((a, b) => parseInt(a) - parseInt(b));
    const color = { field: 'resolution', type: 'nominal', title: 'image size', sort: resolutions, scale: { domain: resolutions, range: resolutions.map((_, i) => PALETTE[i % PALETTE.length]) } };
    const x = { field: 'shift', type: 'quantitative', title: 'shift α (σ × α; log scale)', scale: { type: 'log', base: 2, nice: false, padding: 10 }, axis: { values: [...new Set(values.map((v) => v.shift))] } };
    const y = { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } };
    out.push({
      name: `quality-vs-shift-${chartKey(metric)}`,
      title: `${label(metric)} vs sampling shift`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${shortName(metric)} vs noise-schedule shift, per image size`, `σ × α on the sampling grid (by default the model's training shift); lower is better; bars: 95% bootstrap interval; dashed: each image size's real-data floor`),
        data: { values: [...values, ...floorsOf.map((f) => ({ ...f, isFloor: true }))] },
        facet: { column: { field: 'kind', type: 'nominal', title: 'backend' } },
        spec: {
          width: 300, height: HEIGHT,
          layer: [
            { transform: [{ filter: 'datum.isFloor !== true' }], mark: { type: 'line', point: true }, encoding: { x, y, color, tooltip: [{ field: 'model' }, { field: 'resolution' }, { field: 'shift', type: 'quantitative' }, { field: 'value', type: 'quantitative', format: '.4g' }] } },
            { transform: [{ filter: 'datum.isFloor !== true' }], mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'ci_low', type: 'quantitative', title: label(metric) }, y2: { field: 'ci_high' }, color } },
            { transform: [{ filter: 'datum.isFloor === true' }], mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { y: { field: 'floor', type: 'quantitative' }, color } },
          ],
        },
        resolve: { scale: { y: 'shared' } },
      } as TopLevelSpec,
    });
  }
  return out;
}

/**
 * Quality against a DiT's token dimension p²·C (log axis), one line per prediction target, one panel
 * per backend kind (Li & He 2025: ε and v fail once the token dimension passes the width, x does
 * not). A dotted rule marks the width; the dashed rule is the real-data floor; bars are the rows'
 * 95% intervals (across training seeds where the model block lists several).
 */
export function qualityVsTokenDim(rows: ResultRow[], info: (backend: string) => { kind: string; floors?: Floors } | undefined): Chart[] {
  const out: Chart[] = [];
  for (const metric of qualityMetrics(rows).filter((m) => family(m) === 'fid')) {
    const sel = rows.filter((r) => r.metric === metric && r.token_dim != null && info(r.backend));
    if (!sel.length) continue;
    const values = sel.map((r) => ({ kind: info(r.backend)!.kind, target: r.objective ?? '?', model: r.backend, setting: `${r.sampler} ${r.steps} steps`, token_dim: r.token_dim!, patch: r.patch ?? null, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value }));
    const widths = [...new Map(sel.map((r) => [`${info(r.backend)!.kind}|${r.width}`, { kind: info(r.backend)!.kind, width: r.width!, isWidth: true }])).values()];
    const floors = [...new Map(sel.flatMap((r) => {
      const f = info(r.backend)!.floors?.[metric];
      return f ? [[info(r.backend)!.kind, { kind: info(r.backend)!.kind, floor: f.value, isFloor: true }] as const] : [];
    })).values()];
    const targets = [...new Set(values.map((v) => v.target))].sort();
    const settings = new Set(values.map((v) => v.setting)).size;
    const color = { field: 'target', type: 'nominal', title: 'prediction target', sort: targets, scale: { domain: targets, range: targets.map((_, i) => PALETTE[i % PALETTE.length]) } };
    const x = { field: 'token_dim', type: 'quantitative', title: 'token dimension p²·C (log scale)', scale: { type: 'log', base: 2, nice: false, padding: 10 }, axis: { values: [...new Set(values.map((v) => v.token_dim))] } };
    const y = { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } };
    const notLine = 'datum.isFloor !== true && datum.isWidth !== true';
    out.push({
      name: `quality-vs-token-dim-${chartKey(metric)}`,
      title: `${label(metric)} vs token dimension`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${shortName(metric)} vs the DiT's token dimension, per prediction target`, 'lower is better; bars: 95% interval (across training seeds where there are several); dotted: the token width; dashed: the real-data floor'),
        data: { values: [...values, ...widths, ...floors] },
        facet: { column: { field: 'kind', type: 'nominal', title: 'backend' } },
        spec: {
          width: 300, height: HEIGHT,
          layer: [
            { transform: [{ filter: notLine }], mark: { type: 'line', point: true }, encoding: { x, y, color, ...(settings > 1 ? { strokeDash: { field: 'setting', type: 'nominal', title: 'sampler' } } : {}), tooltip: [{ field: 'model' }, { field: 'target' }, { field: 'patch', type: 'quantitative' }, { field: 'token_dim', type: 'quantitative' }, { field: 'setting' }, { field: 'value', type: 'quantitative', format: '.4g' }, { field: 'ci_low', type: 'quantitative', format: '.4g' }, { field: 'ci_high', type: 'quantitative', format: '.4g' }] } },
            { transform: [{ filter: notLine }], mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'ci_low', type: 'quantitative', title: label(metric) }, y2: { field: 'ci_high' }, color } },
            { transform: [{ filter: 'datum.isWidth === true' }], mark: { type: 'rule', strokeDash: [1, 3], color: '#666' }, encoding: { x: { field: 'width', type: 'quantitative' } } },
            { transform: [{ filter: 'datum.isFloor === true' }], mark: { type: 'rule', strokeDash: [4, 3], color: '#666' }, encoding: { y: { field: 'floor', type: 'quantitative' } } },
          ],
        },
        resolve: { scale: { y: 'independent' } },
      } as TopLevelSpec,
    });
  }
  return out;
}
