import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiffusionModel } from '../../src/backends/diffusion-model.js';
import { buildVae, vaeTask } from '../../src/backends/latent.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { DiffusionConfig, loadTrainConfig } from '../../src/train/config.js';
import { ReplicaPool, sliceOf, sliceRandom, type ReplicaRecipe } from '../../src/train/data-parallel.js';
import { FlatUpdate, flatLayout, readFlat } from '../../src/train/fused-update.js';
import { AdamW, clipByGlobalNorm, Ema } from '../../src/train/optim.js';
import { PowerEma } from '../../src/train/posthoc-ema.js';
import { diffusionTask, REPLICA_MODULE } from '../../src/backends/stages.js';
import { train, type TrainOptions, type TrainTask } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('wasm'); });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-dp-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const CFG = DiffusionConfig.parse({
  train: { steps: 1 }, objective: 'v', schedule: { name: 'linear', T: 100 },
  conditioning: { classes: 3, condDrop: 0.2 },
  model: { channels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.1 },
});

function setup(unetSeed = 1) {
  // Three patterns (one per class), eight copies each: a model learns them within tens of steps.
  const patterns = new Rng(9).normals(3 * 64).map((v) => Math.tanh(v));
  const data = tf.tensor4d(Float32Array.from({ length: 24 * 64 }, (_, i) => patterns[(Math.floor(i / 64) % 3) * 64 + (i % 64)]), [24, 8, 8, 1]);
  const labels = Int32Array.from({ length: 24 }, (_, i) => i % 3);
  const model = new DiffusionModel(CFG, { size: 8, channels: 1 }, unetSeed);
  const recipe: ReplicaRecipe = { module: REPLICA_MODULE, kind: 'diffusion', diffusion: CFG, size: 8, channels: 1, seed: 5 };
  const task: TrainTask = { ...diffusionTask(model, data, labels), replica: { recipe, data, labels } };
  return { task, model, dispose: () => { model.dispose(); data.dispose(); } };
}

/** The update memory a pool of n threads works in (parameters and gradient slots). */
function flatFor(params: Map<string, tf.Variable>, n: number) {
  const opt = new AdamW({ lr: 1e-3 }), ema = new Ema(0.9, params);
  const flat = new FlatUpdate(params, opt, ema, undefined, { slots: n });
  return { flat, dispose: () => { opt.dispose(); ema.dispose(); } };
}

/** The gradient of slice k on this thread, flat in parameter order. */
function sliceGrad(task: TrainTask, idx: Int32Array, seed: number, n: number, k: number): { loss: number; g: Float32Array } {
  const vars = [...task.params.values()];
  const s = sliceOf(idx.length, n, k), r = sliceRandom(seed, k);
  const { value, grads } = tf.variableGrads(() => task.loss(idx.subarray(s.start, s.start + s.length), r.rng, r.seed), vars);
  const l = flatLayout(task.params);
  const g = readFlat(vars.map((v) => grads[v.name]), l, new Float32Array(l.total));
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, g };
}

test('slices: contiguous, sizes differ by at most one, cover the batch', () => {
  for (const [b, n] of [[32, 2], [33, 2], [10, 3], [7, 4]]) {
    let next = 0;
    for (let k = 0; k < n; k++) {
      const s = sliceOf(b, n, k);
      assert.is(s.start, next);
      assert.ok(s.length === Math.floor(b / n) || s.length === Math.ceil(b / n));
      next += s.length;
    }
    assert.is(next, b);
  }
});

test('a replica thread computes its slice exactly as this thread does; the pool returns the size-weighted mean', () => {
  const { task, dispose } = setup();
  const vars = [...task.params.values()];
  for (const n of [2, 3]) {
    const f = flatFor(task.params, n);
    assert.ok(f.flat.simd, 'the wasm backend runs the update as SIMD passes');
    const pool = new ReplicaPool(n, task.replica!, f.flat, 16, 'wasm');
    try {
      for (const [idx, seed] of [[Int32Array.from([3, 1, 4, 15, 9, 2, 6, 5, 23, 5, 8, 9, 7]), 77], [Int32Array.from([0, 2, 4, 6, 8, 10]), 4000000000]] as const) {
        const got = pool.step(vars, idx, seed, (i, r, s) => tf.variableGrads(() => task.loss(i, r, s), vars));
        const parts = Array.from({ length: n }, (_, k) => sliceGrad(task, idx, seed, n, k));
        const want = new Float32Array(parts[0].g.length);
        let loss = 0;
        parts.forEach((p, k) => {
          const w = Math.fround(sliceOf(idx.length, n, k).length / idx.length);
          // float32: each product rounded, then the sum, in slice order
          for (let j = 0; j < want.length; j++) want[j] = k === 0 ? Math.fround(w * p.g[j]) : want[j] + Math.fround(w * p.g[j]);
          loss += sliceOf(idx.length, n, k).length / idx.length * p.loss;
        });
        // Same kernels, same inputs, same summation order: equal to the bit.
        assert.equal(Array.from(got.grad.subarray(0, want.length)), Array.from(want), `N = ${n}: gradient`);
        assert.is(got.loss, loss);
      }
    } finally {
      pool.close();
      f.dispose();
    }
  }
  dispose();
});

