// The wasm MaxPoolGrad kernel against the cpu backend: overlapping and strided windows, 'same'
// padding, ties (the first maximum takes the gradient) and −∞ windows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend } from '../helpers/compare.js';

type Case = { shape: [number, number, number, number]; filter: [number, number] | number; stride: [number, number] | number; pad: 'valid' | 'same' };
const CASES: Case[] = [
  { shape: [2, 8, 8, 3], filter: 2, stride: 2, pad: 'valid' },
  { shape: [3, 7, 5, 4], filter: 2, stride: 2, pad: 'same' },
  { shape: [2, 9, 6, 2], filter: 3, stride: 1, pad: 'same' },
  { shape: [1, 11, 10, 5], filter: [3, 2], stride: [2, 1], pad: 'valid' },
  { shape: [2, 6, 7, 33], filter: 3, stride: 2, pad: 'same' },
];

function grads(c: Case, values: Float32Array) {
  return () => {
    const x = tf.tensor4d(values, c.shape);
    const y = tf.maxPool(x, c.filter, c.stride, c.pad);
    // Integer upstream gradients keep every sum exact, whatever order a backend adds in.
    const w = tf.tensor(new Rng(3).normals(y.size).map((g) => Math.round(4 * g) || 1), y.shape);
    return [tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, c.filter, c.stride, c.pad).mul(w).sum())(x)];
  };
}

for (const c of CASES) {
  const label = `${c.shape.join('×')} filter ${c.filter} stride ${c.stride} ${c.pad}`;
  test(`maxPool gradient ${label}: wasm = cpu exactly`, async () => {
    const v = Float32Array.from(new Rng(c.shape[3]).normals(c.shape.reduce((a, b) => a * b)));
    const [w] = await onBackend('wasm', grads(c, v)), [r] = await onBackend('cpu', grads(c, v));
    assert.equal(Array.from(w), Array.from(r));
    assert.ok(r.some((g) => g !== 0));
  });
  test(`maxPool gradient ${label} with ties and −∞: wasm = cpu exactly`, async () => {
    // Post-ReLU maps are mostly zeros: whole windows tie, and only the first pixel may get the gradient.
    const rng = new Rng(7);
    const v = Float32Array.from({ length: c.shape.reduce((a, b) => a * b) }, () => {
      const u = rng.uniform();
      return u < 0.5 ? 0 : u < 0.6 ? Number.NEGATIVE_INFINITY : Math.round(u * 4);
    });
    const [w] = await onBackend('wasm', grads(c, v)), [r] = await onBackend('cpu', grads(c, v));
    assert.equal(Array.from(w), Array.from(r));
  });
}

test.run();
