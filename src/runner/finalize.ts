// A run's last stage: join the shard files into metrics.jsonl, then the charts that the registry's
// measurements (and the run itself) draw from the rows, the under-training guard, the claims and
// report.html.
import fs from 'node:fs';
import path from 'node:path';
import { getObjective } from '../diffusion/objectives/index.js';
import { discreteSchedule, type DiscreteSchedule } from '../diffusion/schedules.js';
import { normal, pairedFidReplicates } from '../metrics/bootstrap.js';
import { FID_INF_MIN_RATIO } from '../metrics/fid-infinity.js';
import { trainingGuard, type GuardResult } from '../metrics/guard.js';
import type { ResultRow } from '../metrics/result-row.js';
import { buildClaims, type ClaimContext } from '../plots/claims.js';
import { computeContrasts, type ContrastResult } from '../plots/contrasts.js';
import { collapseSeeds } from '../plots/seeds.js';
import { writeCharts } from '../plots/render.js';
import { renderReport } from '../plots/report.js';
import { family, finalCheckpointRows, lossCurves, sampleGrids, schedulePlots, withSource, type Chart, type Floors, type GridImage } from '../plots/specs.js';
import { lossLog } from '../train/loss-log.js';
import { readJsonFile, writeFileAtomic } from '../util/fs.js';
import { matrix, type Matrix } from '../util/linalg.js';
import { readNpy } from '../util/npy.js';
import type { ResolvedExperiment } from './config.js';
import { fmtSeconds } from './context.js';
import { gridPoints } from './grid.js';
import { gitCommit, metricsFile, resultFiles } from './location.js';
import { MEASUREMENTS } from './measurements/index.js';
import { featureFile, safeFileName } from './measurements/common.js';
import type { ChartFamily, ChartInput } from './measurements/types.js';
import { modelBackends, resolveModelDir } from './models.js';
import { completePoints, joinResults, lockResults, readRows, writeRows } from './results.js';

/** Charts of the run as a whole, after the measurements' own: training loss, schedules, sample grids. */
export const RUN_CHARTS: readonly ChartFamily[] = [
  { name: 'loss', byDefault: true, draw: (c) => lossCurves(c.losses) },
  { name: 'schedules', byDefault: true, draw: (c) => schedulePlots(runSchedules(c.exp)) },
  { name: 'samples', byDefault: true, draw: (c) => sampleGrids(c.grids) },
];

/**
 * The noise schedules a run's report draws: those its models were trained with (rectified flows and
 * EDM models have none), or, for an experiment without models, those its `schedules` block lists.
 */
export function runSchedules(exp: ResolvedExperiment): DiscreteSchedule[] {
  const models = Object.values(exp.models);
  if (!models.length) return exp.schedules ? exp.schedules.names.map((n) => discreteSchedule(n, { T: exp.schedules!.T })) : [];
  const seen = new Map<string, DiscreteSchedule>();
  for (const m of models) {
    // An objective that uses a discrete schedule defaults to the linear one (T = 1000) when none is written.
    const s = m.diffusion.schedule === undefined && getObjective(m.diffusion.objective.name).usesSchedule ? { name: 'linear' as const, T: 1000, zeroTerminalSnr: false } : m.diffusion.schedule;
    if (!s) continue;
    const key = JSON.stringify(s);
    if (!seen.has(key)) seen.set(key, discreteSchedule(s.name, { T: s.T, zeroTerminalSnr: s.zeroTerminalSnr }));
  }
  return [...seen.values()];
}

/**
 * The chart families a run draws, in report order: those of the measurements its grid has points of,
 * then the run's own; the experiment's `charts:` list where it gives one, else each family's default.
 */
export function chartFamilies(exp: ResolvedExperiment): ChartFamily[] {
  const kinds = new Set(gridPoints(exp).map((p) => p.kind));
  const want = exp.charts ? new Set<string>(exp.charts) : undefined;
  return [...MEASUREMENTS.filter((m) => kinds.has(m.kind)).flatMap((m) => m.charts), ...RUN_CHARTS].filter((f) => (want ? want.has(f.name) : f.byDefault));
}