test('the VAE stage runs data-parallel too: its replica gradient equals this thread\'s', () => {
  const cfg = loadTrainConfig('configs/train/quick-latent.yaml');
  const x = tf.tensor4d(new Rng(3).normals(12 * 256).map((v) => Math.tanh(v)), [12, 16, 16, 1]);
  const vae = buildVae(cfg, 16, 1);
  const task: TrainTask = { ...vaeTask(vae, x, cfg.vae!.loss), replica: { recipe: { module: REPLICA_MODULE, kind: 'vae', cfg, size: 16, channels: 1 }, data: x } };
  const vars = [...task.params.values()];
  const f = flatFor(task.params, 2);
  const pool = new ReplicaPool(2, task.replica!, f.flat, 8, 'wasm');
  try {
    const idx = Int32Array.from([5, 0, 11, 3, 7, 2]);
    const got = pool.step(vars, idx, 12345, (i, r, s) => tf.variableGrads(() => task.loss(i, r, s), vars));
    const a = sliceGrad(task, idx, 12345, 2, 0), b = sliceGrad(task, idx, 12345, 2, 1);
    assert.equal(Array.from(got.grad.subarray(0, a.g.length)), Array.from(a.g, (v, j) => Math.fround(Math.fround(0.5 * v) + 0.5 * b.g[j])));
  } finally {
    pool.close();
    f.dispose();
    vae.dispose();
    x.dispose();
  }
});

