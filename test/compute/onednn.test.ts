// oneDNN's kernels against difflab's wasm SIMD kernels, call by call, on every convolution and matrix
// product (forward and both gradients), slice, split and concatenation, nearest-upsampling gradient,
// SiLU (and its gradient) and convolution with its bias that the shipped training presets run, at
// their batch sizes. SiLU's reference is its closed form in float64; the biased convolution's is the
// wasm convolution plus the bias.
// Skipped with a note where oneDNN is not installed (`apt-get install libdnnl2`); in CI (CI=true), where
// .ci/run installs it, a missing oneDNN fails instead.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getKernel, registerKernel, unregisterKernel, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { currentBackend, currentKernels, defaultComputeThreads, selectBackend, setComputeThreads, tf } from '../../src/compute/backend.js';
import { loadOneDnn } from '../../src/compute/onednn.js';
import { loadTrainConfig } from '../../src/train/config.js';
import { buildVae } from '../../src/backends/latent.js';
import { DiffusionModel } from '../../src/backends/diffusion-model.js';
import { diffusionTask } from '../../src/backends/stages.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

import { SILU, SILU_GRAD, silu } from '../../src/compute/silu.js';
import { CONV_BIAS, conv2dBias } from '../../src/compute/conv-bias.js';

/** Ops with a wasm kernel of the same name to compare with. */
const OPS = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', 'Slice', 'SplitV', 'Concat', 'ResizeNearestNeighborGrad'] as const;
/** Kernels only oneDNN's set has; their references are built below. */
const OWN = [SILU, SILU_GRAD, CONV_BIAS] as const;
let loaded: Awaited<ReturnType<typeof loadOneDnn>> = { ok: false, reason: 'not loaded yet' };
test.before(async () => {
  loaded = await loadOneDnn();
  if (!loaded.ok && process.env.CI === 'true') throw new Error(`CI=true: oneDNN must load here (.ci/run installs libdnnl2): ${loaded.reason}`);
  if (!loaded.ok) console.log(`note: oneDNN tests skipped: ${loaded.reason}`);
});

interface Seen { op: string; calls: number; native: number; maxRel: number; worst: string }
type Backend = { typedArrayFromHeap(t: TensorInfo): Float32Array; disposeData(id: object): boolean };

