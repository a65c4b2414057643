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
import { latestCheckpoint, loadCheckpoint, removeCheckpoints, saveCheckpoint, savedSteps } from './checkpoint.js';
import { AdamW, clipByGlobalNorm, Ema, learningRate, type AdamConfig, type LrSchedule } from './optim.js';
import { PowerEma, removeSnapshots, saveSnapshot } from './posthoc-ema.js';

export interface TrainTask {
  params: Map<string, tf.Variable>;
  /** Number of training items the batch sampler draws from. */
  datasetSize: number;
  /** The loss of one batch; every random choice must come from `rng` (and `seed` for dropout). */
  loss(indices: Int32Array, rng: Rng, seed: number): tf.Scalar;
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
  if (opts.resume) {
    const base = latestCheckpoint(opts.outDir);
    if (base) {
      const meta = loadCheckpoint(base, state);
      const st = meta.state as { rng: ReturnType<Rng['getState']>; sampler: { epoch: number; pos: number } };
      rng.setState(st.rng);
      sampler.restore(st.sampler);
      step = meta.step;
      log(`resuming from ${base} at step ${step}`);
      // Snapshots written after that checkpoint (by a killed run) are written again as training redoes their steps.
      if (powerEma) removeSnapshots(opts.outDir, step);
    } else if (existing.length) {
      throw new Error(`${opts.outDir}: none of its checkpoints (steps ${existing.join(', ')}) is intact; move them away to start over, or pass --force`);
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
    step, config: opts.config, dataHash: opts.dataHash, state: { rng: rng.getState(), sampler: sampler.state() },
  }, opts.force);
  // A finished run resumed again trains no step: its last loss is the logged one.
  let lastLoss = loggedLoss, lastCheckpoint = latestCheckpoint(opts.outDir);
  const t0 = performance.now();
  try {
    while (step < opts.steps) {
      const idx = sampler.next();
      const dropSeed = rng.nextU32();
      const { value, grads } = tf.variableGrads(() => task.loss(idx, rng, dropSeed), vars);
      const loss = value.dataSync()[0];
      value.dispose();
      const gradNorm = opts.clipNorm ? clipByGlobalNorm(grads, opts.clipNorm) : NaN;
      if (!Number.isFinite(loss) || (opts.clipNorm !== undefined && !Number.isFinite(gradNorm))) {
        tf.dispose(Object.values(grads));
        throw new TrainingDivergedError(step + 1, Number.isFinite(loss) ? gradNorm : loss, lastCheckpoint);
      }
      const lr = learningRate(opts.lr, step);
      opt.apply(task.params, grads, lr);
      tf.dispose(Object.values(grads));
      ema.update(task.params, step + 1);
      step++;
      powerEma?.update(task.params, step);
      if (powerEma && (step % opts.posthoc!.every === 0 || step === opts.steps)) saveSnapshot(opts.outDir, powerEma, step);
      lastLoss = loss;
      appendFileNamed(logFile, JSON.stringify({ step, loss, lr, gradNorm: Number.isFinite(gradNorm) ? gradNorm : null, seconds: (performance.now() - t0) / 1000 }) + '\n');
      bar.update(step, { loss, lr });
      opts.onStep?.({ step, loss });
      if (step % opts.checkpointEvery === 0 || step === opts.steps) lastCheckpoint = save();
    }
  } catch (e) {
    ema.dispose(); // the caller never receives it
    throw e;
  } finally {
    bar.stop();
    opt.dispose();
    powerEma?.dispose();
  }
  return { step, lastLoss, ema, checkpoint: lastCheckpoint! };
}
