// The training loop shared by every stage (VAE, diffusion): seeded batches, AdamW with a schedule,
// clipping, EMA, checkpoints, a JSON-lines loss log, progress, and a clean stop on NaN/Inf.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { BatchSampler } from '../data/images.js';
import { appendFileNamed, readJsonLines, sweepStaleTemps, writeFileAtomic } from '../util/fs.js';
import { acquireLock, processAlive } from '../util/lock.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { RunInterrupted, stopReason } from '../util/interrupt.js';
import { checkpointBase, checkpointProblem, latestCheckpoint, loadCheckpoint, removeCheckpoints, saveCheckpoint, savedSteps, setAside } from './checkpoint.js';
import { AdamW, Ema, learningRate, type AdamConfig, type LrSchedule } from './optim.js';
import { FlatUpdate, readFlat } from './fused-update.js';
import { PowerEma, removeSnapshots, saveSnapshot } from './posthoc-ema.js';
import { ReplicaPool, type ReplicaSource } from './data-parallel.js';
import { currentBackend, setComputeThreads } from '../compute/backend.js';

export interface TrainTask {
  params: Map<string, tf.Variable>;
  /** Number of training items the batch sampler draws from. */
  datasetSize: number;
  /** The loss of one batch; every random choice must come from `rng` (and `seed` for dropout). */
  loss(indices: Int32Array, rng: Rng, seed: number): tf.Scalar;
  /** How worker threads build the same task, for data-parallel training; without it the task trains on one thread. */
  replica?: ReplicaSource;
}

export interface TrainOptions {
  steps: number;
  batchSize: number;
  seed: number;
  lr: LrSchedule;
  adam: Omit<AdamConfig, 'lr'>;
  /** Global-norm gradient clipping (off when absent). */
  clipNorm?: number;
  emaDecay: number;
  /** EMA decay warm-up min(decay, (1 + t)/(10 + t)) (LDM) */
  emaWarmup?: boolean;
  checkpointEvery: number;
  /** post-hoc EMA: power-function EMAs of these σ_rel, snapshotted every `every` steps */
  posthoc?: { sigmaRels: number[]; every: number };
  outDir: string;
  /** Continue from the newest checkpoint in outDir, if there is one. */
  resume?: boolean;
  /** Start over in an outDir that has checkpoints: they and the loss log are removed first. */
  force?: boolean;
  /** Stored in every checkpoint. */
  config: unknown;
  dataHash?: string;
  label?: string;
  /**
   * Threads that compute each step's gradient together (data-parallel, see data-parallel.ts); 1 or
   * absent: this thread alone. A run is deterministic for a given count; different counts draw
   * different noise for the same step.
   */
  workers?: number;
  /** Called after every step (tests use it to watch memory). */
  onStep?: (s: { step: number; loss: number }) => void;
}

export class TrainingDivergedError extends Error {
  /** `step`: the step whose loss or gradient was not finite (numbered from 1, as loss.jsonl numbers them). */
  constructor(readonly step: number, readonly value: number, readonly lastCheckpoint: string | undefined) {
    super(`training stopped at step ${step}: the loss is ${value}. ` +
      (lastCheckpoint ? `The last good checkpoint, ${lastCheckpoint}, is kept.` : 'No checkpoint had been written yet.') +
      ' Lower the learning rate or enable gradient clipping.');
    this.name = 'TrainingDivergedError';
  }
}

export interface TrainResult {
  step: number;
  lastLoss: number;
  ema: Ema;
  checkpoint: string;
}

/** Trains `task` to `opts.steps` steps; returns with the EMA (owned by the caller). */
export function train(task: TrainTask, opts: TrainOptions): TrainResult {
  fs.mkdirSync(opts.outDir, { recursive: true });
  const log = (l: string) => process.stderr.write(`[${opts.label ?? 'train'}] ${l}\n`);
  // One process per stage directory: a second one would interleave checkpoints and loss lines.
  const lock = acquireLock(path.join(opts.outDir, '.lock'), `training directory ${opts.outDir}`);
  try {
    return trainLocked(task, opts, log);
  } finally {
    lock.release();
  }
}

