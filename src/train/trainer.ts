// The training loop shared by every stage (VAE, diffusion): seeded batches, AdamW with a schedule,
// clipping, EMA, checkpoints, a JSON-lines loss log, progress, and a clean stop on NaN/Inf.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { BatchSampler } from '../data/images.js';
import { writeFileAtomic } from '../util/fs.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { AdamW, clipByGlobalNorm, Ema, learningRate, type AdamConfig, type LrSchedule } from './optim.js';

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
  checkpointEvery: number;
  outDir: string;
  /** Continue from the newest checkpoint in outDir, if there is one. */
  resume?: boolean;
  /** Stored in every checkpoint. */
  config: unknown;
  dataHash?: string;
  label?: string;
  /** Called after every step (tests use it to watch memory). */
  onStep?: (s: { step: number; loss: number }) => void;
}

export class TrainingDivergedError extends Error {
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
  const opt = new AdamW({ lr: opts.lr.base, ...opts.adam });
  const ema = new Ema(opts.emaDecay, task.params);
  const rng = new Rng(opts.seed);
  const sampler = new BatchSampler(task.datasetSize, opts.batchSize, opts.seed + 1);
  let step = 0;
  const state = { params: task.params, ema, optimizer: opt };
  if (opts.resume) {
    const base = latestCheckpoint(opts.outDir);
    if (base) {
      const meta = loadCheckpoint(base, state);
      const st = meta.state as { rng: ReturnType<Rng['getState']>; sampler: { epoch: number; pos: number } };
      rng.setState(st.rng);
      sampler.restore(st.sampler);
      step = meta.step;
      process.stderr.write(`[${opts.label ?? 'train'}] resuming from ${base} at step ${step}\n`);
    }
  }
  const logFile = path.join(opts.outDir, 'loss.jsonl');
  // A run killed after its last checkpoint logged steps that the resumed run will redo: drop them.
  if (fs.existsSync(logFile)) {
    const kept = fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= step);
    writeFileAtomic(logFile, kept.map((l) => l + '\n').join(''));
  }
  const vars = [...task.params.values()];
  const bar = progress(opts.label ?? 'train', opts.steps, 10, step);
  const save = () => saveCheckpoint(opts.outDir, state, {
    step, config: opts.config, dataHash: opts.dataHash, state: { rng: rng.getState(), sampler: sampler.state() },
  });
  let lastLoss = NaN, lastCheckpoint = latestCheckpoint(opts.outDir);
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
        throw new TrainingDivergedError(step, Number.isFinite(loss) ? gradNorm : loss, lastCheckpoint);
      }
      const lr = learningRate(opts.lr, step);
      opt.apply(task.params, grads, lr);
      tf.dispose(Object.values(grads));
      ema.update(task.params);
      step++;
      lastLoss = loss;
      fs.appendFileSync(logFile, JSON.stringify({ step, loss, lr, gradNorm: Number.isFinite(gradNorm) ? gradNorm : null, seconds: (performance.now() - t0) / 1000 }) + '\n');
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
  }
  return { step, lastLoss, ema, checkpoint: lastCheckpoint! };
}