test('a replica that cannot build the same model fails the step with its reason, not a hang', () => {
  const { task, dispose } = setup();
  const other = { ...CFG, model: { ...CFG.model, channels: 16 } };
  const f = flatFor(task.params, 2);
  assert.throws(() => new ReplicaPool(2, { ...task.replica!, recipe: { module: REPLICA_MODULE, kind: 'diffusion', diffusion: other, size: 8, channels: 1, seed: 5 } }, f.flat, 8, 'wasm'),
    /replica thread 1 failed: .*parameters differ from the main thread's/);
  f.dispose();
  dispose();
});

const OPTS = (outDir: string, workers: number): TrainOptions => ({
  steps: 8, batchSize: 6, seed: 3, lr: { base: 2e-3, warmupSteps: 2, totalSteps: 8, decay: 'cosine' }, adam: { weightDecay: 0.01 },
  clipNorm: 1, emaDecay: 0.9, emaWarmup: true, checkpointEvery: 4, posthoc: { sigmaRels: [0.1], every: 4 }, outDir, config: { test: true }, label: 'test', workers,
});

const weightsOf = (m: DiffusionModel) => [...m.net.params.vars].map(([n, v]) => [n, Array.from(v.dataSync())] as const);

test('two threads: deterministic, and a resumed run continues exactly', () => {
  const a = setup();
  const ra = train(a.task, OPTS(path.join(dir, 'a'), 2));
  const log = fs.readFileSync(path.join(dir, 'a', 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.map((r) => r.workers), Array(8).fill(2));
  const again = setup();
  train(again.task, OPTS(path.join(dir, 'again'), 2)).ema.dispose();
  assert.equal(weightsOf(again.model), weightsOf(a.model));
  again.dispose();

  const b1 = setup();
  train(b1.task, { ...OPTS(path.join(dir, 'b'), 2), steps: 4 }).ema.dispose();
  b1.dispose();
  const b2 = setup(7); // other initial weights: everything must come from the checkpoint
  const rb = train(b2.task, { ...OPTS(path.join(dir, 'b'), 2), resume: true });
  assert.equal(weightsOf(b2.model), weightsOf(a.model));
  for (const [name, v] of ra.ema.shadow) assert.equal(Array.from(rb.ema.shadow.get(name)!.dataSync()), Array.from(v.dataSync()), `EMA ${name}`);
  ra.ema.dispose(); rb.ema.dispose(); a.dispose(); b2.dispose();
});

test('two threads and one thread train alike: same effective batch, loss curves agree within their noise', () => {
  const curve = (workers: number) => {
    const s = setup();
    const losses: number[] = [];
    train(s.task, { ...OPTS(path.join(dir, `curve${workers}`), workers), steps: 60, batchSize: 8, lr: { base: 3e-3, warmupSteps: 5, totalSteps: 60, decay: 'constant' }, checkpointEvery: 60, posthoc: undefined, onStep: ({ loss }) => losses.push(loss) }).ema.dispose();
    s.dispose();
    return losses;
  };
  const one = curve(1), two = curve(2);
  const stats = (l: number[]) => {
    const tail = l.slice(20), m = tail.reduce((s, v) => s + v, 0) / tail.length;
    return { m, se: Math.sqrt(tail.reduce((s, v) => s + (v - m) ** 2, 0) / (tail.length - 1) / tail.length) };
  };
  const s1 = stats(one), s2 = stats(two), start = [...one.slice(0, 5), ...two.slice(0, 5)].reduce((s, v) => s + v, 0) / 10;
  // Both learned (the tail is below the first steps' mean) and their tail means agree within 4 standard errors.
  assert.ok(s1.m < 0.9 * start && s2.m < 0.9 * start, `no learning: start ${start}, tails ${s1.m}, ${s2.m}`);
  assert.ok(Math.abs(s1.m - s2.m) < 4 * Math.hypot(s1.se, s2.se), `tail means ${s1.m} ± ${s1.se} vs ${s2.m} ± ${s2.se}`);
});

for (const simd of [true, false]) {
  test(`the fused update (${simd ? 'WebAssembly SIMD' : 'JavaScript loops'}) equals averaging + clipping + AdamW + EMA + power EMA done tensor by tensor`, () => {
    const r = new Rng(4);
    // 17 parameters: not a multiple of 4, so the padded tail is exercised.
    const mk = () => new Map<string, tf.Variable>([['a', tf.variable(tf.tensor2d(r.normals(12), [3, 4]))], ['b', tf.variable(tf.tensor1d(r.normals(5)))]]);
    const p1 = mk();
    const p2 = new Map([...p1].map(([n, v]) => [n, tf.variable(v.clone())]));
    const cfg = { lr: 1e-2, weightDecay: 0.05 };
    const o1 = new AdamW(cfg), o2 = new AdamW(cfg);
    const e1 = new Ema(0.95, p1, true), e2 = new Ema(0.95, p2, true);
    const w1 = new PowerEma([0.05, 0.15], p1), w2 = new PowerEma([0.05, 0.15], p2);
    const flat = new FlatUpdate(p2, o2, e2, w2, { slots: 3, simd });
    assert.is(flat.simd, simd);
    for (let t = 1; t <= 12; t++) {
      // Three threads' gradients, averaged with weights 3/8, 3/8, 2/8.
      const parts = [0, 1, 2].map(() => r.normals(17).map((v) => v * (t % 3 === 0 ? 5 : 0.1))); // some steps clip, some do not
      const w = [3 / 8, 3 / 8, 2 / 8];
      const g = Array.from({ length: 17 }, (_, j) => parts.reduce((s, p, k) => s + w[k] * p[j], 0));
      const grads: Record<string, tf.Tensor> = { [p1.get('a')!.name]: tf.tensor2d(g.slice(0, 12), [3, 4]), [p1.get('b')!.name]: tf.tensor1d(g.slice(12)) };
      const norm = clipByGlobalNorm(grads, 1);
      o1.apply(p1, grads, 0.01 * t);
      e1.update(p1, t);
      w1.update(p1, t);
      tf.dispose(Object.values(grads));
      parts.forEach((p, k) => flat.slots[k].set(p));
      const avg = flat.average(w);
      const fnorm = Math.sqrt(flat.sumSquares(avg));
      assert.ok(Math.abs(fnorm - norm) < 1e-5 * norm, `norm ${fnorm} vs ${norm}`);
      flat.apply(avg, fnorm > 1 ? 1 / (fnorm + 1e-6) : 1, 0.01 * t);
      flat.pushParams();
    }
    flat.syncState();
    const close = (x: tf.Tensor, y: tf.Tensor, what: string) => {
      const a = x.dataSync(), b = y.dataSync();
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 3e-6 * (1 + Math.abs(a[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    };
    for (const n of ['a', 'b']) {
      close(p1.get(n)!, p2.get(n)!, `param ${n}`);
      close(o1.m.get(n)!, o2.m.get(n)!, `m ${n}`);
      close(o1.v.get(n)!, o2.v.get(n)!, `v ${n}`);
      close(e1.shadow.get(n)!, e2.shadow.get(n)!, `EMA ${n}`);
      w1.shadows.forEach((s, k) => close(s.get(n)!, w2.shadows[k].get(n)!, `power EMA ${k} ${n}`));
    }
    assert.is(o2.step, 12);
    for (const o of [o1, o2, e1, e2, w1, w2]) o.dispose();
    for (const v of [...p1.values(), ...p2.values()]) v.dispose();
  });
}

test.run();
