// Typed builders of Vega-Lite specs over result rows: quality vs NFE, cost frontiers, bits/dim,
// loss curves, schedules, sampler error on the analytic backend, and sample grids side by side.
import type { TopLevelSpec } from 'vega-lite';
import { SAMPLER_NAMES } from '../diffusion/samplers/index.js';
import type { DiscreteSchedule } from '../diffusion/schedules.js';
import type { ResultRow } from '../metrics/result-row.js';
import type { LossPoint } from '../train/loss-log.js';

export type { LossPoint };

export interface Chart {
  /** file stem: charts/<name>.vl.json, .svg, .png */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const WIDTH = 360, HEIGHT = 240;

// One colour, shape and dash per sampler and per backend in every chart, report and notebook: scales
// with fixed ranges, samplers indexed by the registry (a label's options keep its base sampler's
// look), the backends pixel/latent/analytic fixed and other model names by a stable hash.
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d', '#ff9da6', '#bab0ac', '#1b9e77', '#7570b3', '#d95f02', '#66a61e', '#e7298a', '#393b79'];
const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left', 'wedge', 'triangle'];
const DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [10, 2], [1, 3], [6, 2, 2, 2], [3, 6], [12, 4], [2, 6], [5, 1]];
const KNOWN_BACKENDS = ['pixel', 'latent', 'analytic'];
/**
 * A line layer and a point layer over the same data: the dash legend then comes from a pure line
 * mark and shows the dashes (over Vega-Lite's line-with-points marks its symbols stay blank), the
 * shape legend from the points.
 */
function linesWithPoints(l: { mark: unknown; encoding: Record<string, unknown> } & Record<string, unknown>): object[] {
  const { strokeDash, shape, ...rest } = l.encoding;
  return [
    { ...l, mark: { type: 'line' }, encoding: { ...rest, ...(strokeDash ? { strokeDash } : {}) } },
    { ...l, mark: { type: 'point', filled: true, size: 45, opacity: 1 }, encoding: { ...rest, ...(shape ? { shape } : {}) } },
  ];
}

function stableIndex(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

const samplerIndex = (label: string) => {
  const i = SAMPLER_NAMES.indexOf(label.split('(')[0].split(' ')[0]);
  return i >= 0 ? i : stableIndex(label);
};
const backendIndex = (name: string) => {
  const i = KNOWN_BACKENDS.indexOf(name);
  return i >= 0 ? i : KNOWN_BACKENDS.length + (stableIndex(name) % (PALETTE.length - KNOWN_BACKENDS.length));
};

/**
 * A chart title with its subtitle broken into lines of at most ~70 characters at '; ' (else at
 * spaces), so that a long note does not widen the chart beyond the page.
 */
export function heading(text: string, subtitle: string): { text: string; subtitle: string[] } {
  const lines: string[] = [];
  for (const part of subtitle.split('; ')) {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + part.length + 2 <= 70) { lines[lines.length - 1] = `${last}; ${part}`; continue; }
    let cur = '';
    for (const w of part.split(' ')) {
      if (cur && cur.length + w.length + 1 > 70) { lines.push(cur); cur = w; } else cur = cur ? `${cur} ${w}` : w;
    }
    if (cur) lines.push(cur);
  }
  return { text, subtitle: lines };
}

/**
 * The chart with a line naming the published figure it reproduces under its title (wrapped like
 * heading's subtitles), so that an exported PNG or SVG carries its source.
 */
export function withSource(c: Chart, source: string): Chart {
  const spec = c.spec as { title?: string | { text: string | string[]; subtitle?: string | string[] } };
  const t = spec.title;
  const title = typeof t === 'object' && t !== null ? t : { text: t ?? c.title };
  const before = title.subtitle === undefined ? [] : Array.isArray(title.subtitle) ? title.subtitle : [title.subtitle];
  const lines = heading('', `reproduces ${source}`).subtitle;
  return { ...c, spec: { ...c.spec, title: { ...title, subtitle: [...before, ...lines] } } as TopLevelSpec };
}

