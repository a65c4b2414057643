// The wasm conv gradient kernels against the cpu backend's reference kernels.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case { x: [number, number, number, number]; f: [number, number, number, number]; stride: number | [number, number]; pad: Pad }

// Batch 1–3, H ≠ W, odd and even sizes, 1–64 channels, kernels 1–5, strides 1/2 (and mixed), all paddings.
const CASES: Case[] = [
  { x: [1, 8, 8, 1], f: [3, 3, 1, 8], stride: 1, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { x: [3, 10, 6, 4], f: [3, 3, 4, 4], stride: 2, pad: 'same' },
  { x: [2, 9, 7, 8], f: [3, 3, 8, 16], stride: 2, pad: 'same' },
  { x: [2, 11, 8, 5], f: [5, 5, 5, 3], stride: 1, pad: 'valid' },
  { x: [1, 12, 13, 16], f: [4, 4, 16, 16], stride: 2, pad: 'valid' },
  { x: [2, 6, 10, 2], f: [1, 1, 2, 6], stride: 2, pad: 'same' },
  { x: [2, 14, 14, 32], f: [3, 3, 32, 64], stride: 1, pad: 'same' },
  { x: [2, 14, 12, 64], f: [3, 3, 64, 32], stride: 2, pad: 'same' },
  { x: [1, 9, 9, 64], f: [2, 2, 64, 64], stride: 1, pad: 'same' },
  { x: [2, 7, 11, 3], f: [3, 5, 3, 4], stride: [1, 2], pad: 'same' },
  { x: [2, 8, 9, 4], f: [3, 3, 4, 6], stride: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 9, 8, 6], f: [3, 3, 6, 2], stride: 2, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  // Shapes for the SIMD kernels' edges: 4-wide channel tiles (12), row and channel tails (13 columns,
  // 5 and 6 input channels), three 8-wide tiles (24), stride 2 with an odd width.
  { x: [2, 9, 13, 12], f: [3, 3, 12, 12], stride: 1, pad: 'same' },
  { x: [3, 6, 7, 5], f: [3, 3, 5, 24], stride: 2, pad: 'same' },
  { x: [2, 5, 11, 6], f: [2, 3, 6, 8], stride: 1, pad: 'valid' },
];

const TOL = 1e-4;

function describe(c: Case): string {
  return `x=${c.x.join('×')} f=${c.f.join('×')} s=${c.stride} pad=${JSON.stringify(c.pad)}`;
}

for (const c of CASES) {
  test(`conv2d and its gradients on wasm equal cpu: ${describe(c)}`, async () => {
    const rng = new Rng(1);
    const xv = rng.normals(c.x.reduce((a, b) => a * b));
    const fv = rng.normals(c.f.reduce((a, b) => a * b));
    const grads = () => {
      const x = tf.tensor4d(xv, c.x), f = tf.tensor4d(fv, c.f);
      const y0 = tf.conv2d(x, f, c.stride, c.pad);
      // A random linear read-out makes dy non-uniform, so every tap's contribution is tested.
      const r = tf.tensor(new Rng(2).normals(y0.size), y0.shape);
      const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad).mul(r).sum())([x, f]);
      return [y0, dx, df];
    };
    const [yW, dxW, dfW] = await onBackend('wasm', grads);
    const [yC, dxC, dfC] = await onBackend('cpu', grads);
    const ey = relErr(yW, yC), ex = relErr(dxW, dxC), ef = relErr(dfW, dfC);
    assert.ok(ey <= TOL, `forward rel err ${ey}`);
    assert.ok(ex <= TOL, `input gradient rel err ${ex}`);
    assert.ok(ef <= TOL, `filter gradient rel err ${ef}`);
  });
}

test('conv2dTranspose (forward use of Conv2DBackpropInput) on wasm equals cpu', async () => {
  const rng = new Rng(3);
  const xv = rng.normals(2 * 7 * 5 * 8), fv = rng.normals(4 * 4 * 3 * 8);
  const run = () => [tf.conv2dTranspose(tf.tensor4d(xv, [2, 7, 5, 8]), tf.tensor4d(fv, [4, 4, 3, 8]), [2, 14, 10, 3], 2, 'same')];
  const [w] = await onBackend('wasm', run);
  const [c] = await onBackend('cpu', run);
  assert.ok(relErr(w, c) <= TOL, `rel err ${relErr(w, c)}`);
});

test('NCHW filter gradient on wasm fails with a message naming the data format', async () => {
  await onBackend('wasm', () => []);
  const x = tf.zeros([1, 2, 5, 5]), dy = tf.zeros([1, 3, 5, 5]);
  assert.throws(
    () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 3] }),
    /NHWC/,
  );
  tf.dispose([x, dy]);
});

test.run();
