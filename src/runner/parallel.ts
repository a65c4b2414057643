// `difflab run --jobs N`: the same experiment spread over N worker processes on this machine. Each
// tfjs process computes on one core (the wasm backend is single-threaded in Node), so a 2-core
// machine runs two at once: first the models and the feature network as separate tasks, then the
// grid as N shards (the --shard machinery), then the shards are joined as `difflab merge` does.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { loadExperiment } from './config.js';
import { completePoints, lockResults, readRows } from './results.js';
import path from 'node:path';
import { LOCK_PARENT_ENV } from '../util/lock.js';
import { makeRunDir } from './location.js';
import { requestStop, RunInterrupted, STOP_FILE_ENV, stopReason } from '../util/interrupt.js';
import { PARENT_ENV } from './parent.js';
import { isQualityGroup } from '../metrics/evaluate.js';
import { autoencoderGroups, existingResultsError, gridPoints, mergeShards, metricsFile, modelBackends, resultFiles, runLocation, type RunOptions, type RunOutcome } from './run.js';
import { finishedRun } from './finalize.js';

/**
 * The default --jobs: one process per core (at most 4: availableParallelism can report the host's
 * cores inside a container), and 1 for experiments without trained models (seconds of work).
 */
export function defaultJobs(hasModels: boolean): number {
  return hasModels ? Math.max(1, Math.min(4, os.availableParallelism())) : 1;
}

const BIN = new URL('../../bin/difflab.js', import.meta.url).pathname;

export { exitWithParent, PARENT_ENV } from './parent.js';

export interface ParallelOptions extends Omit<RunOptions, 'shard' | 'models'> {
  jobs: number;
  /** training threads per model (default: the jobs left per model) */
  workers?: number;
  /** the experiment's quick preset */
  quick?: boolean;
}

interface Task { label: string; args: string[] }

/** Runs tasks on a pool of `jobs` child processes; the first failure stops the others and throws. */
/** The stop file of the run this process leads (see STOP_FILE_ENV), set while it runs. */
let stopFile: string | undefined;

async function pool(tasks: Task[], jobs: number, log: (l: string) => void): Promise<void> {
  const queue = [...tasks];
  const running = new Set<ReturnType<typeof spawn>>();
  let failure: Error | undefined;
  const worker = async (slot: number): Promise<void> => {
    for (let t = queue.shift(); t && !failure; t = queue.shift()) {
      const task = t;
      if (stopReason()) break;
      log(`[job ${slot}] ${task.label}`);
      await new Promise<void>((resolve) => {
        // Plain progress lines from the children (their output is a pipe, not a terminal).
        const child = spawn(process.execPath, [BIN, ...task.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: process.env.CI ?? 'true', DIFFLAB_WORKER: '1', DIFFLAB_JOBS: String(jobs), [PARENT_ENV]: String(process.pid), [LOCK_PARENT_ENV]: String(process.pid), ...(stopFile ? { [STOP_FILE_ENV]: stopFile } : {}) } });
        running.add(child);
        const tail: string[] = [];
        const forward = (buf: Buffer) => {
          for (const line of buf.toString('utf8').split('\n')) {
            if (!line.trim()) continue;
            tail.push(line);
            if (tail.length > 20) tail.shift();
            log(`[job ${slot}] ${line}`);
          }
        };
        child.stdout.on('data', forward);
        child.stderr.on('data', forward);
        child.on('close', (code, signal) => {
          running.delete(child);
          if (code !== 0 && !failure && !stopReason()) {
            failure = new Error(`${task.label} failed (${signal ?? `exit ${code}`}): difflab ${task.args.join(' ')}\n${tail.join('\n')}`);
            for (const c of running) c.kill('SIGTERM');
          }
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, (_, i) => worker(i + 1)));
  const why = stopReason();
  if (why) throw new RunInterrupted(why);
  if (failure) throw failure;
}

export async function runParallel(opts: ParallelOptions): Promise<RunOutcome> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1) throw new Error(`--jobs: expected a positive integer, got ${opts.jobs}`);
  const exp = loadExperiment(opts.file, { quick: opts.quick });
  const root = opts.resultsRoot ?? 'results';
  const { runId, dir } = runLocation(exp, root, opts.runId);
  // The joined results file is this run's; its workers (shards, training tasks) work under it.
  makeRunDir(dir, root);
  const lock = lockResults(metricsFile(dir), log);
  // A signal asks the workers to stop after their current step or point (they watch this file, and
  // also stop by themselves when this process is gone); a second signal ends this process at once.
  stopFile = path.join(dir, `.stop-${process.pid}`);
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopReason()) process.exit(sig === 'SIGINT' ? 130 : 143);
    requestStop(sig);
    fs.writeFileSync(stopFile!, sig);
    log(`[run ${exp.name}] ${sig}: the workers stop after their current step or grid point; a second ${sig} stops at once`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await runParallelLocked(opts, exp, root, runId, dir, log);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    fs.rmSync(stopFile, { force: true });
    stopFile = undefined;
    lock.release();
  }
}