const domainOf = (values: readonly object[], field: string) => [...new Set(values.map((v) => String((v as Record<string, unknown>)[field])))].sort();

/** Colour scale of a backend (model name) field. */
export function backendColors(values: readonly object[], field = 'backend') {
  const domain = domainOf(values, field);
  // Each name keeps its own colour unless another name of the same chart has it: then the next free one.
  const taken = new Set<number>();
  const range = domain.map((d) => {
    let i = backendIndex(d) % PALETTE.length;
    for (let k = 0; k < PALETTE.length && taken.has(i); k++) i = (i + 1) % PALETTE.length;
    taken.add(i);
    return PALETTE[i];
  });
  return { domain, range };
}

/** Colour, shape and dash scales of a sampler (label) field. */
export function samplerScales(values: readonly object[], field = 'sampler') {
  const domain = domainOf(values, field);
  return {
    color: { domain, range: domain.map((d) => PALETTE[samplerIndex(d) % PALETTE.length]) },
    shape: { domain, range: domain.map((d) => SHAPES[samplerIndex(d) % SHAPES.length]) },
    dash: { domain, range: domain.map((d) => DASHES[samplerIndex(d) % DASHES.length]) },
  };
}

/** The metric family: 'fid@lenet-mnist' → 'fid'. */
export const family = (metric: string) => metric.split('@')[0];

function qualityMetrics(rows: ResultRow[]): string[] {
  return [...new Set(rows.filter((r) => ['fid', 'kid'].includes(family(r.metric))).map((r) => r.metric))].sort();
}

/** The real-data floor of each metric (src/metrics/floors.ts), as charts draw it. */
export type Floors = Record<string, { value: number; low?: number; high?: number; n: number }>;

/**
 * The layers every FID/KID chart adds to its own: 95% intervals as error bars where the rows have
 * them, and the metric's floor (real training images against the same reference) as a dashed rule.
 */
function intervalAndFloor(metric: string, values: Record<string, unknown>[], x: Record<string, unknown>, floors: Floors | undefined, keys: string[]): object[] {
  const layers: object[] = [];
  const withCi = values.filter((v) => v.ci_low != null && v.ci_high != null);
  if (withCi.length) {
    layers.push({
      data: { values: withCi },
      transform: [{ aggregate: [{ op: 'mean', field: 'ci_low', as: 'ci_low' }, { op: 'mean', field: 'ci_high', as: 'ci_high' }], groupby: keys }],
      mark: { type: 'errorbar', ticks: true },
      encoding: { x, y: { field: 'ci_low', type: 'quantitative', title: label(metric) }, y2: { field: 'ci_high' }, color: { field: 'backend', type: 'nominal', scale: backendColors(values) } },
    });
  }
  const f = floors?.[metric];
  if (f) {
    const text = `${family(metric) === 'class_acc' ? 'real data' : 'real-data floor'} ${f.value.toPrecision(3)} (n = ${f.n})`;
    layers.push({ data: { values: [{ floor: f.value, text }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { y: { field: 'floor', type: 'quantitative', title: label(metric) } } });
    layers.push({ data: { values: [{ floor: f.value, text }] }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10, color: '#333' }, encoding: { x: { value: 0 }, y: { field: 'floor', type: 'quantitative', title: label(metric) }, text: { field: 'text' } } });
  }
  return layers;
}

const CI_NOTE = 'bars: 95% bootstrap interval; dashed: real-data floor';

function label(m: string): string {
  const net = m.split('@')[1] ?? '';
  switch (family(m)) {
    case 'fid': return `FID (${net} features)`;
    case 'kid': return `KID (${net} features)`;
    case 'fid_class': return `per-class FID (${net} features)`;
    case 'class_acc': return `class accuracy (${net})`;
    default: return m;
  }
}

/**
 * The sampler setting without its guidance scale, its interval written out: the series of a chart
 * whose x axis is the scale ('dpm-solver++-2m(guidance=2,guidanceInterval=[0.3;5])' →
 * 'dpm-solver++-2m, σ ∈ [0.3, 5]').
 */
export function withoutGuidance(sampler: string | null, steps?: number | null): string {
  const s = sampler ?? '';
  const interval = /guidanceInterval=\[([^;\]]+);([^\]]+)\]/.exec(s);
  const rest = s.replace(/guidanceInterval=\[[^\]]*\],?/, '').replace(/guidance=[^,)]*,?/, '').replace(/,\)$/, ')').replace(/\(\)$/, '');
  return `${rest}${steps != null ? ` ${steps} steps` : ''}${interval ? `, guided for σ ∈ [${interval[1]}, ${interval[2]}]` : ''}`;
}

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
    const better = family(metric) === 'class_acc' ? 'higher is better; bars: 95% Wilson interval; dashed: the network on real images' : `lower is better; ${family(metric) === 'fid' ? CI_NOTE : 'mean over classes; dashed: real-data floor'}`;
    return metricVsSetting(metric, values, {
      name: `quality-vs-guidance-${family(metric)}`, title: `${label(metric)} vs classifier-free guidance scale`,
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
      name: `quality-vs-ema-${family(metric)}`, title: `${family(metric).toUpperCase()} vs EMA length`,
      subtitle: `${metric}, n = ${values[0]?.n}; weights reconstructed from power-function EMA snapshots; lower is better; ${CI_NOTE}`,
      x: { field: 'ema', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'EMA length σ_rel (post-hoc, EDM2)' },
    }, floors);
  });
}