function trainLocked(task: TrainTask, opts: TrainOptions, log: (l: string) => void): TrainResult {
  const swept = sweepStaleTemps(opts.outDir, processAlive);
  if (swept) log(`removed ${swept} temp file(s) left by killed checkpoint writes`);
  const existing = savedSteps(opts.outDir);
  if (existing.length && !opts.resume) {
    if (!opts.force) {
      throw new Error(`${opts.outDir} has checkpoints already (steps ${existing.join(', ')}): pass --resume to continue that run, or --force to start it over`);
    }
    removeCheckpoints(opts.outDir);
    removeSnapshots(opts.outDir);
    fs.rmSync(path.join(opts.outDir, 'loss.jsonl'), { force: true });
    log(`--force: removed the earlier checkpoints (steps ${existing.join(', ')}) and loss log of ${opts.outDir}`);
  }
  const opt = new AdamW({ lr: opts.lr.base, ...opts.adam });
  const ema = new Ema(opts.emaDecay, task.params, opts.emaWarmup ?? false);
  const powerEma = opts.posthoc ? new PowerEma(opts.posthoc.sigmaRels, task.params) : undefined;
  const rng = new Rng(opts.seed);
  const sampler = new BatchSampler(task.datasetSize, opts.batchSize, opts.seed + 1);
  let step = 0;
  const state = { params: task.params, ema, optimizer: opt, powerEma };
  let workers = Math.min(opts.workers ?? 1, opts.batchSize);
  if ((opts.workers ?? 1) > opts.batchSize) log(`note: ${opts.workers} threads for a batch of ${opts.batchSize}: training on ${workers} (each thread takes at least one item)`);
  // libtensorflow (tfjs-node) already computes on every core, and its addon is not loaded per thread.
  if (workers > 1 && !['onednn', 'wasm', 'cpu'].includes(currentBackend())) {
    log(`note: the ${currentBackend()} backend computes on all cores itself; training on one thread instead of ${workers}`);
    workers = 1;
  }

  if (opts.resume) {
    const base = latestCheckpoint(opts.outDir);
    if (base) {
      const meta = loadCheckpoint(base, state);
      const st = meta.state as { rng: ReturnType<Rng['getState']>; sampler: { epoch: number; pos: number }; workers?: number };
      rng.setState(st.rng);
      sampler.restore(st.sampler);
      step = meta.step;
      log(`resuming from ${base} at step ${step}`);
      const before = st.workers ?? 1, now = workers;
      if (before !== now && step < opts.steps) log(`note: this run trained on ${before} thread(s) and continues on ${now}: each thread count draws its own noise, so the continuation is not the one ${before} thread(s) would have trained (--workers ${before} keeps it)`);
      // Snapshots written after that checkpoint (by a killed run) are written again as training redoes their steps.
      if (powerEma) removeSnapshots(opts.outDir, step);
    } else if (existing.length) {
      // Nothing intact to continue from: the damaged files go aside (kept, not deleted) and the run
      // starts at step 0.
      for (const st of existing) {
        const base = checkpointBase(opts.outDir, st);
        log(`note: ${base} is damaged (${checkpointProblem(base)}); moved to ${setAside(base)}`);
      }
      fs.rmSync(path.join(opts.outDir, 'latest.json'), { force: true });
      removeSnapshots(opts.outDir);
      fs.rmSync(path.join(opts.outDir, 'loss.jsonl'), { force: true });
      log(`note: no intact checkpoint in ${opts.outDir}: starting from step 0`);
    }
  }
  const logFile = path.join(opts.outDir, 'loss.jsonl');
  // A run killed after its last checkpoint logged steps that the resumed run will redo: drop them,
  // and a torn last line (killed mid-write) with them.
  let loggedLoss = NaN;
  if (fs.existsSync(logFile)) {
    const { rows, tornBytes } = readJsonLines<{ step: number; loss: number }>(logFile);
    if (tornBytes) log(`${logFile}: dropped a torn last line (${tornBytes} bytes)`);
    const kept = rows.filter((r) => r.step <= step);
    writeFileAtomic(logFile, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    loggedLoss = kept.find((r) => r.step === step)?.loss ?? NaN;
  }
  const vars = [...task.params.values()];
  const bar = progress(opts.label ?? 'train', opts.steps, 10, step);
  const save = () => saveCheckpoint(opts.outDir, state, {
    step, config: opts.config, dataHash: opts.dataHash, state: { rng: rng.getState(), sampler: sampler.state(), workers },
  }, opts.force, log);
  // A finished run resumed again trains no step: its last loss is the logged one.
  let lastLoss = loggedLoss, lastCheckpoint = latestCheckpoint(opts.outDir);
  let pool: ReplicaPool | undefined;
  const t0 = performance.now();
  try {
    if (workers > 1 && !task.replica) throw new Error(`--workers ${workers}: this training task cannot run on several threads`);
    // The optimizer state as flat buffers for the step's update pass (one gradient slot per thread);
    // written back to the tfjs variables whenever a checkpoint or snapshot needs them.
    const flat = new FlatUpdate(task.params, opt, ema, powerEma, { slots: workers });
    if (workers > 1 && step < opts.steps) {
      const w0 = performance.now();
      pool = new ReplicaPool(workers, task.replica!, flat, opts.batchSize, currentBackend());
      // This thread computes one replica's share: one oneDNN thread here, one in each worker.
      setComputeThreads(1);
      log(`${workers} threads (data-parallel), ready in ${((performance.now() - w0) / 1000).toFixed(1)} s`);
    }
    while (step < opts.steps) {
      // A stop (a --jobs worker whose parent is gone, a requested stop) ends the stage here, between
      // steps: the step just taken is saved first, so --resume continues from it.
      const why = stopReason();
      if (why) {
        if (lastCheckpoint !== checkpointBase(opts.outDir, step) && step > 0) { flat.syncState(); lastCheckpoint = save(); }
        throw new RunInterrupted(why);
      }
      const idx = sampler.next();
      const dropSeed = rng.nextU32();
      let loss: number, grad: Float32Array;
      if (pool) {
        ({ loss, grad } = pool.step(vars, idx, dropSeed, (i, r, s) => tf.variableGrads(() => task.loss(i, r, s), vars)));
      } else {
        const { value, grads } = tf.variableGrads(() => task.loss(idx, rng, dropSeed), vars);
        loss = value.dataSync()[0];
        value.dispose();
        grad = readFlat(vars.map((v) => grads[v.name]), flat.layout, flat.slots[0]);
        tf.dispose(Object.values(grads));
      }
      // Global-norm clipping as torch.nn.utils.clip_grad_norm_ (and clipByGlobalNorm).
      const gradNorm = opts.clipNorm ? Math.sqrt(flat.sumSquares(grad)) : NaN;
      if (!Number.isFinite(loss) || (opts.clipNorm !== undefined && !Number.isFinite(gradNorm))) {
        throw new TrainingDivergedError(step + 1, Number.isFinite(loss) ? gradNorm : loss, lastCheckpoint);
      }
      const lr = learningRate(opts.lr, step);
      flat.apply(grad, opts.clipNorm && gradNorm > opts.clipNorm ? opts.clipNorm / (gradNorm + 1e-6) : 1, lr);
      flat.pushParams();
      step++;
      const snapshot = powerEma && (step % opts.posthoc!.every === 0 || step === opts.steps);
      const checkpoint = step % opts.checkpointEvery === 0 || step === opts.steps;
      if (snapshot || checkpoint) flat.syncState();
      if (snapshot) saveSnapshot(opts.outDir, powerEma!, step);
      lastLoss = loss;
      appendFileNamed(logFile, JSON.stringify({ step, loss, lr, gradNorm: Number.isFinite(gradNorm) ? gradNorm : null, seconds: (performance.now() - t0) / 1000, ...(workers > 1 ? { workers } : {}) }) + '\n');
      bar.update(step, { loss, lr });
      opts.onStep?.({ step, loss });
      if (checkpoint) lastCheckpoint = save();
    }
  } catch (e) {
    ema.dispose(); // the caller never receives it
    throw e;
  } finally {
    bar.stop();
    pool?.close();
    if (pool) setComputeThreads();
    opt.dispose();
    powerEma?.dispose();
  }
  return { step, lastLoss, ema, checkpoint: lastCheckpoint! };
}
