// The experiment runner: train (or reuse) the models an experiment names, evaluate its grid point by
// point into metrics.jsonl (resumable, shardable), then write charts and the HTML report. Each stage
// is a function below; what a grid point measures lives in ./measurements.
import fs from 'node:fs';
import path from 'node:path';
import { currentKernels, selectBackend, type BackendRequest } from '../compute/backend.js';
import type { ResultRow } from '../metrics/result-row.js';
import { runTraining } from '../backends/training.js';
import { writeFileAtomic, sweepStaleTemps } from '../util/fs.js';
import { RunInterrupted, stoppable, yieldAndCheck } from '../util/interrupt.js';
import { processAlive } from '../util/lock.js';
import { loadExperiment, type ResolvedExperiment } from './config.js';
import { evaluationContext, fmtSeconds, type PreparedContext } from './context.js';
import { finalize, finishedRun, joinInto } from './finalize.js';
import { gridPoints, shardPoints, type GridPoint, type Shard } from './grid.js';
import { existingResultsError, gitCommit, makeRunDir, metricsFile, resultFiles, runLocation } from './location.js';
import { measurementOf } from './measurements/index.js';
import type { RowBase } from './measurements/types.js';
import { modelBackends, modelDir, resolveModelDir, shareAutoencoder, trained, trainedThreads } from './models.js';
import { appendRows, completePoints, dropPoints, lockResults, readRows } from './results.js';

// The runner's pieces, for callers that import them from here.
export { gridPoints, parseShard, safeFileName, shardPoints, type GridPoint, type Shard } from './grid.js';
export { autoencoderGroups, modelBackends, modelDir, resolveModelDir, shareAutoencoder } from './models.js';
export { existingResultsError, gitCommit, metricsFile, resultFiles, runLocation } from './location.js';
export { finalize, mergeShards } from './finalize.js';

export interface RunOptions {
  file: string;
  resume?: boolean;
  /** discard earlier results of this run id */
  force?: boolean;
  shard?: Shard;
  runId?: string;
  /**
   * train: models only; autoencoders: the autoencoder stage of latent models only; features: the
   * feature networks (trained once into the cache); eval: the grid
   */
  stage?: 'all' | 'train' | 'autoencoders' | 'features' | 'eval';
  /** train only these models (default: every model the grid uses) */
  models?: string[];
  resultsRoot?: string;
  /** compute device, overriding the experiment's `compute` (not part of the config hash) */
  compute?: BackendRequest;
  /** threads that train each model (data-parallel); default 1 */
  workers?: number;
  /** the experiment's quick preset (its `quick` block merged in) */
  quick?: boolean;
  log?: (line: string) => void;
}

export interface RunOutcome {
  dir: string;
  evaluated: number;
  skipped: number;
  rows: ResultRow[];
}


/** Where one run writes: its id, directory, results file and stage. */
interface RunPlace { hash: string; runId: string; dir: string; out: string; stage: NonNullable<RunOptions['stage']> }

const nothing = (dir: string): RunOutcome => ({ dir, evaluated: 0, skipped: 0, rows: [] });

export async function runExperiment(opts: RunOptions): Promise<RunOutcome> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const exp = loadExperiment(opts.file, { quick: opts.quick });
  const root = opts.resultsRoot ?? 'results';
  const { hash, runId, dir } = runLocation(exp, root, opts.runId);
  const out = metricsFile(dir, opts.shard);
  const stage = opts.stage ?? 'all';
  // One process per results file (shards of one run have their own files and run side by side).
  makeRunDir(dir, root);
  const lock = stage === 'all' || stage === 'eval' ? lockResults(out, log) : undefined;
  try {
    // A finished run answers at once: with --resume, where its report is; without, that it is done.
    const finished = !opts.force && !opts.shard && lock ? finishedRun(dir, exp, opts.resume, log) : undefined;
    if (finished) return finished;
    return await runStages(opts, exp, root, { hash, runId, dir, out, stage }, log);
  } catch (e) {
    if (e instanceof RunInterrupted) log(`[run ${exp.name}] ${e.message}`);
    throw e;
  } finally {
    lock?.release();
  }
}

