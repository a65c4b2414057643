// Pre-registered contrasts: each experiment states, before it runs, which statistic of its rows a
// cited finding predicts and on which side of its reference value (a difference above 0, an AUROC
// below 0.5, an argmin above 1). The verdict follows from this run's interval alone:
//   reproduces    the interval lies entirely on the predicted side;
//   contradicts   it lies entirely on the other side;
//   inconclusive  it holds the reference value.
// FID contrasts use the paired bootstrap over the run's kept features (one real resample and one index
// resample shared by every arm per replicate, the arms drawn from the same seeds and noise), so what
// the arms share cancels; other metrics use their rows' own intervals, treated as independent (for
// arms measured on the same images this overstates the noise: conservative). A contrast that involves
// a model the under-training guard did not pass is shown but not judged.
import { normalQuantile } from '../metrics/bootstrap.js';
import type { GuardResult } from '../metrics/guard.js';
import type { ResultRow } from '../metrics/result-row.js';
import { Rng } from '../util/rng.js';
import { family, finalCheckpointRows } from './vocabulary.js';

/** The grid coordinates an arm selects by (the experiment schema's contrast arm). */
export interface ArmSelector {
  /** one grid backend, or several (an argmin across models, e.g. one model per shift) */
  backend?: string | string[];
  checkpoint?: number | 'final' | 'all';
  /** a sampler name (any of its settings) or full setting label, or a list of full labels */
  sampler?: string | string[];
  steps?: number;
  seed?: number;
  ema?: number;
  shift?: number;
  guidance?: number;
  dim?: number;
  objective?: string;
}

export interface ContrastSpec {
  name: string;
  metric: string;
  statistic: 'difference' | 'ratio' | 'argmin' | 'steps-to-target' | 'auroc';
  a: ArmSelector;
  b?: ArmSelector;
  over?: string;
  than?: number;
  target?: number;
  predicts: 'above' | 'below';
  source?: string;
}

export type ContrastVerdict = 'reproduces' | 'contradicts' | 'inconclusive' | `not judged: ${string}` | `not measured: ${string}`;

export interface ContrastResult {
  name: string;
  /** the statistic in words, e.g. "fid@lenet-mnist(f1) − fid@lenet-mnist(f4)" */
  statistic: string;
  value?: number;
  low?: number;
  high?: number;
  reference: number;
  predicts: 'above' | 'below';
  verdict: ContrastVerdict;
  /** how the interval was computed, the feature space, and how many training seeds it rests on */
  basis: string;
  /** each arm's values that entered */
  detail: string;
  source?: string;
  /** per feature space where the metric exists in several */
  spaces?: { metric: string; verdict: ContrastVerdict; value?: number; low?: number; high?: number }[];
}

export interface ContrastContext {
  guards?: GuardResult[];
  /** paired bootstrap replicates of these points' FIDs in one feature network's space (undefined where the features were not kept) */
  paired?: (points: string[], net?: string) => { values: number[]; replicates: number[][] } | undefined;
  /** replicates for the parametric fallback, and its seed */
  replicates?: number;
  seed?: number;
}