/** Registers, for each op, a kernel that runs oneDNN's and the wasm one and records their difference. */
async function comparing(seen: Map<string, Seen>): Promise<() => void> {
  if (!loaded.ok) throw new Error('unreachable');
  const lib = loaded.dnn;
  await selectBackend('wasm');
  const wasm = Object.fromEntries(OPS.map((n) => [n, getKernel(n, 'wasm')!.kernelFunc])) as Record<string, KernelFunc>;
  const wasmConv = wasm.Conv2D;
  type Args = { inputs: Record<string, TensorInfo>; backend: Backend & { makeOutput(shape: number[], dtype: 'float32'): TensorInfo }; attrs: Record<string, unknown> };
  // Closed forms in float64: σ(x)·x and dy·σ(x)·(1 + x·(1 − σ(x))).
  const elementwise = (args: Args, f: (x: number, dy: number) => number) => {
    const x = args.inputs.x, out = args.backend.makeOutput(x.shape, 'float32');
    const xs = args.backend.typedArrayFromHeap(x), dys = args.inputs.dy ? args.backend.typedArrayFromHeap(args.inputs.dy) : xs;
    const o = args.backend.typedArrayFromHeap(out);
    for (let i = 0; i < o.length; i++) o[i] = f(xs[i], dys[i]);
    return out;
  };
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  wasm[SILU] = ((args: Args) => elementwise(args, (x) => x * sig(x))) as unknown as KernelFunc;
  wasm[SILU_GRAD] = ((args: Args) => elementwise(args, (x, dy) => dy * sig(x) * (1 + x * (1 - sig(x))))) as unknown as KernelFunc;
  wasm[CONV_BIAS] = ((args: Args) => {
    const y = wasmConv({ ...args, inputs: { x: args.inputs.x, filter: args.inputs.filter }, attrs: { ...args.attrs, dataFormat: 'NHWC', dilations: 1 } } as never) as TensorInfo;
    const v = args.backend.typedArrayFromHeap(y), b = args.backend.typedArrayFromHeap(args.inputs.bias);
    for (let i = 0; i < v.length; i++) v[i] += b[i % b.length];
    return y;
  }) as unknown as KernelFunc;
  await selectBackend('onednn');
  const native = Object.fromEntries([...OPS, ...OWN].map((n) => [n, getKernel(n, 'wasm')!.kernelFunc])) as Record<string, KernelFunc>;
  for (const op of [...OPS, ...OWN]) {
    unregisterKernel(op, 'wasm');
    registerKernel({
      kernelName: op, backendName: 'wasm',
      kernelFunc: ((args: { inputs: Record<string, TensorInfo>; backend: Backend; attrs: Record<string, unknown> }) => {
        const before = lib.calls;
        const out = native[op](args as never) as TensorInfo | TensorInfo[];
        const viaDnn = lib.calls > before;
        const ref = wasm[op](args as never) as TensorInfo | TensorInfo[];
        const outs = Array.isArray(out) ? out : [out], refs = Array.isArray(ref) ? ref : [ref];
        assert.equal(outs.map((t) => t.shape), refs.map((t) => t.shape), `${op}: output shapes`);
        // Copies (Slice, SplitV, Concat) must be exact; products agree to float32 accumulation error.
        const err = Math.max(...outs.map((t, i) => relErr(args.backend.typedArrayFromHeap(t), args.backend.typedArrayFromHeap(refs[i]))));
        for (const r of refs) args.backend.disposeData(r.dataId);
        const { strides, pad, transposeA, transposeB, begin, size, axis, numOrSizeSplits } = args.attrs ?? {};
        const key = `${op} ${Object.values(args.inputs).map((t) => `[${t.shape}]`).join(' ')} ${JSON.stringify({ strides, pad, transposeA, transposeB, begin, size, axis, numOrSizeSplits })}`;
        const e = seen.get(key) ?? { op, calls: 0, native: 0, maxRel: 0, worst: key };
        e.calls++;
        if (viaDnn) e.native++;
        e.maxRel = Math.max(e.maxRel, err);
        seen.set(key, e);
        return out;
      }) as unknown as KernelFunc,
    });
  }
  return () => {
    for (const op of [...OPS, ...OWN]) {
      unregisterKernel(op, 'wasm');
      registerKernel({ kernelName: op, backendName: 'wasm', kernelFunc: native[op] });
    }
  };
}

/** One training step's forward and backward of every network a preset trains (autoencoder, denoiser). */
function stepPreset(file: string, done: Set<string>): void {
  const cfg = loadTrainConfig(file);
  const img = cfg.data.resize?.[0] ?? cfg.data.pad?.[0] ?? cfg.data.crop?.[0] ?? 28;
  const rng = new Rng(3);
  let size = img, channels = 1;
  if (cfg.vae) {
    const vae = buildVae(cfg, img, 1);
    size = vae.latentSize;
    channels = vae.config.latentChannels;
    const sig = JSON.stringify({ vae: cfg.vae.model, img, b: cfg.vae.train.batchSize });
    if (!done.has(sig)) {
      done.add(sig);
      const b = cfg.vae.train.batchSize;
      const x = tf.tensor4d(rng.normals(b * img * img).map(Math.tanh), [b, img, img, 1]);
      const eps = tf.tensor4d(rng.normals(b * size * size * channels), [b, size, size, channels]);
      const { value, grads } = tf.variableGrads(() => vae.loss(x, eps, cfg.vae!.loss).loss, [...vae.params.vars.values()]);
      tf.dispose([value, ...Object.values(grads), x, eps]);
    }
    vae.dispose();
  }
  const b = cfg.diffusion.train.batchSize;
  const sig = JSON.stringify({ model: cfg.diffusion.model, cond: cfg.diffusion.conditioning, size, channels, b });
  if (done.has(sig)) return;
  done.add(sig);
  const model = new DiffusionModel(cfg.diffusion, { size, channels }, 1);
  const data = tf.tensor4d(rng.normals(b * size * size * channels).map(Math.tanh), [b, size, size, channels]);
  const labels = cfg.diffusion.conditioning?.classes ? Int32Array.from({ length: b }, (_, i) => i % cfg.diffusion.conditioning!.classes) : undefined;
  const task = diffusionTask(model, data, labels);
  const idx = Int32Array.from({ length: b }, (_, i) => i);
  const { value, grads } = tf.variableGrads(() => task.loss(idx, rng, 1), [...task.params.values()]);
  tf.dispose([value, ...Object.values(grads), data]);
  model.dispose();
}