/** The stages in order, each skipped or ended early as `stage` says. */
async function runStages(opts: RunOptions, exp: ResolvedExperiment, root: string, where: RunPlace, log: (l: string) => void): Promise<RunOutcome> {
  const points = await prepareRunDir(opts, exp, where, log);
  const usedModels = modelBackends(exp);
  for (const m of opts.models ?? []) if (!usedModels.includes(m)) throw new Error(`--model ${m}: not a model the grid uses; expected one of ${usedModels.join(', ') || '(none)'}`);
  if (where.stage === 'autoencoders') { trainAutoencoders(opts, exp, root, log); return nothing(where.dir); }
  if (where.stage === 'all' || where.stage === 'train') trainModels(opts, exp, root, log);
  if (where.stage === 'train') return nothing(where.dir);
  // The feature networks, real statistics and floors, once: the grid's shards then find them cached
  // instead of each computing the same floor side by side.
  if (where.stage === 'features') { (await evaluationContext(exp, where.dir, root, points, log)).dispose(); return nothing(where.dir); }
  for (const name of usedModels) {
    if (!trained(resolveModelDir(exp, name, root), exp.models[name])) throw new Error(`model '${name}' is not trained yet (${modelDir(exp, name, root)}): run with --stage train or all first`);
  }
  // The grid returns to the event loop between points: there a signal stops it cleanly.
  return stoppable(() => evaluateGrid(opts, exp, root, where, points, log), log);
}

/**
 * The run directory: temp files of killed writes swept, earlier results refused (or discarded with
 * --force), config.json and the grid's point keys (points.json) written, the compute backend chosen.
 */
async function prepareRunDir(opts: RunOptions, exp: ResolvedExperiment, where: RunPlace, log: (l: string) => void): Promise<GridPoint[]> {
  const { hash, runId, dir, out } = where;
  const swept = sweepStaleTemps(dir, processAlive);
  if (swept) log(`[run ${exp.name}] removed ${swept} temp file(s) left by killed writes`);
  if (fs.existsSync(out) && !opts.resume && !opts.force) throw existingResultsError(out);
  if (opts.force) {
    // An unsharded run starts over completely; a shard discards only its own file.
    const files = opts.shard ? [out] : resultFiles(dir);
    for (const f of files) fs.rmSync(f, { force: true });
  }
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...exp, configHash: hash }, null, 2) + '\n');
  // The contrasts as declared when the run started: one added or changed later (they do not change
  // the run id) is marked in the report as not pre-registered.
  const declared = path.join(dir, 'contrasts.json');
  if (opts.force || !fs.existsSync(declared)) writeFileAtomic(declared, JSON.stringify({ declared: new Date().toISOString(), contrasts: exp.contrasts ?? [] }, null, 2) + '\n');
  const points = gridPoints(exp);
  writeFileAtomic(path.join(dir, 'points.json'), JSON.stringify(points.map((p) => p.key)) + '\n');
  const choice = await selectBackend(opts.compute ?? exp.compute);
  log(`[run ${exp.name}] run id ${runId} → ${dir} (compute: ${choice.backend})`);
  return points;
}

/** The models this process trains: the grid's, or those --model names. */
const modelsToTrain = (opts: RunOptions, exp: ResolvedExperiment) => modelBackends(exp).filter((name) => !opts.models || opts.models.includes(name));

/** The autoencoder stage of each latent model, shared from a finished donor where one exists. */
function trainAutoencoders(opts: RunOptions, exp: ResolvedExperiment, root: string, log: (l: string) => void): void {
  for (const name of modelsToTrain(opts, exp)) {
    const cfg = { ...exp.models[name], out: resolveModelDir(exp, name, root) };
    if (cfg.backend !== 'latent' || trained(cfg.out, cfg)) continue;
    const donor = shareAutoencoder(cfg, root);
    if (donor) { log(`[autoencoder] ${name}: reused from ${donor} (same seed, data and vae block)`); continue; }
    for (const r of runTraining(cfg, 'vae', true, false, opts.workers ?? 1)) log(`[autoencoder] ${name}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${fmtSeconds(r.seconds)}`);
  }
}

/** Every model the grid uses, trained or reused (same config hash), latent ones sharing autoencoders. */
function trainModels(opts: RunOptions, exp: ResolvedExperiment, root: string, log: (l: string) => void): void {
  const usedModels = modelBackends(exp);
  for (const [i, name] of usedModels.entries()) {
    if (opts.models && !opts.models.includes(name)) continue;
    const cfg = { ...exp.models[name], out: resolveModelDir(exp, name, root) };
    const tag = `[train ${i + 1}/${usedModels.length}]`;
    if (trained(cfg.out, cfg)) {
      // The thread count is not in the config hash (its default follows the machine's cores): say
      // when the reused model was trained on another count than this run would use.
      const was = trainedThreads(cfg.out), now = opts.workers ?? 1;
      log(`${tag} ${name}: reusing ${cfg.out} (same config hash${was !== undefined && was !== now ? `; trained on ${was} thread(s), this run would use ${now}: each count draws its own noise, so the models are statistically alike, not identical` : ''})`);
      continue;
    }
    log(`${tag} ${name} (${cfg.backend}) → ${cfg.out}`);
    const donor = shareAutoencoder(cfg, root);
    if (donor) log(`${tag} ${name}: autoencoder reused from ${donor} (same seed, data and vae block)`);
    const reports = runTraining(cfg, 'all', true, false, opts.workers ?? 1);
    for (const r of reports) log(`${tag} ${name} ${r.stage}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${fmtSeconds(r.seconds)}`);
  }
}

