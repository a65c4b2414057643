// Data-parallel training of one model on N threads: the batch is cut into N contiguous slices; the main
// thread computes the first slice's gradient and N − 1 worker threads (replicas of the model, each with
// its own tfjs backend) the others, at the same time. The gradients meet in shared memory and are
// averaged in a fixed order (slice 0, 1, …, weighted by slice size), so a run is deterministic for a
// given N. The optimizer, clipping and EMAs run once, on the main thread, exactly as in a one-thread
// run; the updated weights are broadcast through shared memory before the next step.
//
// Everything is synchronous on the main thread (Atomics.wait), as the training loop is: no step waits
// on the event loop.
import os from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { tf, type ComputeBackend } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import type { DiffusionConfigT, TrainConfigT } from './config.js';
import { readFlat, type ArenaView, type FlatLayout, type FlatUpdate } from './fused-update.js';
import type { TrainTask } from './trainer.js';

/**
 * How a worker thread builds the same training task as the main thread (see replica-worker.ts): the
 * module (a URL) whose `replicaTask(recipe, data, labels)` builds it, so that training stays below the
 * backends that define the tasks.
 */
export type ReplicaRecipe = { module: string } & (
  | { kind: 'diffusion'; diffusion: DiffusionConfigT; size: number; channels: number; seed: number }
  | { kind: 'vae'; cfg: TrainConfigT; size: number; channels: number });

/** What a recipe's module exports. */
export type ReplicaTaskBuilder = (recipe: ReplicaRecipe, data: tf.Tensor4D, labels?: Int32Array) => TrainTask | Promise<TrainTask>;

export interface ReplicaSource {
  recipe: ReplicaRecipe;
  /** The training items the task's indices point into, [N, H, W, C]. */
  data: tf.Tensor4D;
  labels?: Int32Array;
}

/** The most training threads (each holds a replica of the model, ~37 MB and ~3 s to start for the MNIST UNet). */
export const MAX_WORKERS = 64;

/** The default number of training threads: one per core, at most 4 (DIFFLAB_WORKERS overrides). */
export function defaultWorkers(): number {
  const env = process.env.DIFFLAB_WORKERS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new Error(`DIFFLAB_WORKERS: expected a positive integer (at most ${MAX_WORKERS}), got '${env}'`);
    return n;
  }
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** `--workers`: a positive integer or 'auto' (defaultWorkers). */
export function parseWorkers(v: string | number | undefined, flag = '--workers'): number {
  if (v === undefined || v === 'auto') return defaultWorkers();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new Error(`${flag}: expected a positive integer (at most ${MAX_WORKERS}) or auto, got '${v}'`);
  return n;
}

/** Slice k of a batch of b items cut into n contiguous parts whose sizes differ by at most one. */
export function sliceOf(b: number, n: number, k: number): { start: number; length: number } {
  const base = Math.floor(b / n), extra = b % n;
  return { start: k * base + Math.min(k, extra), length: base + (k < extra ? 1 : 0) };
}

/**
 * The random streams of slice k of a step whose draw is `seed`: the loss's generator and its dropout
 * seed. They depend only on (seed, k), so each slice's noise is the same whichever thread computes it.
 */
export function sliceRandom(seed: number, k: number): { rng: Rng; seed: number } {
  return { rng: new Rng(seed, k), seed: (seed ^ Math.imul(k + 1, 0x9e3779b9)) >>> 0 };
}

// Control words (Int32Array over a SharedArrayBuffer).
const SEQ = 0, CMD = 1, BATCH = 2, STEP_SEED = 3, HEADER = 4;
const CMD_STEP = 1, CMD_EXIT = 2;
// Per worker k (1 … N−1): DONE (the last step sequence it finished), READY, ERROR (1 when it failed).
const slot = (k: number, field: 0 | 1 | 2) => HEADER + 3 * k + field;
const ERROR_BYTES = 2048;

export interface SharedState {
  ctrl: SharedArrayBuffer;
  indices: SharedArrayBuffer;
  /** Parameters and gradient slots (the update's memory, see fused-update.ts). */
  arena: ArenaView;
  losses: SharedArrayBuffer;
  errors: SharedArrayBuffer;
}

/** The worker's entry: compiled JavaScript beside this file, or the TypeScript source through tsx. */
function workerEntry(): { entry: string; tsx?: string } {
  const here = import.meta.url;
  const entry = here.replace(/data-parallel\.(ts|js)$/, (_m, ext) => `replica-worker.${ext}`);
  if (!entry.endsWith('.ts')) return { entry };
  // A worker thread does not inherit the parent's module hooks: it registers tsx itself.
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  return { entry, tsx };
}

const BOOT = `const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})();`;

export interface WorkerInit {
  k: number;
  workers: number;
  backend: ComputeBackend;
  recipe: ReplicaRecipe;
  data: { buffer: SharedArrayBuffer; shape: number[] };
  labels?: Int32Array;
  layout: FlatLayout;
  shared: SharedState;
  entry: string;
  tsx?: string;
}

/** Waits (blocking this thread) until `cond()` holds; checks `failed()` at least every 200 ms. */
function waitFor(ctrl: Int32Array, index: number, cond: () => boolean, failed: () => string | undefined, what: string, timeoutMs: number): void {
  const t0 = performance.now();
  for (;;) {
    if (cond()) return;
    const err = failed();
    if (err) throw new Error(err);
    if (performance.now() - t0 > timeoutMs) throw new Error(`data-parallel training: ${what} did not answer within ${(timeoutMs / 1000).toFixed(0)} s`);
    Atomics.wait(ctrl, index, Atomics.load(ctrl, index), 200);
  }
}

