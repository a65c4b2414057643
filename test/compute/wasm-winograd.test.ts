// Winograd F(2×2, 3×3) and F(4×4, 3×3) on the wasm backend against the cpu backend's direct
// convolution: the forward conv and the input gradient (a stride-1 conv itself), the filter gradient
// (F(2×2)), on shapes that take each path, and the rules that send the others to the direct kernel.
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
  { x: [2, 16, 20, 64], cout: 32, pad: 'same' },
  { x: [2, 18, 18, 32], cout: 36, pad: 'valid' }, // 16×16 outputs
  { x: [2, 8, 12, 64], cout: 32, pad: 'same' }, // 8×12: F(2×2) only
  { x: [1, 9, 11, 32], cout: 8, pad: [[0, 0], [1, 0], [0, 1], [0, 0]] }, // 8×10 outputs, asymmetric padding: F(2×2) only
];

for (const tiles of [[2], [4]] as (2 | 4)[][]) {
  for (const c of CASES) {
    const oh = c.pad === 'valid' ? c.x[1] - 2 : Array.isArray(c.pad) ? c.x[1] + c.pad[1][0] + c.pad[1][1] - 2 : c.x[1];
    const ow = c.pad === 'valid' ? c.x[2] - 2 : Array.isArray(c.pad) ? c.x[2] + c.pad[2][0] + c.pad[2][1] - 2 : c.x[2];
    const fwd = (winograd.setWinograd(tiles), winograd.winogradTile(convSpec(c.x[3], c.cout, 3, 3, 1, 1, oh, ow)));
    const back = winograd.winogradTile(convSpec(c.cout, c.x[3], 3, 3, 1, 1, c.x[1], c.x[2]));
    winograd.setWinograd([2, 4]);
    if (!fwd) continue; // this tile size does not fit the shape (covered by the rule test)
    test(`F(${fwd}×${fwd}, 3×3) conv2d and input gradient = cpu (rel. error ≤ 1e-4): x=${c.x.join('×')} → ${c.cout}, pad ${JSON.stringify(c.pad)}`, async () => {
      const r = new Rng(c.x[3] + c.cout);
      const xv = r.normals(c.x.reduce((a, b) => a * b)), wv = r.normals(9 * c.x[3] * c.cout).map((v) => v / Math.sqrt(9 * c.x[3]));
      const calls: number[] = [];
      const count = () => calls.push(winograd.winogradCalls.total);
      const f = () => {
        const x = tf.tensor4d(xv, c.x), w = tf.tensor4d(wv, [3, 3, c.x[3], c.cout]);
        count();
        const y = tf.conv2d(x, w, 1, c.pad);
        count();
        const dy = tf.tensor4d(new Rng(5).normals(y.size), y.shape as [number, number, number, number]);
        const dx = tf.grad((xx: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, w, 1, c.pad).mul(dy).sum())(x);
        count();
        return [y, dx];
      };
      winograd.setWinograd(tiles);
      const before = winograd.winogradCalls[fwd];
      let w: Float32Array[];
      try {
        w = await onBackend('wasm', f);
      } finally {
        winograd.setWinograd([2, 4]);
      }
      assert.is(calls[1] - calls[0], 1, 'the forward conv takes the Winograd path');
      // The gradient recomputes the forward conv; its input gradient is a conv with Cout input channels.
      assert.is(calls[2] - calls[1], back ? 2 : 1, 'the input gradient takes the Winograd path where its shape allows');
      assert.ok(winograd.winogradCalls[fwd] - before >= 2, `F(${fwd}×${fwd}) ran`);
      const cpu = await onBackend('cpu', f);
      const ey = relErr(w[0], cpu[0]), edx = relErr(w[1], cpu[1]);
      assert.ok(ey < 1e-4, `forward: relative error ${ey}`);
      assert.ok(edx < 1e-4, `input gradient: relative error ${edx}`);
    });
  }
}

for (const c of [{ x: [2, 8, 8, 128], cout: 32 }, { x: [1, 16, 12, 128], cout: 16 }] as { x: [number, number, number, number]; cout: number }[]) {
  test(`F(2×2, 3×3) filter gradient = cpu (rel. error ≤ 1e-4): x=${c.x.join('×')} → ${c.cout}`, async () => {
    const r = new Rng(c.cout);
    const xv = r.normals(c.x.reduce((a, b) => a * b)), dyv = r.normals(c.x[0] * c.x[1] * c.x[2] * c.cout);
    let calls = 0;
    const f = () => {
      const x = tf.tensor4d(xv, c.x), dy = tf.tensor4d(dyv, [c.x[0], c.x[1], c.x[2], c.cout]);
      const before = winograd.winogradCalls[2];
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1], filterShape: [3, 3, c.x[3], c.cout] }) as tf.Tensor;
      calls = winograd.winogradCalls[2] - before;
      return [dw];
    };
    const w = await onBackend('wasm', f);
    assert.is(calls, 1, 'the filter gradient takes the Winograd path');
    const cpu = await onBackend('cpu', f);
    const e = relErr(w[0], cpu[0]);
    assert.ok(e < 1e-4, `filter gradient: relative error ${e}`);
  });
}

test('the rule: 3×3 stride 1, ≥ 32 input channels in whole vectors, output sides ≥ 8; F(4×4) on multiples of 4 from 16, F(2×2) on even sides', () => {
  const tile = (cin: number, cout: number, k: number, s: number, oh: number, ow: number) => winograd.winogradTile(convSpec(cin, cout, k, k, s, s, oh, ow));
  assert.is(tile(32, 64, 3, 1, 16, 16), 4);
  assert.is(tile(32, 4, 3, 1, 28, 28), 4);
  assert.is(tile(64, 64, 3, 1, 8, 8), 2, '8×8: F(2×2) measured faster than F(4×4)');
  assert.is(tile(32, 32, 3, 1, 14, 14), 2);
  assert.is(tile(32, 32, 3, 1, 8, 10), 2);
  assert.is(tile(16, 64, 3, 1, 16, 16), 0, 'too few input channels');
  assert.is(tile(64, 64, 3, 1, 4, 4), 0, '4×4 outputs: slower than direct');
  assert.is(tile(64, 64, 3, 2, 8, 8), 0, 'stride 2');
  assert.is(tile(64, 64, 3, 1, 7, 8), 0, 'odd output side');
  assert.is(tile(64, 64, 5, 1, 8, 8), 0, '5×5');
  assert.is(tile(34, 64, 3, 1, 8, 8), 0, 'input channels not a multiple of 4');
  const filterTile = (cin: number, cout: number, oh: number, ow: number) => winograd.winogradFilterGradTile(convSpec(cin, cout, 3, 3, 1, 1, oh, ow));
  assert.is(filterTile(128, 64, 8, 8), 2);
  assert.is(filterTile(64, 64, 16, 16), 0, 'filter gradient: direct below 128 input channels');
  assert.is(filterTile(128, 64, 4, 4), 0, 'filter gradient: the forward rule\'s conditions hold too');
});

test.run();