/** The progress line of a grid point, with the ETA of the points left. */
function progressLine(p: GridPoint, total: number, eta: number): string {
  return `[grid ${p.index + 1}/${total}] ${p.backend}${p.checkpoint !== null ? ` @ step ${p.checkpoint}` : ''}${p.ema !== null ? ` (post-hoc EMA σ_rel ${p.ema})` : ''} ${measurementOf(p.kind).describe(p)} seed ${p.seed}${Number.isFinite(eta) ? ` (ETA ${fmtSeconds(eta)})` : ''}`;
}

/** The fields every row of a point starts with: its grid coordinates and the run's identity. */
function rowBase(p: GridPoint, ctx: PreparedContext, where: RunPlace, commit: string): RowBase {
  const setting = p.sampler ? ctx.settings.get(p.sampler) : undefined;
  return {
    experiment: ctx.exp.name, run_id: where.runId, point: p.key, backend: p.backend, sampler: p.sampler, steps: p.steps, seed: p.seed, config_hash: where.hash, git_commit: commit, kernels: currentKernels(),
    ...(ctx.exp.replicas?.[p.backend] ? { model: ctx.exp.replicas[p.backend].model, train_seed: ctx.exp.replicas[p.backend].trainSeed } : {}),
    ...(p.ema !== null ? { ema: p.ema } : {}), ...(setting?.guidance ? { guidance: setting.guidance.scale } : {}), ...(setting?.grid.shift !== undefined ? { shift: setting.grid.shift } : {}),
  };
}

/**
 * This process's points not yet done: a point is done when all its rows are in one results file of
 * the run (the joined one or any shard's); a partial one (killed mid-write) is redone whole, its
 * partial rows in this process's file removed first.
 */
function pointsToDo(opts: RunOptions, where: RunPlace, points: GridPoint[], log: (l: string) => void): { mine: GridPoint[]; todo: GridPoint[] } {
  const mine = opts.shard ? shardPoints(points, opts.shard) : points;
  const done = new Set((opts.force ? [where.out] : resultFiles(where.dir)).flatMap((f) => [...completePoints(readRows(f))]));
  const todo = mine.filter((p) => !done.has(p.key));
  const partial = dropPoints(where.out, new Set(todo.map((p) => p.key)));
  if (partial) log(`[grid] ${partial} row(s) of points cut short earlier removed from ${where.out}; those points are evaluated again`);
  log(`[grid] ${mine.length} point${mine.length === 1 ? '' : 's'}${opts.shard ? ` in shard ${opts.shard.index}/${opts.shard.count}` : ''}; ${mine.length - todo.length} already done, ${todo.length} to evaluate`);
  return { mine, todo };
}

/** The grid stage: each point to do evaluated by its measurement and appended whole; then join and finalize. */
async function evaluateGrid(opts: RunOptions, exp: ResolvedExperiment, root: string, where: RunPlace, points: GridPoint[], log: (l: string) => void): Promise<RunOutcome> {
  const { dir, out } = where;
  const { mine, todo } = pointsToDo(opts, where, points, log);
  const commit = gitCommit();
  const ctx = await evaluationContext(exp, dir, root, points, log);
  const t0 = performance.now();
  let evaluated = 0;
  try {
    for (const p of todo) {
      // Between points: a signal or a gone parent stops the grid here, with every finished point kept.
      await yieldAndCheck();
      const eta = evaluated ? ((performance.now() - t0) / 1000 / evaluated) * (todo.length - evaluated) : NaN;
      log(progressLine(p, points.length, eta));
      appendRows(out, await measurementOf(p.kind).evaluate(p, ctx, rowBase(p, ctx, where, commit)));
      evaluated++;
    }
  } finally {
    ctx.dispose();
  }
  log(`[grid] evaluated ${evaluated} point${evaluated === 1 ? '' : 's'} in ${fmtSeconds((performance.now() - t0) / 1000)}`);
  if (!opts.shard) {
    // Points finished by earlier shard workers (a --jobs run resumed with --jobs 1) join the file.
    joinInto(dir, log);
    await finalize(dir, exp, root, log);
  } else {
    // A worker of a --jobs run is joined by its parent; a shard run by hand is joined with merge.
    if (!process.env.DIFFLAB_WORKER) log(`[run ${exp.name}] shard written to ${out}; join the shards with: difflab merge ${dir}`);
  }
  return { dir, evaluated, skipped: mine.length - todo.length, rows: readRows(out) };
}