/** Joins shard files into metrics.jsonl (grid order, one row per point and metric), then charts and report. */
export async function mergeShards(dir: string, log: (l: string) => void = (l) => process.stderr.write(l + '\n')): Promise<ResultRow[]> {
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new Error(`${dir}: not a run directory (no config.json)`);
  const lock = lockResults(metricsFile(dir), log);
  try {
    const rows = joinInto(dir, log);
    const exp = readJsonFile<ResolvedExperiment>(cfgFile, "the run's resolved experiment");
    await finalize(dir, exp, path.dirname(path.dirname(dir)), log);
    return rows;
  } finally {
    lock.release();
  }
}

/**
 * Joins every complete point of a run directory's result files (metrics.jsonl and the shards) into
 * metrics.jsonl, each point once, in grid order; the shard files are kept.
 */
export function joinInto(dir: string, log: (l: string) => void): ResultRow[] {
  const order = readJsonFile<string[]>(path.join(dir, 'points.json'), "the grid's point keys");
  const files = resultFiles(dir);
  const { rows, complete } = joinResults(files, order);
  const missing = order.filter((k) => !complete.has(k));
  writeRows(metricsFile(dir), rows);
  log(`[merge] ${files.length} file(s), ${rows.length} rows, ${order.length - missing.length}/${order.length} grid points${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
  return rows;
}

/**
 * Paired bootstrap replicates over a run's grid points from their kept features in one feature space
 * (features/<point>@<net>.npy, or <point>.npy in runs written with one network) and the real
 * reference's (features/real-<net>.npy): one real resample and one index resample shared by all
 * points per replicate; undefined where a point's features were not kept.
 */
function pairedReplicatesFrom(dir: string, exp: ResolvedExperiment): (points: string[], net?: string) => { values: number[]; replicates: number[][] } | undefined {
  const fdir = path.join(dir, 'features');
  const reals = fs.existsSync(fdir) ? fs.readdirSync(fdir).filter((f) => f.startsWith('real-')).sort() : [];
  // Each feature file is read once, however many comparisons use it.
  const loaded = new Map<string, Matrix>();
  const load = (f: string) => {
    if (!loaded.has(f)) { const a = readNpy(f); loaded.set(f, matrix(a.shape[0], a.shape[1], a.data)); }
    return loaded.get(f)!;
  };
  return (points, net) => {
    // The network: the one named, else the run's only (or first) one.
    const real = net ? `real-${net}.npy` : reals[0];
    if (!real || !reals.includes(real)) return undefined;
    const name = real.slice('real-'.length, -'.npy'.length);
    const file = (p: string) => [featureFile(dir, p, name), ...(reals.length === 1 ? [path.join(fdir, `${safeFileName(p)}.npy`)] : [])].find((f) => fs.existsSync(f));
    const files = points.map(file);
    if (files.some((f) => !f)) return undefined;
    return pairedFidReplicates(load(path.join(fdir, real)), files.map((f) => load(f!)), { replicates: exp.eval.bootstrap, seed: exp.seed });
  };
}

/** The claims' paired statistic: `stat` of the points' FIDs in a network's space with its normal bootstrap interval. */
function pairedFrom(dir: string, exp: ResolvedExperiment): ClaimContext['paired'] {
  const reps = pairedReplicatesFrom(dir, exp);
  return (points, stat, net) => {
    const r = reps(points, net);
    if (!r) return undefined;
    const value = stat(r.values);
    return { value, ...normal(value, r.replicates.map(stat), 0.95), replicates: r.replicates.length };
  };
}

/** The run's sample grids (samples/*.png) as data URIs, scaled to about 320 px. */
function sampleGridImages(dir: string): GridImage[] {
  const sdir = path.join(dir, 'samples');
  if (!fs.existsSync(sdir)) return [];
  return fs.readdirSync(sdir).filter((x) => x.endsWith('.png')).sort().map((f) => {
    const buf = fs.readFileSync(path.join(sdir, f));
    const w = buf.readUInt32BE(16), h = buf.readUInt32BE(20);
    const scale = Math.max(1, Math.floor(320 / Math.max(w, h)));
    return { label: f.replace(/\.png$/, '').replace(/_/g, ' '), dataUri: `data:image/png;base64,${buf.toString('base64')}`, width: w * scale, height: h * scale };
  });
}

/** The rows, floors, losses and sample grids the charts, guard and claims read. */
function chartInput(dir: string, exp: ResolvedExperiment, root: string): ChartInput {
  const allRows = readRows(path.join(dir, 'metrics.jsonl'));
  const floorsFile = path.join(dir, 'floors.json');
  return {
    dir, exp, allRows,
    // Charts of finished models use each model's final checkpoint; earlier ones feed the compute chart.
    rows: finalCheckpointRows(allRows),
    floors: fs.existsSync(floorsFile) ? readJsonFile<Floors>(floorsFile, 'the metric floors') : undefined,
    losses: Object.keys(exp.models).flatMap((name) => lossLog(resolveModelDir(exp, name, root), name)),
    grids: sampleGridImages(dir),
  };
}

/**
 * The under-training guard for every trained model of the grid: its diffusion loss log, and, where
 * the grid scores FID, its best FID∞ among its final checkpoint's rows (or why it has none).
 */
function guards(input: ChartInput): GuardResult[] {
  const out: GuardResult[] = [];
  const bars = { margin: input.exp.eval.guardMargin, quality: input.exp.eval.guardQuality };
  for (const name of modelBackends(input.exp)) {
    const fids = input.rows.filter((r) => r.backend === name && family(r.metric) === 'fid');
    // A model the grid scores without FID (bits/dim, OOD) is still checked on its loss.
    if (!fids.length) {
      out.push(trainingGuard(name, input.losses.filter((l) => l.model === name && l.stage === 'diffusion'), undefined, bars, null));
      continue;
    }
    const inf = input.rows.filter((r) => r.backend === name && family(r.metric) === 'fid_inf' && r.ci_high != null && r.reference_variance != null);
    const best = inf.length ? inf.reduce((a, b) => (b.value < a.value ? b : a)) : undefined;
    const quality = best ? { metric: best.metric, value: best.value, low: best.ci_low!, high: best.ci_high!, scale: best.reference_variance! } : undefined;
    // The FID row says why it has no FID∞ (too few images for the feature dimension).
    const note = fids.flatMap((r) => r.notes ?? []).find((x) => x.startsWith('no FID∞'));
    const missing = note ?? `no FID∞ to judge its quality n-free (rows written before FID∞ existed, or fewer than ${FID_INF_MIN_RATIO}× the feature dimension in images)`;
    out.push(trainingGuard(name, input.losses.filter((l) => l.model === name && l.stage === 'diffusion'), quality, bars, missing));
  }
  return out;
}

/** Marks the contrasts that differ from those declared when the run started (contrasts.json). */
function markLate(dir: string, exp: ResolvedExperiment, results: ContrastResult[]): ContrastResult[] {
  const f = path.join(dir, 'contrasts.json');
  const declared = fs.existsSync(f) ? readJsonFile<{ declared: string; contrasts: unknown[] }>(f, 'the contrasts declared at the start of the run') : undefined;
  const before = new Set((declared?.contrasts ?? []).map((c) => JSON.stringify(c)));
  return results.map((r, i) => (declared && !before.has(JSON.stringify(exp.contrasts[i]))
    ? { ...r, basis: `${r.basis}; declared or changed after this run started (${declared.declared}): not pre-registered` }
    : r));
}

/** Notes for the metrics this run has. */
function metricNotes(allRows: ResultRow[]): string[] {
  return [
    ...(allRows.some((r) => r.metric.includes('@lenet')) ? ['FID/KID/precision/recall are computed on difflab\'s own per-dataset LeNet features (metric@network): they rank models like Inception-FID but are not comparable to published Inception numbers.'] : []),
    ...(allRows.some((r) => r.metric.startsWith('bits_per_dim')) ? ['bits/dim are upper bounds on −log₂ P(x)/D of the 8-bit test pixels for both backends (see each row\'s notes in metrics.jsonl for offsets and estimators).'] : []),
    ...(allRows.some((r) => r.metric === 'path-rms') ? ['Sampler error on the exact mixture: the median per-sample distance shows a sampler\'s order; the RMS is dominated by the few paths that end in another mode than the exact solution (mode-switches).'] : []),
  ];
}

/** Charts (.vl.json, .svg, .png) and report.html for a run directory's metrics.jsonl. */
export async function finalize(dir: string, exp: ResolvedExperiment, root: string, log: (l: string) => void): Promise<void> {
  const input = chartInput(dir, exp, root);
  const families = chartFamilies(exp);
  // The paper's figure is named under the charts that reproduce it, the measurements' own; not under
  // the training loss, the schedules or the sample grids.
  // Training-seed replicas are drawn as one series each, with their across-seed interval.
  const drawn = { ...input, rows: collapseSeeds(input.rows), allRows: collapseSeeds(input.allRows) };
  const charts: Chart[] = families.flatMap((f) => f.draw(drawn).map((c) => (exp.paper && !RUN_CHARTS.includes(f) ? withSource(c, `${exp.paper.cite}, ${exp.paper.figure}`) : c)));
  await writeCharts(path.join(dir, 'charts'), charts);
  const cfg = readJsonFile<{ configHash?: string }>(path.join(dir, 'config.json'), "the run's resolved experiment");
  const guarded = guards(input);
  const tc = performance.now();
  const contrasts = exp.contrasts?.length ? markLate(dir, exp, computeContrasts(exp.contrasts, input.allRows, { guards: guarded, paired: pairedReplicatesFrom(dir, exp), seed: exp.seed })) : undefined;
  if (contrasts) log(`[contrasts] ${contrasts.map((c) => `${c.name}: ${c.verdict.startsWith('not judged') ? `not judged (the interval alone: ${c.verdict.split('reads ')[1]})` : c.verdict.startsWith('not measured') ? c.verdict : c.verdict.split(':')[0]}`).join('; ')}`);
  const claims = exp.claims ? buildClaims(input.allRows, exp, { floors: input.floors, guards: guarded, paired: pairedFrom(dir, exp) }) : undefined;
  if (claims) log(`[claims] ${claims.length} claims, differences by paired bootstrap (${exp.eval.bootstrap} resamples each), ${fmtSeconds((performance.now() - tc) / 1000)}`);
  const html = renderReport({
    title: `difflab · ${exp.name}`,
    description: exp.description,
    paper: exp.paper, contrasts,
    runInfo: {
      'run directory': dir, 'config hash': cfg.configHash ?? '', 'git commit': input.rows[0]?.git_commit ?? gitCommit(),
      // Every point evaluated, all checkpoints included (the charts read the final ones).
      'grid points': String(new Set(input.allRows.map((r) => r.point)).size), 'written': new Date().toISOString(),
    },
    // The sample grids have their own section: not a second time among the charts.
    charts: charts.filter((c) => c.name !== 'samples'), rows: input.allRows, grids: families.some((f) => f.name === 'samples') ? input.grids : [],
    claims,
    floors: input.floors, warnings: guarded.filter((g) => !g.passed).map((g) => `${g.reason}. Comparisons with this model are shown but not judged: train it longer (or check its recipe) before reading a verdict.`),
    passed: guarded.filter((g) => g.passed).map((g) => `${g.model}: ${g.reason}`),
    config: cfg,
    // Only the notes that apply to the metrics this run has.
    notes: metricNotes(input.allRows),
  });
  writeFileAtomic(path.join(dir, 'report.html'), html);
  log(`[report] ${charts.length} charts in ${path.join(dir, 'charts')}; ${path.join(dir, 'report.html')}`);
}

/**
 * The report of a finished run (every grid point complete in metrics.jsonl, and report.html written
 * after it), or undefined while anything is left to do.
 */
export function finishedReport(dir: string, exp: ResolvedExperiment): { report: string; points: number } | undefined {
  const metrics = metricsFile(dir), report = path.join(dir, 'report.html');
  if (!fs.existsSync(metrics) || !fs.existsSync(report) || fs.statSync(report).mtimeMs < fs.statSync(metrics).mtimeMs) return undefined;
  const keys = gridPoints(exp).map((p) => p.key);
  const done = completePoints(readRows(metrics));
  return keys.every((k) => done.has(k)) ? { report, points: keys.length } : undefined;
}

/**
 * A finished run's answer: with --resume, where its report is (the outcome of a run that had nothing
 * left to do); without, a refusal that says it is complete. Undefined while anything is left to do.
 */
export function finishedRun(dir: string, exp: ResolvedExperiment, resume: boolean | undefined, log: (l: string) => void): { dir: string; evaluated: number; skipped: number; rows: ResultRow[] } | undefined {
  const f = finishedReport(dir, exp);
  if (!f) return undefined;
  if (!resume) throw new Error(`${dir}: this run is complete (${f.points} grid points); its report is ${f.report}. --force starts it over, --run-id NAME runs it again beside it`);
  log(`[run ${exp.name}] complete (${f.points} grid points): ${f.report}`);
  return { dir, evaluated: 0, skipped: f.points, rows: readRows(metricsFile(dir)) };
}