test('oneDNN agrees with the wasm kernels on every conv and matmul of the shipped presets, forward and both gradients', async () => {
  if (!loaded.ok) return;
  const seen = new Map<string, Seen>();
  const restore = await comparing(seen);
  try {
    const dir = new URL('../../configs/train/', import.meta.url).pathname;
    const done = new Set<string>();
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) stepPreset(path.join(dir, f), done);
  } finally {
    restore();
  }
  const rows = [...seen.values()];
  for (const op of [...OPS, ...OWN]) assert.ok(rows.some((r) => r.op === op), `no ${op} call was seen`);
  // Every call took the native path (none fell back to wasm), and agrees to float32 accumulation error.
  const fellBack = rows.filter((r) => r.native !== r.calls);
  assert.equal(fellBack.map((r) => r.worst), [], 'calls that fell back to the wasm kernels');
  const worst = rows.reduce((a, r) => (r.maxRel > a.maxRel ? r : a));
  console.log(`  oneDNN vs wasm: ${rows.length} distinct op shapes, ${rows.reduce((a, r) => a + r.calls, 0)} calls; worst ‖Δ‖∞/‖wasm‖∞ ${worst.maxRel.toExponential(2)} (${worst.worst})`);
  for (const r of rows) assert.ok(r.maxRel < 5e-5, `${r.worst}: relative error ${r.maxRel}`);
  for (const r of rows.filter((r) => ['Slice', 'SplitV', 'Concat'].includes(r.op))) assert.is(r.maxRel, 0, `${r.worst}: a copy must be exact`);
});

