// A replica thread of data-parallel training (see data-parallel.ts): it builds the same model and loss
// as the main thread from a recipe, then, for every step, loads the broadcast weights, computes the
// gradient of its slice of the batch and leaves it in shared memory.
import { workerData } from 'node:worker_threads';
import { selectBackend, setComputeThreads, tf } from '../compute/backend.js';
import { CONTROL, sliceOf, sliceRandom, type ReplicaTaskBuilder, type WorkerInit } from './data-parallel.js';
import { readFlat, writeFlat } from './fused-update.js';
import type { TrainTask } from './trainer.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.shared.ctrl);
const { SEQ, CMD, BATCH, STEP_SEED, CMD_EXIT, ERROR_BYTES, slot } = CONTROL;

function fail(e: unknown): void {
  const msg = new TextEncoder().encode(String((e as Error)?.stack ?? e).slice(0, ERROR_BYTES - 1));
  const errors = new Uint8Array(init.shared.errors, init.k * ERROR_BYTES, ERROR_BYTES);
  errors.fill(0);
  errors.set(msg.subarray(0, ERROR_BYTES - 1));
  Atomics.store(ctrl, slot(init.k, 2), 1);
  Atomics.notify(ctrl, slot(init.k, 0));
  Atomics.notify(ctrl, slot(init.k, 1));
}

async function buildTask(data: tf.Tensor4D): Promise<TrainTask> {
  const { replicaTask } = (await import(init.recipe.module)) as { replicaTask: ReplicaTaskBuilder };
  return replicaTask(init.recipe, data, init.labels);
}

async function main(): Promise<void> {
  await selectBackend(init.backend);
  // One compute thread per replica: the replicas are what keeps the cores busy.
  setComputeThreads(1);
  const data = tf.tensor4d(new Float32Array(init.data.buffer), init.data.shape as [number, number, number, number]);
  const task = await buildTask(data);
  const { names, shapes, total: P } = init.layout;
  const params = [...task.params.entries()];
  if (params.length !== names.length || params.some(([n, p], i) => n !== names[i] || p.shape.join() !== shapes[i].join())) {
    throw new Error('the replica\'s parameters differ from the main thread\'s (names or shapes)');
  }
  const vars = params.map(([, p]) => p);
  const { arena } = init.shared;
  const weights = new Float32Array(arena.buffer, arena.params, P), grads = new Float32Array(arena.buffer, arena.slots + 4 * arena.stride * init.k, P);
  const losses = new Float64Array(init.shared.losses), indices = new Int32Array(init.shared.indices);
  Atomics.store(ctrl, slot(init.k, 1), 1);
  Atomics.notify(ctrl, slot(init.k, 1));
  let last = 0;
  for (;;) {
    while (Atomics.load(ctrl, SEQ) === last) Atomics.wait(ctrl, SEQ, last);
    last = Atomics.load(ctrl, SEQ);
    if (Atomics.load(ctrl, CMD) === CMD_EXIT) break;
    writeFlat(vars, init.layout, weights);
    const b = Atomics.load(ctrl, BATCH), seed = Atomics.load(ctrl, STEP_SEED) >>> 0;
    const s = sliceOf(b, init.workers, init.k), r = sliceRandom(seed, init.k);
    const idx = Int32Array.from(indices.subarray(s.start, s.start + s.length));
    const { value, grads: g } = tf.variableGrads(() => task.loss(idx, r.rng, r.seed), vars);
    losses[init.k] = value.dataSync()[0];
    readFlat(vars.map((v) => g[v.name]), init.layout, grads);
    tf.dispose([value, ...Object.values(g)]);
    Atomics.store(ctrl, slot(init.k, 0), last);
    Atomics.notify(ctrl, slot(init.k, 0));
  }
}

main().catch(fail);