async function runParallelLocked(opts: ParallelOptions, exp: ReturnType<typeof loadExperiment>, root: string, runId: string, dir: string, log: (l: string) => void): Promise<RunOutcome> {
  const existing = resultFiles(dir);
  const finished = !opts.force && (opts.stage ?? 'all') !== 'train' ? finishedRun(dir, exp, opts.resume, log) : undefined;
  if (finished) return finished;
  if (existing.length && !opts.resume && !opts.force) throw existingResultsError(existing[0]);
  if (opts.force) for (const f of existing) fs.rmSync(f);
  const doneBefore = new Set(opts.force ? [] : existing.flatMap((f) => [...completePoints(readRows(f))]));
  // Workers run in their own process only: --jobs 1 (and DIFFLAB_WORKER) keeps them from spawning more.
  const common = ['--results', root, '--run-id', runId, '--jobs', '1', ...(opts.compute ? ['--compute', opts.compute] : []), ...(opts.quick ? ['--quick'] : [])];
  const stage = opts.stage ?? 'all';
  const t0 = performance.now();
  if (stage === 'all' || stage === 'train' || stage === 'features') {
    const models = modelBackends(exp);
    const tasks: Task[] = [];
    const quality = exp.grid?.metrics.some(isQualityGroup);
    const featureTask = stage !== 'train' && quality && models.length > 0;
    // Cores left over when fewer tasks than jobs run side by side go to the models' training threads.
    const workers = opts.workers ?? Math.max(1, Math.floor(opts.jobs / (models.length + (featureTask ? 1 : 0))));
    // Latent models that share an autoencoder (same seed, data and vae block) and find none trained
    // yet: one of each group trains it first, then every member reuses it instead of training its own.
    if (stage !== 'features') {
      const first = autoencoderGroups(exp, models, root).filter((g) => g.length > 1).map((g) => g[0]);
      if (first.length) {
        const aw = opts.workers ?? Math.max(1, Math.floor(opts.jobs / first.length));
        log(`[run ${exp.name}] ${first.length} shared autoencoder(s) first: ${first.join(', ')}`);
        await pool(first.map((m) => ({ label: `autoencoder of ${m}`, args: ['run', opts.file, '--stage', 'autoencoders', '--model', m, '--resume', '--workers', String(aw), ...common] })), opts.jobs, log);
      }
    }
    if (stage !== 'features') for (const m of models) tasks.push({ label: `train ${m}`, args: ['run', opts.file, '--stage', 'train', '--model', m, '--resume', '--workers', String(workers), ...common] });
    if (featureTask) tasks.push({ label: 'feature network', args: ['run', opts.file, '--stage', 'features', '--resume', ...common] });
    log(`[run ${exp.name}] ${tasks.length} task(s) on ${Math.min(opts.jobs, tasks.length)} process(es): ${tasks.map((t) => t.label).join(', ')}`);
    await pool(tasks, opts.jobs, log);
    if (stage !== 'all') return { dir, evaluated: 0, skipped: 0, rows: [] };
  }
  const points = gridPoints(exp).length;
  const shards = Math.max(1, Math.min(opts.jobs, points));
  log(`[run ${exp.name}] grid of ${points} point(s) in ${shards} shard(s)`);
  if (shards > 1 && exp.grid?.metrics.includes('cost')) log(`note: seconds per sample are timed while ${shards} shards share the machine's ${os.availableParallelism()} core(s): compare them within this run (each row's note says so); --jobs 1 times them alone`);
  await pool(Array.from({ length: shards }, (_, i) => ({
    label: `grid shard ${i}/${shards}`,
    args: ['run', opts.file, '--stage', 'eval', '--shard', `${i}/${shards}`, '--resume', ...common],
  })), opts.jobs, log);
  const rows = await mergeShards(dir, log);
  const all = new Set(rows.map((r) => r.point));
  const skipped = [...doneBefore].filter((p) => all.has(p)).length;
  log(`[run ${exp.name}] ${((performance.now() - t0) / 60000).toFixed(1)} min with ${opts.jobs} job(s)`);
  return { dir, evaluated: all.size - skipped, skipped, rows };
}
