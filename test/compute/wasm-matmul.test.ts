// difflab's wasm BatchMatMul (SIMD kernels, else XNNPACK) against the cpu backend's reference kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

// [a shape, b shape, transposeA, transposeB]: batch 1 and > 1, a shared (batch-1) right operand,
// a shared left operand, rank 4, odd sizes, every transpose combination.
const CASES: [number[], number[], boolean, boolean][] = [
  [[7, 5], [5, 3], false, false],
  [[5, 7], [5, 3], true, false],
  [[7, 5], [3, 5], false, true],
  [[5, 7], [3, 5], true, true],
  [[4, 9, 6], [4, 6, 5], false, false],
  [[4, 9, 6], [4, 5, 6], false, true], // attention's q·kᵀ
  [[3, 6, 9], [3, 6, 5], true, false],
  [[3, 9, 6], [1, 6, 5], false, false], // shared weights
  [[1, 9, 6], [3, 6, 5], false, false], // shared left operand
  [[2, 3, 5, 4], [2, 3, 4, 6], false, false],
  [[2, 3, 4, 5], [2, 3, 6, 4], true, true],
  [[64, 33], [64, 17], true, false], // a dense layer's weight gradient
  // N a multiple of 4: difflab's SIMD kernels (8-wide and 4-wide channel tiles) instead of XNNPACK.
  [[7, 5], [5, 8], false, false],
  [[5, 7], [5, 12], true, false],
  [[7, 5], [8, 5], false, true],
  [[5, 7], [12, 5], true, true],
  [[4, 9, 6], [4, 6, 8], false, false],
  [[4, 9, 6], [4, 12, 6], false, true],
  [[3, 6, 9], [3, 6, 16], true, false],
  [[3, 9, 6], [1, 6, 8], false, false],
  [[1, 9, 6], [3, 6, 4], false, false],
  [[3, 6, 9], [1, 6, 8], true, false],
  [[2, 3, 4, 5], [2, 3, 8, 4], true, true],
  [[64, 33], [64, 24], true, false],
  [[300, 6], [300, 8], true, false], // K rows in chunks of 128 and a 44-row rest
];

for (const [as, bs, ta, tb] of CASES) {
  test(`BatchMatMul on wasm equals cpu: ${as.join('×')} · ${bs.join('×')} tA=${ta} tB=${tb}`, async () => {
    const r = new Rng(as.length * 100 + bs[bs.length - 1]);
    const av = r.normals(as.reduce((x, y) => x * y)), bv = r.normals(bs.reduce((x, y) => x * y));
    const f = () => [tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb)];
    const [w] = await onBackend('wasm', f);
    const [c] = await onBackend('cpu', f);
    assert.ok(relErr(w, c) < 1e-5, `rel err ${relErr(w, c)}`);
  });
}

test('matMul gradients (transposed products) on wasm equal cpu, with no leaked tensors', async () => {
  const r = new Rng(8);
  const av = r.normals(3 * 10 * 7), bv = r.normals(3 * 7 * 4), wv = r.normals(3 * 10 * 4);
  const f = () => {
    const [a, b, w] = [tf.tensor(av, [3, 10, 7]), tf.tensor(bv, [3, 7, 4]), tf.tensor(wv, [3, 10, 4])];
    return tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).mul(w).sum())([a, b]);
  };
  const w = await onBackend('wasm', f);
  const c = await onBackend('cpu', f);
  w.forEach((g, i) => assert.ok(relErr(g, c[i]) < 1e-5, `grad ${i}: ${relErr(g, c[i])}`));
  await selectBackend('wasm');
  const before = tf.memory().numTensors;
  tf.dispose(tf.tidy(f));
  assert.is(tf.memory().numTensors, before);
});

test.run();
