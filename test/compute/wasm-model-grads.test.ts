// Every gradient a UNet and a KL autoencoder need, on wasm against the cpu backend, and no leaks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

// The cpu backend is the reference except where it is itself wrong (tfjs-backend-cpu 4.22): its
// ResizeBilinearGrad swaps H and W in its output shape for non-square maps, and its
// ResizeNearestNeighborGrad is not the adjoint of its forward op. So the comparison uses square maps
// and leaves nearest-neighbour resizing to the adjointness test below.
const B = 2, H = 8, W = 8, C = 8, G = 4;

function groupNorm(x: tf.Tensor4D, groups: number, eps = 1e-5): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const g = x.reshape([b, h, w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 2, 4], true);
  return g.sub(mean).div(variance.add(eps).sqrt()).reshape([b, h, w, c]);
}

const silu = (x: tf.Tensor) => x.mul(tf.sigmoid(x));

/** Self-attention over the spatial positions, as in the DDPM/ADM UNet. */
function attention(x: tf.Tensor4D, wq: tf.Tensor2D, wk: tf.Tensor2D, wv: tf.Tensor2D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const seq = x.reshape([b, h * w, c]);
  const q = tf.matMul(seq.reshape([b * h * w, c]), wq).reshape([b, h * w, c]);
  const k = tf.matMul(seq.reshape([b * h * w, c]), wk).reshape([b, h * w, c]);
  const v = tf.matMul(seq.reshape([b * h * w, c]), wv).reshape([b, h * w, c]);
  const attn = tf.softmax(tf.matMul(q, k, false, true).div(Math.sqrt(c)));
  return tf.matMul(attn, v).reshape([b, h, w, c]).add(x) as tf.Tensor4D;
}

interface Params { x: Float32Array; w1: Float32Array; wq: Float32Array; wk: Float32Array; wv: Float32Array; wt: Float32Array; w2: Float32Array; ln: Float32Array }

function params(seed: number): Params {
  const r = new Rng(seed), s = (n: number, scale: number) => r.normals(n).map((v) => v * scale);
  return { x: s(B * H * W * 3, 1), w1: s(9 * 3 * C, 0.3), wq: s(C * C, 0.3), wk: s(C * C, 0.3), wv: s(C * C, 0.3), wt: s(16 * C * 2 * C, 0.2), w2: s(9 * C, 0.2), ln: s(C, 1) };
}

/** A miniature UNet/VAE path touching each op whose gradient training needs. */
function forward(p: Record<keyof Params, tf.Tensor>): tf.Scalar {
  const x = p.x as tf.Tensor4D;
  let h = tf.conv2d(x, p.w1 as tf.Tensor4D, 1, 'same');
  h = silu(groupNorm(h, G)) as tf.Tensor4D;
  h = attention(h, p.wq as tf.Tensor2D, p.wk as tf.Tensor2D, p.wv as tf.Tensor2D);
  // Layer norm over channels (tf.moments), then a downsample/upsample round trip.
  const { mean, variance } = tf.moments(h, [3], true);
  h = h.sub(mean).div(variance.add(1e-5).sqrt()).mul(p.ln) as tf.Tensor4D;
  const down = tf.avgPool(h, 2, 2, 'valid');
  const upB = tf.image.resizeBilinear(down, [H, W]);
  const cat = tf.concat([upB, h as tf.Tensor], 3) as tf.Tensor4D; // 2C channels
  // Transposed conv back up from the pooled map (the VAE decoder's learned upsampling).
  const tconv = tf.conv2dTranspose(tf.avgPool(cat, 2, 2, 'valid'), p.wt as tf.Tensor4D, [B, H, W, C], 2, 'same');
  const y = tf.conv2d(tf.tanh(tconv).add(h) as tf.Tensor4D, tf.reshape(p.w2, [3, 3, C, 1]) as tf.Tensor4D, 1, 'same');
  return tf.sum(tf.square(y)).add(tf.mean(tf.abs(cat))) as tf.Scalar;
}

const SHAPES: Record<keyof Params, number[]> = { x: [B, H, W, 3], w1: [3, 3, 3, C], wq: [C, C], wk: [C, C], wv: [C, C], wt: [4, 4, C, 2 * C], w2: [3 * 3 * C], ln: [C] };