const REFERENCE = { difference: 0, ratio: 1, auroc: 0.5, 'steps-to-target': 0, argmin: 0 } as const;
const f3 = (v: number) => (!Number.isFinite(v) ? (v > 0 ? '∞' : '−∞') : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** The value of a row field an arm can select by or an argmin run over. */
function field(r: ResultRow, k: string): unknown {
  if (k === 'checkpoint') return r.train_step;
  // Rows record a shift only where it is not 1.
  if (k === 'shift') return r.shift ?? 1;
  return (r as unknown as Record<string, unknown>)[k];
}

/** Whether a row's field matches an arm's value: a list of backends, a sampler by name or full label. */
function matches(r: ResultRow, k: string, v: unknown): boolean {
  // A model block with training seeds is named by its replicas' rows' `model`.
  if (k === 'backend') return (Array.isArray(v) ? v : [v]).some((b) => r.backend === b || r.model === b);
  if (k === 'sampler' && Array.isArray(v)) return v.includes(r.sampler);
  if (k === 'sampler' && typeof v === 'string' && r.sampler) return r.sampler === v || r.sampler.startsWith(`${v}(`);
  return field(r, k) === v;
}

/** The rows of one metric an arm selects. */
export function armRows(all: ResultRow[], final: ResultRow[], metric: string, sel: ArmSelector): ResultRow[] {
  const base = sel.checkpoint === 'all' || typeof sel.checkpoint === 'number' ? all : final;
  return base.filter((r) => r.metric === metric && Object.entries(sel).every(([k, v]) => {
    if (v === undefined || (k === 'checkpoint' && (v === 'final' || v === 'all'))) return true;
    return matches(r, k, v);
  }));
}

const describeArm = (sel: ArmSelector) => Object.entries(sel).filter(([, v]) => v !== undefined).map(([k, v]) => (k === 'backend' ? (Array.isArray(v) ? v.join('/') : String(v)) : `${k} ${Array.isArray(v) ? `[${v.length} settings]` : v}`)).join(', ') || 'all rows';

/** The first step at which a curve of (step, value) reaches `target` (value ≤ target), linear between checkpoints; ∞ if never. */
export function stepsToTarget(points: { step: number; value: number }[], target: number): number {
  const p = [...points].sort((x, y) => x.step - y.step);
  for (let i = 0; i < p.length; i++) {
    if (p[i].value <= target) {
      if (i === 0) return p[0].step;
      const a = p[i - 1], b = p[i];
      return a.step + ((a.value - target) / (a.value - b.value)) * (b.step - a.step);
    }
  }
  return Infinity;
}

/** How an arm's rows become one number: the value itself, the argmin over a field, or steps-to-target. */
interface ArmPlan { rows: ResultRow[]; reduce(values: number[]): number; text(values: number[]): string }

function plan(spec: ContrastSpec, rows: ResultRow[], arm: 'a' | 'b'): ArmPlan | string {
  const name = describeArm(spec[arm]!);
  if (!rows.length) return `arm ${arm} (${name}) has no ${spec.metric} rows`;
  if (spec.statistic === 'argmin') {
    const key = spec.over!, xs = rows.map((r) => field(r, key));
    if (xs.some((x) => typeof x !== 'number')) return `arm ${arm} (${name}): rows without a numeric '${key}'`;
    if (new Set(xs).size !== xs.length) return `arm ${arm} (${name}) has ${rows.length} rows for ${new Set(xs).size} values of ${key}: select one sampler/steps/seed`;
    return { rows, reduce: (v) => xs[v.indexOf(Math.min(...v))] as number, text: (v) => `${name}: ${rows.map((r, i) => `${key} ${xs[i]} → ${f3(v[i])}`).join(', ')}` };
  }
  if (spec.statistic === 'steps-to-target') {
    const steps = rows.map((r) => r.train_step);
    if (steps.some((s) => s == null)) return `arm ${arm} (${name}): rows without a training step`;
    if (new Set(steps).size !== steps.length) return `arm ${arm} (${name}) has several rows per checkpoint: select one sampler/steps/seed`;
    return { rows, reduce: (v) => stepsToTarget(v.map((value, i) => ({ step: steps[i]!, value })), spec.target!), text: (v) => `${name}: ${rows.map((r, i) => `step ${steps[i]} → ${f3(v[i])}`).join(', ')}` };
  }
  if (rows.length !== 1) return `arm ${arm} (${name}) matches ${rows.length} rows of ${rows[0].metric}: add sampler, steps, seed or checkpoint to pick one`;
  return { rows, reduce: (v) => v[0], text: (v) => `${name} ${f3(v[0])}` };
}

/** Replicates of the arms' values: the paired bootstrap for FID, else draws from each row's own interval. */
function replicatesOf(rows: ResultRow[], metric: string, ctx: ContrastContext): { values: number[]; replicates: number[][]; method: string } | string {
  if (family(metric) === 'fid' && ctx.paired) {
    const p = ctx.paired(rows.map((r) => r.point), metric.split('@')[1]);
    if (p) return { ...p, method: `paired bootstrap (${p.replicates.length} resamples; same seeds and noise across arms, one real resample per replicate)` };
  }
  const z = normalQuantile(0.975);
  const se = rows.map((r) => (r.ci_low != null && r.ci_high != null ? (r.ci_high - r.ci_low) / (2 * z) : r.std ?? undefined));
  if (se.some((s) => s === undefined || !Number.isFinite(s))) return `${metric} rows without an interval or standard error`;
  const rng = new Rng(ctx.seed ?? 0), B = ctx.replicates ?? 1000;
  const replicates = Array.from({ length: B }, () => rows.map((r, i) => r.value + se[i]! * rng.normal()));
  return { values: rows.map((r) => r.value), replicates, method: `each row's own interval as a normal error, arms independent (${B} draws)` };
}

function sideOf(low: number, high: number, ref: number): 'above' | 'below' | undefined {
  return low > ref ? 'above' : high < ref ? 'below' : undefined;
}

/** An arm's rows split by training seed (rows without one form a single group), seeds in order. */
function bySeed(rows: ResultRow[]): ResultRow[][] {
  const seeds = [...new Set(rows.map((r) => r.train_seed ?? null))].sort((a, b) => (a ?? -Infinity) - (b ?? -Infinity));
  return seeds.map((sd) => rows.filter((r) => (r.train_seed ?? null) === sd));
}

/** t_{df}(0.975): exact for df ≤ 30 (table), then the Cornish–Fisher expansion (error < 1e-4). */
export function t975(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  if (df <= 30) return table[Math.max(1, Math.round(df)) - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df);
}

interface MetricContrast { value: number; low: number; high: number; ref: number; verdict: ContrastVerdict; detail: string; method: string; rows: ResultRow[]; seeds: number }

/** The contrast on one metric (one feature space). */
function onMetric(spec: ContrastSpec, metric: string, all: ResultRow[], final: ResultRow[], ctx: ContrastContext): MetricContrast | { error: string } {
  // Steps-to-target reads every checkpoint unless an arm says otherwise.
  const sel = (s: ArmSelector) => (spec.statistic === 'steps-to-target' && s.checkpoint === undefined ? { ...s, checkpoint: 'all' as const } : s);
  const groupsA = bySeed(armRows(all, final, metric, sel(spec.a)));
  const groupsB = spec.b ? bySeed(armRows(all, final, metric, sel(spec.b))) : [];
  const plans: { arm: 'a' | 'b'; plans: ArmPlan[] }[] = [];
  for (const [arm, groups] of [['a', groupsA], ...(spec.b ? [['b', groupsB]] : [])] as ['a' | 'b', ResultRow[][]][]) {
    if (!groups.length) return { error: `arm ${arm} (${describeArm(spec[arm]!)}) has no ${metric} rows` };
    const ps = groups.map((g) => plan(spec, g, arm));
    const bad = ps.find((x) => typeof x === 'string');
    if (bad) return { error: bad as string };
    plans.push({ arm, plans: ps as ArmPlan[] });
  }
  const ref = spec.statistic === 'argmin' && !spec.b ? spec.than! : REFERENCE[spec.statistic];
  const seeds = Math.min(...plans.map((p) => p.plans.length));
  const r = seeds > 1 || plans.some((p) => p.plans.length > 1) ? seedLevel(spec, plans, metric, ref, ctx) : sampleLevel(spec, plans, metric, ref, ctx);
  if ('error' in r) return r;
  const side = sideOf(r.low, r.high, ref);
  const verdict: ContrastVerdict = !side ? 'inconclusive' : side === spec.predicts ? 'reproduces' : 'contradicts';
  return { ...r, ref, verdict, seeds };
}

/** The statistic of the arms' values (each arm already reduced to one number). */
function combine(spec: ContrastSpec, a: number, b: number | undefined): number {
  switch (spec.statistic) {
    case 'ratio': return a / b!;
    case 'auroc': return a;
    case 'argmin': return b === undefined ? a : a - b;
    default: { const d = a - b!; return Number.isNaN(d) ? 0 : d; }
  }
}

/** The interval of a statistic from its replicates: percentile for argmin/steps, log scale for a ratio, else normal with `scale` on the replicates' sd. */
function intervalOf(spec: ContrastSpec, value: number, draws: number[], q = 1.959964): { low: number; high: number } {
  if (spec.statistic === 'argmin' || spec.statistic === 'steps-to-target') {
    // Discrete or unbounded (a target never reached is ∞): the percentile interval.
    const s = [...draws].sort((x, y) => x - y), at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
    return { low: at(0.025), high: at(0.975) };
  }
  const log = spec.statistic === 'ratio';
  const v = log ? Math.log(value) : value, d = log ? draws.map(Math.log) : draws;
  const m = d.reduce((x, y) => x + y, 0) / d.length, sd = Math.sqrt(d.reduce((x, y) => x + (y - m) ** 2, 0) / Math.max(1, d.length - 1));
  const lo = v - q * sd, hi = v + q * sd;
  return log ? { low: Math.exp(lo), high: Math.exp(hi) } : { low: lo, high: hi };
}

/** One training seed: the sampling noise, from the paired bootstrap (FID) or the rows' intervals. */
function sampleLevel(spec: ContrastSpec, plans: { arm: 'a' | 'b'; plans: ArmPlan[] }[], metric: string, _ref: number, ctx: ContrastContext) {
  const pa = plans[0].plans[0], pb = plans[1]?.plans[0];
  const rows = [...pa.rows, ...(pb?.rows ?? [])], k = pa.rows.length;
  const stat = (v: number[]) => combine(spec, pa.reduce(v.slice(0, k)), pb?.reduce(v.slice(k)));
  const reps = replicatesOf(rows, metric, ctx);
  if (typeof reps === 'string') return { error: reps };
  const value = stat(reps.values);
  let { low, high } = intervalOf(spec, value, reps.replicates.map(stat));
  let method = reps.method;
  if (spec.statistic === 'auroc' && rows[0].ci_low != null && rows[0].ci_high != null) {
    low = rows[0].ci_low; high = rows[0].ci_high;
    method = "the row's own 95% interval (bootstrap over the test images)";
  }
  const detail = [pa.text(reps.values.slice(0, k)), ...(pb ? [pb.text(reps.values.slice(k))] : [])].join('; ');
  return { value, low, high, detail, method, rows };
}

/**
 * Several training seeds: each seed's estimate already carries its sampling noise, so the seeds are
 * the replicates. Each arm is the mean over its seeds (per axis value for an argmin or a curve); the
 * bootstrap resamples seeds (jointly by position where both arms list the same seeds, so a seed's
 * shared sampling noise still cancels), and the interval is t_{k−1} times the bootstrap sd scaled by
 * √(k/(k−1)): the t interval of a mean of k values, which the bootstrap alone understates for few k.
 * Resampling samples within seeds as well would count the sampling noise twice.
 */
function seedLevel(spec: ContrastSpec, plans: { arm: 'a' | 'b'; plans: ArmPlan[] }[], metric: string, _ref: number, ctx: ContrastContext) {
  const arms = plans.map((p) => {
    const vals = p.plans.map((pl) => pl.rows.map((r) => r.value));
    const len = vals[0].length;
    if (vals.some((v) => v.length !== len)) return { error: `arm ${p.arm}: its training seeds have different numbers of ${metric} rows` };
    return { p, vals, seeds: p.plans.map((pl) => pl.rows[0].train_seed ?? null) };
  });
  const bad = arms.find((a) => 'error' in a);
  if (bad) return bad as { error: string };
  const ok = arms as { p: { arm: 'a' | 'b'; plans: ArmPlan[] }; vals: number[][]; seeds: (number | null)[] }[];
  const meanOf = (vals: number[][], idx: number[]) => vals[0].map((_, j) => idx.reduce((s, i) => s + vals[i][j], 0) / idx.length);
  const reduceArm = (a: typeof ok[number], idx: number[]) => a.p.plans[0].reduce(meanOf(a.vals, idx));
  const all = (a: typeof ok[number]) => a.vals.map((_, i) => i);
  const value = combine(spec, reduceArm(ok[0], all(ok[0])), ok[1] ? reduceArm(ok[1], all(ok[1])) : undefined);
  const joint = ok.length === 2 && JSON.stringify(ok[0].seeds) === JSON.stringify(ok[1].seeds);
  const rng = new Rng(ctx.seed ?? 0), B = ctx.replicates ?? 2000;
  const draw = (n: number) => Array.from({ length: n }, () => rng.int(n));
  const draws: number[] = [];
  for (let b = 0; b < B; b++) {
    const ia = draw(ok[0].vals.length), ib = ok[1] ? (joint ? ia : draw(ok[1].vals.length)) : undefined;
    draws.push(combine(spec, reduceArm(ok[0], ia), ok[1] ? reduceArm(ok[1], ib!) : undefined));
  }
  const k = Math.min(...ok.map((a) => a.vals.length));
  const { low, high } = intervalOf(spec, value, draws, k > 1 ? t975(k - 1) * Math.sqrt(k / (k - 1)) : 1.959964);
  const detail = ok.map((a) => `${describeArm(spec[a.p.arm]!)}: ${a.vals.map((v, i) => `seed ${a.seeds[i] ?? '-'} ${v.map(f3).join('/')}`).join(', ')}`).join('; ');
  const method = `${k} training seeds resampled (${B} draws${joint ? ', paired by seed' : ''}); interval t(${k - 1}) × bootstrap sd × √(k/(k−1)); each seed's value carries its own sampling noise`;
  return { value, low, high, detail, method, rows: ok.flatMap((a) => a.p.plans.flatMap((pl) => pl.rows)) };
}

function statisticText(spec: ContrastSpec): string {
  const a = describeArm(spec.a), b = spec.b ? describeArm(spec.b) : '';
  switch (spec.statistic) {
    case 'difference': return `${spec.metric}(${a}) − ${spec.metric}(${b})`;
    case 'ratio': return `${spec.metric}(${a}) ÷ ${spec.metric}(${b})`;
    case 'auroc': return `${spec.metric}(${a}) against 0.5`;
    case 'argmin': return spec.b ? `argmin over ${spec.over} of ${spec.metric}: (${a}) − (${b})` : `argmin over ${spec.over} of ${spec.metric}(${a}) against ${spec.than}`;
    case 'steps-to-target': return `training steps to ${spec.metric} ≤ ${spec.target}: (${a}) − (${b})`;
  }
}

/** Every contrast of an experiment on this run's rows. */
export function computeContrasts(specs: ContrastSpec[], allRows: ResultRow[], ctx: ContrastContext = {}): ContrastResult[] {
  const final = finalCheckpointRows(allRows);
  const failed = (ctx.guards ?? []).filter((g) => !g.passed);
  const seedText = (k: number) => (k === 1 ? 'one training seed: sampling noise only' : `rests on ${k} training seeds`);
  const seedNote = seedText(1);
  return specs.map((spec) => {
    const metrics = [...new Set(allRows.filter((r) => r.metric === spec.metric || family(r.metric) === spec.metric).map((r) => r.metric))].sort();
    const base = { name: spec.name, statistic: statisticText(spec), reference: spec.statistic === 'argmin' && !spec.b ? spec.than! : REFERENCE[spec.statistic], predicts: spec.predicts, ...(spec.source ? { source: spec.source } : {}) };
    if (!metrics.length) return { ...base, verdict: `not measured: no ${spec.metric} rows in this run`, basis: seedNote, detail: '' } as ContrastResult;
    const per = metrics.map((m) => ({ metric: m, r: onMetric(spec, m, allRows, final, ctx) }));
    const bad = per.find((p) => 'error' in p.r);
    if (bad) return { ...base, verdict: `not measured: ${(bad.r as { error: string }).error}`, basis: seedNote, detail: '' } as ContrastResult;
    const ok = per.map((p) => ({ metric: p.metric, ...(p.r as Exclude<typeof p.r, { error: string }>) }));
    // Several feature spaces must agree; otherwise the contrast is inconclusive.
    const verdicts = new Set(ok.map((o) => o.verdict));
    let verdict: ContrastVerdict = verdicts.size === 1 ? ok[0].verdict : 'inconclusive';
    // Reconstruction rows (an autoencoder's rFID, PSNR) do not depend on the diffusion stage the guard judges.
    const models = new Set(ok.flatMap((o) => o.rows.filter((r) => !r.point.includes('|recon|')).map((r) => r.backend)));
    const blocking = failed.filter((g) => models.has(g.model));
    // The guard's reasons are in the report's box; the verdict names the models.
    if (blocking.length) verdict = `not judged: ${blocking.map((g) => g.model).join(', ')} not shown to be trained out (under-training guard); the interval alone reads ${verdict}`;
    const first = ok[0];
    return {
      ...base, value: first.value, low: first.low, high: first.high, verdict,
      basis: `${first.method}; ${metrics.length > 1 ? `feature spaces ${metrics.join(', ')} (a verdict needs them to agree)${verdicts.size > 1 ? ': they disagree' : ''}` : `on ${first.metric}`}; ${seedText(first.seeds)}`,
      detail: ok.map((o) => (ok.length > 1 ? `${o.metric}: ${o.detail}` : o.detail)).join(' | '),
      ...(ok.length > 1 ? { spaces: ok.map((o) => ({ metric: o.metric, verdict: o.verdict, value: o.value, low: o.low, high: o.high })) } : {}),
    };
  });
}

/** A contrast's value with its interval, as the report prints it. */
export function contrastValueText(c: ContrastResult): string {
  if (c.value === undefined) return '—';
  return `${f3(c.value)} [${f3(c.low!)}, ${f3(c.high!)}] (95%; predicted ${c.predicts} ${c.reference})`;
}
