// The wasm Identity shares its input's buffer: same values, independent lifetimes, no leaks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';

test('clone on wasm has the input values and outlives the input', async () => {
  await selectBackend('wasm');
  const bytes0 = tf.memory().numBytes, tensors0 = tf.memory().numTensors;
  const x = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  const y = x.clone();
  assert.equal(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6]);
  assert.equal(y.shape, [2, 3]);
  x.dispose();
  assert.equal(Array.from(y.dataSync()), [1, 2, 3, 4, 5, 6], 'the clone must survive its source');
  y.dispose();
  assert.is(tf.memory().numTensors, tensors0);
  assert.is(tf.memory().numBytes, bytes0);
});

test('a variable assigned after cloning leaves the clone unchanged', async () => {
  await selectBackend('wasm');
  const v = tf.variable(tf.tensor1d([1, 2, 3]));
  const c = v.clone();
  v.assign(tf.tensor1d([7, 8, 9]));
  assert.equal(Array.from(c.dataSync()), [1, 2, 3]);
  assert.equal(Array.from(v.dataSync()), [7, 8, 9]);
  tf.dispose([v, c]);
});

test('a cast to the same dtype shares the buffer and outlives its source; a cast to another converts', async () => {
  await selectBackend('wasm');
  const bytes0 = tf.memory().numBytes, tensors0 = tf.memory().numTensors;
  const x = tf.tensor([1.5, -2.5, 3.75], [3]);
  const y = tf.cast(x, 'float32'), z = tf.cast(x, 'int32');
  assert.ok(y.dataId === x.dataId, 'float32 → float32 shares the input buffer');
  assert.ok(z.dataId !== x.dataId, 'float32 → int32 is a new buffer');
  x.dispose();
  assert.equal(Array.from(y.dataSync()), [1.5, -2.5, 3.75]);
  assert.equal(Array.from(z.dataSync()), [1, -2, 3]);
  assert.is(z.dtype, 'int32');
  tf.dispose([y, z]);
  assert.is(tf.memory().numTensors, tensors0);
  assert.is(tf.memory().numBytes, bytes0);
});

test('gradients through identities on wasm equal cpu', async () => {
  const run = async (b: 'wasm' | 'cpu') => {
    await selectBackend(b);
    return tf.tidy(() => {
      const x = tf.tensor1d([0.5, -1, 2]);
      return Array.from(tf.grad((a: tf.Tensor) => a.clone().mul(a).add(a.clone()).sum())(x).dataSync());
    });
  };
  assert.equal(await run('wasm'), await run('cpu'));
});

test.run();
