// Winograd F(2×2, 3×3) on the wasm backend against the cpu backend's direct convolution: the forward
// conv and the input gradient (a stride-1 conv itself), on shapes that take the path, and the rule
// that sends the others to the direct kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import * as winograd from '../../src/compute/wasm-winograd.js';
import { convSpec } from '../../src/compute/wasm-simd-conv.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const CASES: { x: [number, number, number, number]; cout: number; pad: Pad }[] = [
  { x: [3, 16, 16, 32], cout: 64, pad: 'same' },
  { x: [2, 8, 12, 64], cout: 32, pad: 'same' },
  { x: [2, 10, 10, 16], cout: 20, pad: 'valid' }, // 8×8 outputs
  { x: [1, 9, 11, 24], cout: 8, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] }, // 8×10 outputs, asymmetric padding
];

for (const c of CASES) {
  test(`Winograd conv2d and input gradient = cpu (rel. error ≤ 1e-4): x=${c.x.join('×')} → ${c.cout}, pad ${JSON.stringify(c.pad)}`, async () => {
    const r = new Rng(c.x[3] + c.cout);
    const xv = r.normals(c.x.reduce((a, b) => a * b)), wv = r.normals(9 * c.x[3] * c.cout).map((v) => v / Math.sqrt(9 * c.x[3]));
    const calls: number[] = [];
    const f = () => {
      const x = tf.tensor4d(xv, c.x), w = tf.tensor4d(wv, [3, 3, c.x[3], c.cout]);
      calls.push(winograd.winogradCalls);
      const y = tf.conv2d(x, w, 1, c.pad);
      calls.push(winograd.winogradCalls);
      const dy = tf.tensor4d(new Rng(5).normals(y.size), y.shape as [number, number, number, number]);
      const dx = tf.grad((xx: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, w, 1, c.pad).mul(dy).sum())(x);
      calls.push(winograd.winogradCalls);
      return [y, dx];
    };
    const w = await onBackend('wasm', f);
    assert.is(calls[1] - calls[0], 1, 'the forward conv takes the Winograd path');
    // The gradient recomputes the forward conv; its input gradient is a conv with Cout input channels.
    assert.is(calls[2] - calls[1], c.cout >= winograd.MIN_CIN ? 2 : 1, 'the input gradient takes the Winograd path where its channels allow');
    const cpu = await onBackend('cpu', f);
    const ey = relErr(w[0], cpu[0]), edx = relErr(w[1], cpu[1]);
    assert.ok(ey < 1e-4, `forward: relative error ${ey}`);
    assert.ok(edx < 1e-4, `input gradient: relative error ${edx}`);
  });
}

test('the rule: 3×3 stride 1, even output sides ≥ 8, ≥ 16 input channels in whole vectors', () => {
  const applies = (cin: number, cout: number, k: number, s: number, oh: number, ow: number) => winograd.winogradApplies(convSpec(cin, cout, k, k, s, s, oh, ow));
  assert.ok(applies(32, 64, 3, 1, 16, 16));
  assert.ok(applies(16, 4, 3, 1, 8, 8));
  assert.not.ok(applies(8, 64, 3, 1, 16, 16), 'too few input channels');
  assert.not.ok(applies(64, 64, 3, 1, 4, 4), '4×4 outputs: slower than direct');
  assert.not.ok(applies(64, 64, 3, 2, 8, 8), 'stride 2');
  assert.not.ok(applies(64, 64, 3, 1, 7, 8), 'odd output side');
  assert.not.ok(applies(64, 64, 5, 1, 8, 8), '5×5');
  assert.not.ok(applies(18, 64, 3, 1, 8, 8), 'input channels not a multiple of 4');
});

test.run();
