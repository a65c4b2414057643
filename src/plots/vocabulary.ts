// The chart vocabulary every chart family shares: one colour, shape and dash per sampler and backend,
// headings, the floor and interval layers, metric labels, and the rows of each model's final checkpoint.
import type { TopLevelSpec } from 'vega-lite';
import { SAMPLER_NAMES } from '../diffusion/samplers/index.js';
import type { ResultRow } from '../metrics/result-row.js';

export interface Chart {
  /** file stem: charts/<name>.vl.json, .svg, .png */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const WIDTH = 360, HEIGHT = 240;

// One colour, shape and dash per sampler and per backend in every chart, report and notebook: scales
// with fixed ranges, samplers indexed by the registry (a label's options keep its base sampler's
// look), the backends pixel/latent/analytic fixed and other model names by a stable hash.
export const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d', '#ff9da6', '#bab0ac', '#1b9e77', '#7570b3', '#d95f02', '#66a61e', '#e7298a', '#393b79'];
// Every shape a solid, visible area at chart size (a 'wedge' or thin 'triangle' showed only its error
// bar); the eighth and ninth are a four-point star and a hexagon drawn as SVG paths.
export const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left',
  'M0,-1L0.35,-0.35L1,0L0.35,0.35L0,1L-0.35,0.35L-1,0L-0.35,-0.35Z', 'M-0.5,-0.87L0.5,-0.87L1,0L0.5,0.87L-0.5,0.87L-1,0Z'];
export const DASHES = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4], [10, 2], [1, 3], [6, 2, 2, 2], [3, 6], [12, 4], [2, 6], [5, 1]];
export const KNOWN_BACKENDS = ['pixel', 'latent', 'analytic'];
/**
 * A line layer and a point layer over the same data: the dash legend then comes from a pure line
 * mark and shows the dashes (over Vega-Lite's line-with-points marks its symbols stay blank), the
 * shape legend from the points.
 */
export function linesWithPoints(l: { mark: unknown; encoding: Record<string, unknown> } & Record<string, unknown>): object[] {
  const { strokeDash, shape, ...rest } = l.encoding;
  return [
    { ...l, mark: { type: 'line' }, encoding: { ...rest, ...(strokeDash ? { strokeDash } : {}) } },
    { ...l, mark: { type: 'point', filled: true, size: 45, opacity: 1 }, encoding: { ...rest, ...(shape ? { shape } : {}) } },
  ];
}

export function stableIndex(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

export const samplerIndex = (label: string) => {
  const i = SAMPLER_NAMES.indexOf(label.split('(')[0].split(' ')[0]);
  return i >= 0 ? i : stableIndex(label);
};
export const backendIndex = (name: string) => {
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

export const domainOf = (values: readonly object[], field: string) => [...new Set(values.map((v) => String((v as Record<string, unknown>)[field])))].sort();

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

/**
 * A metric's part of a chart's file name: its family on the LeNet (the names earlier runs used), the
 * family and the network otherwise, so two feature spaces' charts do not overwrite each other.
 */
export const chartKey = (metric: string) => {
  const [fam, net] = metric.split('@');
  return !net || net.startsWith('lenet') ? fam : `${fam}-${net.replace(/[^\w.-]+/g, '_')}`;
};

/** The metric family: 'fid@lenet-mnist' → 'fid'. */
export const family = (metric: string) => metric.split('@')[0];

export function qualityMetrics(rows: ResultRow[]): string[] {
  return [...new Set(rows.filter((r) => ['fid', 'fid_inf', 'kid'].includes(family(r.metric))).map((r) => r.metric))].sort();
}

/** The real-data floor of each metric (src/metrics/floors.ts), as charts draw it. */
export type Floors = Record<string, { value: number; low?: number; high?: number; n: number }>;

/**
 * The layers every FID/KID chart adds to its own: 95% intervals as error bars where the rows have
 * them, and the metric's floor (real training images against the same reference) as a solid grey
 * rule, so that it is never read as one of the dashed series.
 */
export function intervalAndFloor(metric: string, values: Record<string, unknown>[], x: Record<string, unknown>, floors: Floors | undefined, keys: string[]): object[] {
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
    layers.push({ data: { values: [{ floor: f.value, text }] }, mark: { type: 'rule', color: FLOOR_COLOR, strokeWidth: 2 }, encoding: { y: { field: 'floor', type: 'quantitative', title: label(metric) } } });
    layers.push({ data: { values: [{ floor: f.value, text }] }, mark: { type: 'text', align: 'left', dx: 4, dy: -6, fontSize: 10, color: '#333' }, encoding: { x: { value: 0 }, y: { field: 'floor', type: 'quantitative', title: label(metric) }, text: { field: 'text' } } });
  }
  return layers;
}

export const CI_NOTE = 'bars: 95% bootstrap interval; grey line: real-data floor';
/** A metric's short name for chart titles: FID, FID∞, KID. */
export const shortName = (metric: string) => (family(metric) === 'fid_inf' ? 'FID∞' : family(metric).toUpperCase());
/** The interval note of a metric's chart: FID∞'s interval is the delta method's, the others the bootstrap's. */
export const ciNote = (metric: string) => (family(metric) === 'fid_inf' ? "bars: 95% interval of the population FID (delta method); grey line: the real-data floor's FID∞ (0 within its interval when train and test images share a distribution)" : family(metric) === 'fid' ? `${CI_NOTE}; FID at this n` : CI_NOTE);
/** The floor's colour: a solid grey line in every chart. */
export const FLOOR_COLOR = '#9a9a9a';

export function label(m: string): string {
  const net = m.split('@')[1] ?? '';
  switch (family(m)) {
    case 'fid': return `FID (${net} features)`;
    case 'fid_inf': return `FID∞ (${net} features)`;
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

/**
 * Rows of each backend's final checkpoint only (the newest train_step seen for it), for the charts
 * that compare finished models; rows without a train_step (analytic, older runs) are kept.
 */
export function finalCheckpointRows(rows: ResultRow[]): ResultRow[] {
  const last = new Map<string, number>();
  for (const r of rows) if (r.train_step != null) last.set(r.backend, Math.max(last.get(r.backend) ?? -Infinity, r.train_step));
  return rows.filter((r) => r.train_step == null || r.train_step === last.get(r.backend));
}