test('SiLU and the biased convolution differentiate as their tfjs compositions on the cpu backend', async () => {
  if (!loaded.ok) return;
  const r = new Rng(11);
  const X = r.normals(2 * 6 * 5 * 3).map((v) => 3 * v), W = r.normals(3 * 3 * 3 * 4), B = r.normals(4), G = r.normals(2 * 3 * 3 * 4);
  // One scalar through both ops, stride 2 with 'same' padding on an odd size; gradients in x, w and b.
  const f = (fused: boolean) => () => {
    const x = tf.tensor4d(X, [2, 6, 5, 3]), w = tf.tensor4d(W, [3, 3, 3, 4]), b = tf.tensor1d(B), g = tf.tensor4d(G, [2, 3, 3, 4]);
    const loss = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => {
      const a = fused ? silu(xi) : xi.mul(tf.sigmoid(xi));
      const y = fused ? conv2dBias(a as tf.Tensor4D, wi as tf.Tensor4D, bi, 2, 'same') : tf.conv2d(a as tf.Tensor4D, wi as tf.Tensor4D, 2, 'same').add(bi);
      return y.mul(g).sum() as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(loss)([x, w, b]);
    return [value, ...grads];
  };
  const want = await onBackend('cpu', f(false));
  const lib = (loaded as { dnn: { calls: number } }).dnn, before = lib.calls;
  const got = await onBackend('onednn', f(true));
  assert.ok(lib.calls >= before + 4, 'silu, its gradient and the biased convolution went through oneDNN');
  ['loss', 'dx', 'dw', 'db'].forEach((name, i) => assert.ok(relErr(got[i], want[i]) < 1e-5, `${name}: ${relErr(got[i], want[i])}`));
});

test('oneDNN is the default where it loads; --compute wasm still gives the wasm kernels, and rows name the kernel set', async () => {
  if (!loaded.ok) return;
  const auto = await selectBackend('auto');
  assert.is(auto.backend, 'onednn');
  assert.match(auto.kernels, /^oneDNN 2\.\d+\.\d+ \S+ \(OpenMP\)$/);
  assert.is(currentBackend(), 'onednn');
  const w = await selectBackend('wasm');
  assert.is(w.backend, 'wasm');
  assert.is(currentBackend(), 'wasm');
  assert.match(currentKernels(), /^wasm SIMD/);
  // With wasm forced, a conv no longer reaches oneDNN.
  const lib = (loaded as { dnn: { calls: number } }).dnn;
  const before = lib.calls;
  tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same').dataSync());
  assert.is(lib.calls, before);
  await selectBackend('onednn');
  tf.tidy(() => tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same').dataSync());
  assert.is(lib.calls, before + 1);
});

test('threads: one by default (OMP_NUM_THREADS overrides), set per thread on request', async () => {
  if (!loaded.ok) return;
  await selectBackend('onednn');
  const saved = process.env.OMP_NUM_THREADS;
  try {
    delete process.env.OMP_NUM_THREADS;
    assert.is(defaultComputeThreads(), 1);
    process.env.OMP_NUM_THREADS = '2';
    assert.is(defaultComputeThreads(), 2);
    setComputeThreads();
    assert.is(loaded.dnn.threads, 2);
    setComputeThreads(1);
    assert.is(loaded.dnn.threads, 1);
  } finally {
    if (saved === undefined) delete process.env.OMP_NUM_THREADS; else process.env.OMP_NUM_THREADS = saved;
    setComputeThreads();
  }
});

test('matmul: broadcast batch, transposes and a rank-2 operand against a direct sum', async () => {
  if (!loaded.ok) return;
  await selectBackend('onednn');
  const r = new Rng(5);
  const A = r.normals(3 * 4 * 5), B = r.normals(5 * 6);
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const a = tf.tensor3d(A, ta ? [3, 5, 4] : [3, 4, 5]), b = tf.tensor2d(B, tb ? [6, 5] : [5, 6]);
    const c = tf.matMul(a, b, ta, tb);
    assert.equal(c.shape, [3, 4, 6]);
    const got = c.dataSync();
    let err = 0;
    for (let i = 0; i < 3; i++) for (let m = 0; m < 4; m++) for (let n = 0; n < 6; n++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += A[ta ? (i * 5 + k) * 4 + m : (i * 4 + m) * 5 + k] * B[tb ? n * 5 + k : k * 6 + n];
      err = Math.max(err, Math.abs(s - got[(i * 4 + m) * 6 + n]));
    }
    assert.ok(err < 1e-5, `transposeA ${ta} transposeB ${tb}: ${err}`);
    tf.dispose([a, b, c]);
  }
});

test('slices, splits and concatenations of any geometry equal the wasm kernels\' (blocks go to oneDNN, the rest falls back)', async () => {
  if (!loaded.ok) return;
  const x = Array.from({ length: 3 * 4 * 5 * 6 }, (_, i) => i - 100.5);
  const cases = () => {
    const t = tf.tensor4d(x, [3, 4, 5, 6]);
    const outs = [
      t.slice([0, 0, 0, 2], [3, 4, 5, 3]), // last axis: a block
      t.slice([0, 1, 0, 0], [3, 2, 5, 6]), // an inner axis, trailing whole: a block
      t.slice([1, 0, 2, 0], [2, 4, 2, 6]), // a partial outer axis: falls back
      t.slice([2, 3, 4, 5], [1, 1, 1, 1]),
      ...tf.split(t, [2, 4], 3), ...tf.split(t, [1, 3], 1), ...tf.split(t, 3, 0),
      tf.concat([t, t.mul(2)], 3), tf.concat([t, t.slice([0, 0, 0, 0], [3, 1, 5, 6])], 1), tf.concat([t, t], 0),
    ];
    return outs.map((o) => ({ shape: o.shape, data: Array.from(o.dataSync()) }));
  };
  await selectBackend('wasm');
  const want = tf.tidy(cases);
  await selectBackend('onednn');
  const lib = (loaded as { dnn: { calls: number } }).dnn, before = lib.calls;
  const got = tf.tidy(cases);
  assert.equal(got, want);
  assert.ok(lib.calls > before, 'no copy went through oneDNN');
});

test.run();