/** The main thread's side: N − 1 replica threads and the shared buffers they meet in. */
export class ReplicaPool {
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly indices: Int32Array;
  private readonly losses: Float64Array;
  private readonly errors: Uint8Array;
  private readonly layout: FlatLayout;
  private seq = 0;
  private closed = false;

  /**
   * `n`: threads in all (this one included); `flat`: the update's memory, with a gradient slot per
   * thread, whose parameters the replicas load at the start of every step; `maxBatch`: the largest
   * batch a step will get.
   */
  constructor(readonly n: number, source: ReplicaSource, private readonly flat: FlatUpdate, maxBatch: number, backend: ComputeBackend) {
    if (n < 2) throw new Error('ReplicaPool: needs at least 2 threads');
    if (flat.slots.length < n) throw new Error(`ReplicaPool: the update has ${flat.slots.length} gradient slot(s), ${n} needed`);
    this.layout = flat.layout;
    const shared: SharedState = {
      ctrl: new SharedArrayBuffer(4 * (HEADER + 3 * n)),
      indices: new SharedArrayBuffer(4 * maxBatch),
      arena: flat.arena,
      losses: new SharedArrayBuffer(8 * n),
      errors: new SharedArrayBuffer(ERROR_BYTES * n),
    };
    this.ctrl = new Int32Array(shared.ctrl);
    this.indices = new Int32Array(shared.indices);
    this.losses = new Float64Array(shared.losses);
    this.errors = new Uint8Array(shared.errors);
    const dataBuf = new SharedArrayBuffer(4 * source.data.size);
    new Float32Array(dataBuf).set(source.data.dataSync());
    const { entry, tsx } = workerEntry();
    try {
      for (let k = 1; k < n; k++) {
        const init: WorkerInit = { k, workers: n, backend, recipe: source.recipe, data: { buffer: dataBuf, shape: source.data.shape.slice() }, labels: source.labels, layout: this.layout, shared, entry, tsx };
        const w = new Worker(BOOT, { eval: true, workerData: init, stdout: false, stderr: false });
        w.unref();
        this.workers.push(w);
      }
      for (let k = 1; k < n; k++) {
        waitFor(this.ctrl, slot(k, 1), () => Atomics.load(this.ctrl, slot(k, 1)) === 1, () => this.failure(k), `replica thread ${k} (starting)`, 300_000);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private failure(k: number): string | undefined {
    if (Atomics.load(this.ctrl, slot(k, 2)) !== 1) return undefined;
    const bytes = this.errors.slice(k * ERROR_BYTES, (k + 1) * ERROR_BYTES);
    const end = bytes.indexOf(0);
    return `data-parallel training: replica thread ${k} failed: ${new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end))}`;
  }

  /**
   * One step: the loss and the gradient of the whole batch, averaged over the slices into gradient
   * slot 0 (flat, in parameter order), at the parameters in the update's memory. `own` computes slice 0 on this thread, with
   * the slice's random streams.
   */
  step(vars: tf.Variable[], idx: Int32Array, seed: number,
    own: (idx: Int32Array, rng: Rng, seed: number) => { value: tf.Scalar; grads: Record<string, tf.Tensor> }): { loss: number; grad: Float32Array } {
    const b = idx.length;
    if (b < this.n) throw new Error(`data-parallel training: a batch of ${b} cannot be cut into ${this.n} slices; use --workers ≤ ${b}`);
    if (b > this.indices.length) throw new Error(`data-parallel training: batch ${b} exceeds the pool's ${this.indices.length}`);
    this.indices.set(idx);
    Atomics.store(this.ctrl, BATCH, b);
    Atomics.store(this.ctrl, STEP_SEED, seed | 0);
    Atomics.store(this.ctrl, CMD, CMD_STEP);
    const seq = ++this.seq;
    Atomics.store(this.ctrl, SEQ, seq);
    Atomics.notify(this.ctrl, SEQ);
    // Slice 0 here, meanwhile.
    const s0 = sliceOf(b, this.n, 0), r0 = sliceRandom(seed, 0);
    const { value, grads } = own(idx.subarray(s0.start, s0.start + s0.length), r0.rng, r0.seed);
    this.losses[0] = value.dataSync()[0];
    value.dispose();
    vars.forEach((p, i) => {
      if (!grads[p.name]) throw new Error(`data-parallel training: no gradient for parameter ${this.layout.names[i]}`);
    });
    readFlat(vars.map((p) => grads[p.name]), this.layout, this.flat.slots[0]);
    tf.dispose(Object.values(grads));
    for (let k = 1; k < this.n; k++) {
      waitFor(this.ctrl, slot(k, 0), () => Atomics.load(this.ctrl, slot(k, 0)) === seq, () => this.failure(k), `replica thread ${k}`, 600_000);
    }
    // Average in slice order, weighted by slice size: the mean over the whole batch.
    const weights = Array.from({ length: this.n }, (_, k) => sliceOf(b, this.n, k).length / b);
    const loss = weights.reduce((s, w, k) => s + w * this.losses[k], 0);
    return { loss, grad: this.flat.average(weights) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctrl, CMD, CMD_EXIT);
    Atomics.store(this.ctrl, SEQ, ++this.seq);
    Atomics.notify(this.ctrl, SEQ);
    for (const w of this.workers) void w.terminate();
  }
}

// Exported for the worker.
export const CONTROL = { SEQ, CMD, BATCH, STEP_SEED, CMD_STEP, CMD_EXIT, ERROR_BYTES, slot };
