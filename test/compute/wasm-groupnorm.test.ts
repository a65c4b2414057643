// The fused GroupNorm kernel and its analytic gradient on wasm, against a float64 reference of the
// forward pass and against autodiff of the composite (moments-based) GroupNorm on the cpu backend.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { fusedGroupNormAvailable } from '../../src/compute/wasm-groupnorm.js';
import { groupNorm, ParamStore, registerGroupNorm } from '../../src/models/layers.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';

// Several groups, one group, one channel per group, odd spatial sizes, a mean offset of 50.
const CASES: { shape: [number, number, number, number]; groups: number; offset: number }[] = [
  { shape: [2, 5, 7, 8], groups: 4, offset: 0 },
  { shape: [3, 4, 4, 12], groups: 1, offset: 0 },
  { shape: [1, 3, 5, 6], groups: 6, offset: 0 },
  { shape: [2, 8, 8, 32], groups: 8, offset: 50 },
];

function inputs(shape: number[], offset: number) {
  const r = new Rng(5), n = shape.reduce((a, b) => a * b), c = shape[3];
  return {
    x: r.normals(n).map((v, i) => 2 * v + offset + (i % c) * 0.1),
    gamma: r.normals(c).map((v) => 1 + 0.5 * v), beta: r.normals(c), readout: new Rng(6).normals(n),
  };
}

/** GroupNorm y = γ·(x − μ)/√(σ² + ε) + β in float64. */
function reference(x: Float32Array, shape: number[], groups: number, gamma: Float32Array, beta: Float32Array, eps: number): Float64Array {
  const [n, h, w, c] = shape, cg = c / groups, y = new Float64Array(x.length);
  for (let s = 0; s < n; s++) for (let g = 0; g < groups; g++) {
    const idx: number[] = [];
    for (let p = 0; p < h * w; p++) for (let k = g * cg; k < (g + 1) * cg; k++) idx.push((s * h * w + p) * c + k);
    const mu = idx.reduce((a, i) => a + x[i], 0) / idx.length;
    const v = idx.reduce((a, i) => a + (x[i] - mu) ** 2, 0) / idx.length;
    for (const i of idx) y[i] = gamma[i % c] * (x[i] - mu) / Math.sqrt(v + eps) + beta[i % c];
  }
  return y;
}

for (const { shape, groups, offset } of CASES) {
  const name = `x=${shape.join('×')} groups=${groups} offset=${offset}`;
  test(`fused GroupNorm forward and gradients on wasm: ${name}`, async () => {
    const { x, gamma, beta, readout } = inputs(shape, offset);
    const run = () => {
      const p = new ParamStore(new Rng(0));
      registerGroupNorm(p, 'gn', shape[3]);
      p.get('gn.gamma').assign(tf.tensor1d(gamma));
      p.get('gn.beta').assign(tf.tensor1d(beta));
      const xt = tf.tensor4d(x, shape), r = tf.tensor(readout, shape);
      const y = groupNorm(p, 'gn', xt, groups);
      const { grads } = tf.variableGrads(() => groupNorm(p, 'gn', xt, groups).mul(r).sum() as tf.Scalar, [p.get('gn.gamma'), p.get('gn.beta')]);
      const dx = tf.grad((a: tf.Tensor) => groupNorm(p, 'gn', a as tf.Tensor4D, groups).mul(r).sum())(xt);
      const out = [y, dx, ...Object.values(grads)];
      p.dispose();
      return out;
    };
    await selectBackend('wasm');
    assert.ok(fusedGroupNormAvailable(), 'the fused kernel should be active on wasm');
    const [yW, dxW, dgW, dbW] = await onBackend('wasm', run);
    const [yC, dxC, dgC, dbC] = await onBackend('cpu', run);
    const ref = reference(x, shape, groups, gamma, beta, 1e-5);
    assert.ok(relErr(yW, ref) < 1e-5, `forward vs float64: ${relErr(yW, ref)}`);
    // The cpu composite computes in float32 (its variance loses digits at offset 50): 1e-4 vs it.
    assert.ok(relErr(yW, yC) < 1e-4, `forward vs cpu: ${relErr(yW, yC)}`);
    assert.ok(relErr(dxW, dxC) < 1e-4, `dx rel err ${relErr(dxW, dxC)}`);
    assert.ok(relErr(dgW, dgC) < 1e-4, `dgamma rel err ${relErr(dgW, dgC)}`);
    assert.ok(relErr(dbW, dbC) < 1e-4, `dbeta rel err ${relErr(dbW, dbC)}`);
  });
}

test('fused GroupNorm leaks no tensors across training steps', async () => {
  await selectBackend('wasm');
  const p = new ParamStore(new Rng(0));
  registerGroupNorm(p, 'gn', 16);
  const x = tf.randomNormal([2, 6, 6, 16]) as tf.Tensor4D;
  const step = () => {
    const { value, grads } = tf.variableGrads(() => groupNorm(p, 'gn', x, 4).square().mean() as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.is(tf.memory().numTensors, before);
  p.dispose();
  x.dispose();
});

test.run();
