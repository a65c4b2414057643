// The wasm Sum over leading axes (bias gradients) against the cpu backend, and its fallbacks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

// [shape, axes, keepDims]: many 256-row chunks and a partial one, rank 2 and 3, keepDims, the
// middle axes per sample (one and two of them, 300 rows: two chunks per sample), and reductions the
// SIMD path does not take (last axis, C not a multiple of 4, a run not ending before the last axis).
const CASES: [number[], number[], boolean][] = [
  [[64, 16, 16, 32], [0, 1, 2], false],
  [[3, 7, 11, 12], [0, 1, 2], true],
  [[300, 8], [0], false],
  [[5, 9, 4], [1, 0], false],
  [[4, 6, 10], [2], false],
  [[4, 6, 6], [0, 1], false],
  [[4, 6, 8], [1], true],
  [[32, 16, 16, 32], [1, 2], false],
  [[3, 20, 15, 8], [2, 1], true],
  [[2, 3, 300, 4], [2], false],
  [[4, 6, 8, 4], [1], false],
];

for (const [shape, axes, keepDims] of CASES) {
  test(`Sum on wasm equals cpu: ${shape.join('×')} axes=${axes} keepDims=${keepDims}`, async () => {
    // A mean offset, so float32 accumulation errors would show against the cpu's sum.
    const v = new Rng(shape.length + shape[shape.length - 1]).normals(shape.reduce((a, b) => a * b)).map((x) => x + 3);
    const f = () => [tf.sum(tf.tensor(v, shape), axes, keepDims)];
    const [w] = await onBackend('wasm', f);
    const [c] = await onBackend('cpu', f);
    assert.is(w.length, c.length);
    assert.ok(relErr(w, c) < 1e-5, `rel err ${relErr(w, c)}`);
  });
}

test('keepDims keeps every reduced axis as 1', async () => {
  const [shapeOut] = await onBackend('wasm', () => [tf.tensor1d(tf.sum(tf.ones([2, 3, 4]), [0, 1], true).shape)]);
  assert.equal(Array.from(shapeOut), [1, 1, 4]);
});

test.run();
