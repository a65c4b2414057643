// The wasm Slice and SplitV kernels at every rank against the cpu backend, and the gradient of concat (a split).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend } from '../helpers/compare.js';

const CASES: [number[], number[], number[]][] = [
  [[7], [2], [4]],
  [[5, 6], [1, 0], [3, 6]],
  [[5, 6], [0, 2], [5, 3]],
  [[4, 5, 6], [1, 2, 3], [2, 3, 3]],
  [[3, 4, 5, 6], [0, 1, 0, 2], [3, 2, 5, 4]],
  [[2, 7, 3, 1, 5], [0, 0, 1, 0, 0], [2, 7, 1, 1, 5]],
  [[2, 3, 4, 5, 6, 2], [1, 0, 2, 1, 0, 1], [1, 3, 2, 4, 6, 1]],
  [[4, 6], [0, 0], [-1, -1]],
];

for (const [shape, begin, size] of CASES) {
  test(`slice ${shape.join('×')} from ${begin} size ${size}: wasm = cpu exactly`, async () => {
    const v = new Rng(shape.length).normals(shape.reduce((a, b) => a * b));
    const f = () => [tf.slice(tf.tensor(v, shape), begin, size), tf.slice(tf.tensor(Int32Array.from(v, (x) => Math.round(x * 100)), shape, 'int32'), begin, size)];
    const w = await onBackend('wasm', f), c = await onBackend('cpu', f);
    assert.equal(Array.from(w[0]), Array.from(c[0]));
    assert.equal(Array.from(w[1]), Array.from(c[1]));
  });
}

test('concat gradient (split via slices) on wasm equals cpu', async () => {
  const r = new Rng(9), a = r.normals(2 * 3 * 4 * 5), b = r.normals(2 * 3 * 4 * 2), wv = r.normals(2 * 3 * 4 * 7);
  const f = () => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.concat([x, y], 3).mul(tf.tensor(wv, [2, 3, 4, 7])).sum())([tf.tensor(a, [2, 3, 4, 5]), tf.tensor(b, [2, 3, 4, 2])]);
  const w = await onBackend('wasm', f), c = await onBackend('cpu', f);
  w.forEach((g, i) => assert.equal(Array.from(g), Array.from(c[i])));
});

for (const [shape, sizes, axis] of [[[2, 4, 4, 12], [5, 7], 3], [[3, 8, 5], 4, 1], [[6, 5], [1, 2, 3], 0], [[2, 3, 4, 9], [2, -1, 3], -1]] as [number[], number[] | number, number][]) {
  test(`split ${shape.join('×')} into ${sizes} along ${axis}: wasm = cpu exactly`, async () => {
    const v = new Rng(shape.length + 20).normals(shape.reduce((a, b) => a * b));
    const f = () => tf.split(tf.tensor(v, shape), sizes, axis);
    const w = await onBackend('wasm', f), c = await onBackend('cpu', f);
    assert.is(w.length, c.length);
    w.forEach((p, i) => assert.equal(Array.from(p), Array.from(c[i])));
  });
}

test.run();