/** Quality (FID/KID) against NFE: one line per backend and sampler (colour = backend, dash = sampler). */
export function qualityVsNfe(rows: ResultRow[], floors?: Floors): Chart[] {
  return qualityMetrics(rows).map((metric) => {
    const values = rows.filter((r) => r.metric === metric).map((r) => ({ backend: r.backend, sampler: r.sampler, nfe: r.nfe, value: r.value, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null, seed: r.seed, n: r.n }));
    const x = { field: 'nfe', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'NFE (denoiser evaluations per sample)' };
    return {
      name: `quality-vs-nfe-${family(metric)}`,
      title: `${label(metric)} vs NFE`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${family(metric).toUpperCase()} vs number of function evaluations`, `${metric}, n = ${values[0]?.n}; lower is better; ${CI_NOTE}`),
        width: WIDTH, height: HEIGHT,
        layer: [...linesWithPoints({
          data: { values },
          transform: [{ aggregate: [{ op: 'mean', field: 'value', as: 'value' }], groupby: ['backend', 'sampler', 'nfe'] }],
          mark: { type: 'line', point: true },
          encoding: {
            x, y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } },
            color: { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) },
            strokeDash: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(values).dash, legend: { labelLimit: 400 } },
            shape: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(values).shape, legend: { labelLimit: 400 } },
            tooltip: [{ field: 'backend' }, { field: 'sampler' }, { field: 'nfe', type: 'quantitative' }, { field: 'value', type: 'quantitative', format: '.4g' }],
          },
        }), ...intervalAndFloor(metric, values, x, floors, ['backend', 'sampler', 'nfe'])],
      } as TopLevelSpec,
    };
  });
}

/** Quality against cost per sample (wall-clock and GFLOP): the cost frontier, per backend. */
export function costFrontier(rows: ResultRow[], floors?: Floors): Chart[] {
  const out: Chart[] = [];
  for (const metric of qualityMetrics(rows)) {
    for (const [field, title, stem] of [['seconds', 'wall-clock seconds per sample', 'seconds'], ['gflop', 'GFLOP per sample', 'gflop']] as const) {
      const values = rows.filter((r) => r.metric === metric && r[field] !== null).map((r) => ({ backend: r.backend, sampler: r.sampler, steps: r.steps, cost: r[field], value: r.value, ci_low: r.ci_low ?? null, ci_high: r.ci_high ?? null }));
      const x = { field: 'cost', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title };
      if (!values.length) continue;
      out.push({
        name: `cost-frontier-${family(metric)}-${stem}`,
        title: `${label(metric)} vs ${title}`,
        spec: {
          $schema: SCHEMA,
          title: heading(`${family(metric).toUpperCase()} vs ${title}`, `each point is one sampler × step count; lower left is better; ${CI_NOTE}`),
          width: WIDTH, height: HEIGHT,
          layer: [{
            data: { values },
            mark: { type: 'point', filled: true, size: 70 },
            encoding: {
              x, y: { field: 'value', type: 'quantitative', title: label(metric), scale: { zero: false } },
              color: { field: 'backend', type: 'nominal', title: 'backend', scale: backendColors(values) },
              shape: { field: 'sampler', type: 'nominal', title: 'sampler', scale: samplerScales(values).shape, legend: { labelLimit: 400 } },
              tooltip: [{ field: 'backend' }, { field: 'sampler' }, { field: 'steps' }, { field: 'cost', type: 'quantitative', format: '.3g' }, { field: 'value', type: 'quantitative', format: '.4g' }],
            },
          }, ...intervalAndFloor(metric, values, x, floors, ['backend', 'sampler', 'steps', 'cost'])],
        } as TopLevelSpec,
      });
    }
  }
  return out;
}

/**
 * Rows of each backend's final checkpoint only (the newest train_step seen for it), for the charts
 * that compare finished models; rows without a train_step (analytic, older runs) are kept.
 */
export function finalCheckpointRows(rows: ResultRow[]): ResultRow[] {
  const last = new Map<string, number>();
  for (const r of rows) if (r.train_step != null) last.set(r.backend, Math.max(last.get(r.backend) ?? -Infinity, r.train_step));
  return rows.filter((r) => r.train_step == null || r.train_step === last.get(r.backend));
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
      name: `quality-vs-training-${axis === 'gflop' ? 'compute' : 'steps'}-${family(metric)}`,
      title: `${label(metric)} vs training ${axis === 'gflop' ? 'compute' : 'steps'}`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${family(metric).toUpperCase()} vs training ${axis === 'gflop' ? 'compute' : 'steps'}`, `each point is a checkpoint (EMA weights); ${axis === 'gflop' ? 'compare backends at equal training GFLOP' : 'the latent models\' autoencoder stage is not counted'}; lower is better; ${CI_NOTE}`),
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

/** bits/dim per backend with ± one standard error. */
export function bitsPerDim(rows: ResultRow[]): Chart[] {
  const values = rows.filter((r) => r.metric === 'bits_per_dim' || r.metric === 'bits_per_dim_ode').map((r) => ({
    backend: r.backend, method: r.metric === 'bits_per_dim' ? 'variational bound' : 'probability-flow ODE', value: r.value,
    lo: r.value - (r.std ?? 0), hi: r.value + (r.std ?? 0), n: r.n,
  }));
  if (!values.length) return [];
  return [{
    name: 'bits-per-dim',
    title: 'bits/dim of the test images',
    spec: {
      $schema: SCHEMA,
      title: heading('Negative log-likelihood of test images (bits/dim)', 'upper bounds on −log₂ P(x)/D for 8-bit pixels; lower is better; bars ± 1 s.e.'),
      width: WIDTH, height: HEIGHT,
      data: { values },
      layer: [
        { mark: 'bar', encoding: { x: { field: 'backend', type: 'nominal', title: 'backend' }, xOffset: { field: 'method' }, y: { field: 'value', type: 'quantitative', title: 'bits/dim' }, color: { field: 'method', type: 'nominal', title: 'estimate' }, tooltip: [{ field: 'backend' }, { field: 'method' }, { field: 'value', type: 'quantitative', format: '.4f' }, { field: 'n' }] } },
        { mark: { type: 'rule', color: 'black' }, encoding: { x: { field: 'backend', type: 'nominal' }, xOffset: { field: 'method' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
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
      name: `likelihood-vs-quality-${family(metric)}`,
      title: `bits/dim vs ${label(metric)}`,
      spec: {
        $schema: SCHEMA,
        title: heading(`Likelihood vs sample quality (${family(metric).toUpperCase()}, ${setting} steps)`, [`one point per trained model (final checkpoint); lower-left is better on both; bars: ± 1 s.e. (bits/dim), 95% bootstrap interval (FID); dashed: real-data floor`, ...best].join('; ')),
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

/**
 * The latent models' autoencoders on held-out test images: rFID (95% interval; floor: the same images
 * unreconstructed, as a tick per model) and PSNR, one column per model. A pixel model reconstructs
 * exactly (rFID at its floor, PSNR ∞) and has no column.
 */
export function autoencoderQuality(rows: ResultRow[]): Chart[] {
  const rf = rows.filter((r) => /^rfid@/.test(r.metric));
  if (!rf.length) return [];
  const floorOf = (b: string) => rows.find((r) => r.backend === b && /^rfid-floor@/.test(r.metric));
  const psnr = rows.filter((r) => r.metric === 'psnr').map((r) => ({ backend: r.backend, value: r.value }));
  const values = rf.map((r) => ({ backend: r.backend, value: r.value, ci_low: r.ci_low ?? r.value, ci_high: r.ci_high ?? r.value, floor: floorOf(r.backend)?.value ?? null }));
  const x = { field: 'backend', type: 'nominal', title: 'model', sort: values.map((v) => v.backend) };
  const color = { field: 'backend', type: 'nominal', legend: null, scale: backendColors(values) };
  return [{
    name: 'autoencoders',
    title: 'autoencoder reconstruction quality',
    spec: {
      $schema: SCHEMA,
      title: heading(`Autoencoder reconstructions of held-out test images (${label(rf[0].metric.slice(1)).replace(/^FID/, 'rFID')})`, `left: rFID, 95% bootstrap interval, grey tick: floor (the same ${rf[0].n} images unreconstructed); right: PSNR (dB, higher is better); a pixel model (f = 1) reconstructs exactly`),
      hconcat: [
        {
          width: 260, height: HEIGHT, data: { values },
          layer: [
            { mark: { type: 'point', filled: true, size: 70 }, encoding: { x, y: { field: 'value', type: 'quantitative', title: 'rFID (lower is better)' }, color, tooltip: [{ field: 'backend' }, { field: 'value', type: 'quantitative', format: '.4g' }, { field: 'floor', type: 'quantitative', format: '.3g' }] } },
            { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'ci_low', type: 'quantitative', title: 'rFID (lower is better)' }, y2: { field: 'ci_high' }, color } },
            { mark: { type: 'tick', strokeDash: [4, 3], color: '#333', thickness: 1.5 }, encoding: { x, y: { field: 'floor', type: 'quantitative' } } },
          ],
        },
        {
          width: 260, height: HEIGHT, data: { values: psnr },
          mark: 'bar',
          encoding: { x, y: { field: 'value', type: 'quantitative', title: 'PSNR (dB)' }, color, tooltip: [{ field: 'backend' }, { field: 'value', type: 'quantitative', format: '.2f' }] },
        },
      ],
    } as TopLevelSpec,
  }];
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
      name: `quality-vs-shift-${family(metric)}`,
      title: `${label(metric)} vs sampling shift`,
      spec: {
        $schema: SCHEMA,
        title: heading(`${family(metric).toUpperCase()} vs noise-schedule shift, per image size`, `σ × α on the sampling grid (by default the model's training shift); lower is better; bars: 95% bootstrap interval; dashed: each image size's real-data floor`),
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


/** Training loss against step, one line per model and stage (log scale). */
export function lossCurves(points: LossPoint[]): Chart[] {
  if (!points.length) return [];
  return [{
    name: 'loss',
    title: 'training loss',
    spec: {
      $schema: SCHEMA,
      title: heading('Training loss', 'per step, smoothed over 20 steps'),
      width: WIDTH, height: HEIGHT,
      data: { values: points.map((p) => ({ ...p, run: `${p.model} (${p.stage})` })) },
      transform: [{ window: [{ op: 'mean', field: 'loss', as: 'smoothed' }], frame: [-10, 10], groupby: ['run'], sort: [{ field: 'step' }] }],
      mark: { type: 'line' },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'training step' },
        y: { field: 'smoothed', type: 'quantitative', scale: { type: 'log' }, title: 'loss' },
        color: { field: 'model', type: 'nominal', title: 'model', scale: backendColors(points, 'model'), legend: { labelLimit: 400 } },
        strokeDash: { field: 'stage', type: 'nominal', title: 'stage', scale: { domain: ['diffusion', 'vae'], range: [[1, 0], [5, 3]] } },
        detail: { field: 'run' },
      },
    } as TopLevelSpec,
  }];
}

/** ᾱ and log-SNR against t/T for each schedule. */
export function schedulePlots(schedules: DiscreteSchedule[]): Chart[] {
  const values: { schedule: string; t: number; alphaBar: number; logSnr: number }[] = [];
  for (const s of schedules) {
    // Every step near both ends, where log-SNR bends sharply (cosine falls to −19.8 in its last steps),
    // and every (T/200)-th step between: the curve at full resolution in ~300 points, not T.
    const every = Math.max(1, Math.floor(s.T / 200)), edge = Math.min(50, Math.floor(s.T / 10));
    for (let t = 0; t < s.T; t++) {
      if (t % every !== 0 && t >= edge && t < s.T - edge) continue;
      const a = s.alphasCumprod[t];
      values.push({ schedule: s.name, t: (t + 1) / s.T, alphaBar: a, logSnr: Math.log(a / (1 - a)) });
    }
  }
  const panel = (field: string, title: string) => ({
    width: 300, height: 220,
    mark: { type: 'line' as const },
    encoding: {
      x: { field: 't', type: 'quantitative' as const, title: 't / T' },
      y: { field, type: 'quantitative' as const, title },
      color: { field: 'schedule', type: 'nominal' as const, title: 'schedule' },
    },
  });
  return [{
    name: 'schedules',
    title: 'noise schedules',
    spec: {
      $schema: SCHEMA,
      title: heading('Noise schedules', 'ᾱ_t (signal fraction) and log-SNR = log(ᾱ/(1 − ᾱ))'),
      data: { values },
      hconcat: [panel('alphaBar', 'ᾱ_t'), panel('logSnr', 'log-SNR')],
    } as TopLevelSpec,
  }];
}

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

export interface GridImage { label: string; dataUri: string; width: number; height: number }

/** Sample grids side by side, labelled by backend, sampler and steps. */
export function sampleGrids(images: GridImage[]): Chart[] {
  if (!images.length) return [];
  const size = 230;
  return [{
    name: 'samples',
    title: 'sample grids',
    spec: {
      $schema: SCHEMA,
      title: heading('Samples', 'same seed and initial noise per backend; one grid per grid point'),
      data: { values: images.map((g, i) => ({ label: g.label, url: g.dataUri, col: i % 3, row: Math.floor(i / 3) })) },
      facet: { field: 'label', type: 'nominal', title: null, header: { labelFontSize: 11, labelLimit: size + 40 } },
      columns: 3,
      spec: {
        width: size, height: size,
        mark: { type: 'image', width: size, height: size },
        encoding: { url: { field: 'url', type: 'nominal' } },
      },
    } as unknown as TopLevelSpec,
  }];
}