test('gradients of GroupNorm, SiLU, attention, LayerNorm, avg-pool, bilinear resize, concat and conv2dTranspose: wasm = cpu', async () => {
  const p = params(11);
  const keys = Object.keys(SHAPES) as (keyof Params)[];
  const run = () => {
    const ts = keys.map((k) => tf.tensor(p[k], SHAPES[k]));
    const f = (...args: tf.Tensor[]) => forward(Object.fromEntries(keys.map((k, i) => [k, args[i]])) as Record<keyof Params, tf.Tensor>);
    const { value, grads } = tf.valueAndGrads(f)(ts);
    return [value, ...grads];
  };
  const w = await onBackend('wasm', run);
  const c = await onBackend('cpu', run);
  assert.ok(relErr(w[0], c[0]) <= 1e-4, `loss rel err ${relErr(w[0], c[0])}`);
  keys.forEach((k, i) => {
    const e = relErr(w[i + 1], c[i + 1]);
    assert.ok(e <= 1e-4, `d/d${k} rel err ${e}`);
    assert.ok(c[i + 1].some((v) => v !== 0), `d/d${k} is identically zero: the test would not see a wrong gradient`);
  });
});

test('resize and pool gradients on wasm are the adjoints of their forward ops (non-square maps)', async () => {
  await selectBackend('wasm');
  const r = new Rng(9);
  const x = tf.tensor4d(r.normals(2 * 5 * 3 * 4), [2, 5, 3, 4]);
  const ops: Record<string, (t: tf.Tensor4D) => tf.Tensor4D> = {
    resizeBilinear: (t) => tf.image.resizeBilinear(t, [9, 7]),
    resizeBilinearAligned: (t) => tf.image.resizeBilinear(t, [10, 6], true),
    resizeNearest: (t) => tf.image.resizeNearestNeighbor(t, [10, 6]),
    // 'valid' only: tfjs's AvgPoolGrad divides by the full window even where the forward op with
    // 'same' padding divides by the count of in-bounds pixels, on every backend.
    avgPool: (t) => tf.avgPool(t, 2, 1, 'valid'),
    avgPoolStrided: (t) => tf.avgPool(t, [3, 2], [2, 1], 'valid'),
  };
  for (const [name, op] of Object.entries(ops)) {
    // For linear A: <A x, y> = <x, Aᵀ y>, and Aᵀ y is the gradient of <A x, y> with respect to x.
    const [lhs, rhs] = tf.tidy(() => {
      const ax = op(x);
      const y = tf.tensor(new Rng(10).normals(ax.size), ax.shape);
      const aty = tf.grad((t: tf.Tensor) => op(t as tf.Tensor4D).mul(y).sum())(x);
      return [ax.mul(y).sum().dataSync()[0], x.mul(aty).sum().dataSync()[0]];
    });
    assert.ok(Math.abs(lhs - rhs) <= 1e-4 * Math.max(1, Math.abs(lhs)), `${name}: <Ax,y>=${lhs} <x,Aᵀy>=${rhs}`);
  }
  x.dispose();
});

test('a conv-net training step on wasm leaves tf.memory().numTensors unchanged', async () => {
  await selectBackend('wasm');
  const r = new Rng(5);
  const w1 = tf.variable(tf.tensor4d(r.normals(9 * 1 * 16).map((v) => v * 0.3), [3, 3, 1, 16]));
  const w2 = tf.variable(tf.tensor4d(r.normals(9 * 16 * 1).map((v) => v * 0.1), [3, 3, 16, 1]));
  const x = tf.tensor4d(r.normals(4 * 12 * 10), [4, 12, 10, 1]);
  const opt = tf.train.adam(1e-2);
  const loss = () => {
    const h = silu(groupNorm(tf.conv2d(x, w1, 2, 'same'), 4));
    const up = tf.image.resizeNearestNeighbor(h as tf.Tensor4D, [12, 10]);
    return tf.mean(tf.square(tf.conv2d(up, w2, 1, 'same').sub(x))) as tf.Scalar;
  };
  const step = () => { const l = opt.minimize(loss, true, [w1, w2]); const v = l!.dataSync()[0]; l!.dispose(); return v; };
  const first = step(); // creates Adam's moment slots
  const before = tf.memory().numTensors;
  let last = first;
  for (let i = 0; i < 30; i++) last = step();
  assert.is(tf.memory().numTensors, before);
  // The step must actually train, or the leak check would be vacuous.
  assert.ok(last < first * 0.8, `loss ${first} -> ${last}`);
  tf.dispose([w1, w2, x]);
  opt.dispose();
});

test.run();
