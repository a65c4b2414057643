import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FeatureMoments, fid, frechetDistance, gaussianStats, type GaussianStats } from '../../src/metrics/fid.js';
import { covariance, matrix, symmetricEigen, type Matrix } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';

// ---- independent float64 helpers (not the library's code paths) ----
function mul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j]; c[i * n + j] = s; }
  return c;
}
function inverse(a: Float64Array, n: number): Float64Array {
  // Gauss–Jordan with partial pivoting.
  const m = Float64Array.from(a), inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    for (let k = 0; k < n; k++) { [m[c * n + k], m[p * n + k]] = [m[p * n + k], m[c * n + k]]; [inv[c * n + k], inv[p * n + k]] = [inv[p * n + k], inv[c * n + k]]; }
    const d = m[c * n + c];
    for (let k = 0; k < n; k++) { m[c * n + k] /= d; inv[c * n + k] /= d; }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c];
      if (f === 0) continue;
      for (let k = 0; k < n; k++) { m[r * n + k] -= f * m[c * n + k]; inv[r * n + k] -= f * inv[c * n + k]; }
    }
  }
  return inv;
}
/** Denman–Beavers iteration: Y → A^{1/2} for A with no eigenvalues on the closed negative axis. */
function sqrtmDenmanBeavers(a: Float64Array, n: number): Float64Array {
  let y = Float64Array.from(a), z = new Float64Array(n * n);
  for (let i = 0; i < n; i++) z[i * n + i] = 1;
  for (let it = 0; it < 60; it++) {
    const yi = inverse(y, n), zi = inverse(z, n);
    const y2 = y.map((v, k) => 0.5 * (v + zi[k])), z2 = z.map((v, k) => 0.5 * (v + yi[k]));
    let delta = 0;
    for (let k = 0; k < n * n; k++) delta = Math.max(delta, Math.abs(y2[k] - y[k]));
    y = y2; z = z2;
    if (delta < 1e-15) break;
  }
  return y;
}
function randomSpd(n: number, rng: Rng): Float64Array {
  const a = Float64Array.from({ length: n * n }, () => rng.normal());
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let v = 0; for (let k = 0; k < n; k++) v += a[i * n + k] * a[j * n + k]; s[i * n + j] = v / n + (i === j ? 0.05 : 0); }
  return s;
}
function samples(n: number, mu: number[], chol: (z: number[]) => number[], rng: Rng): Matrix {
  const d = mu.length, m = matrix(n, d);
  for (let i = 0; i < n; i++) {
    const x = chol(Array.from({ length: d }, () => rng.normal()));
    for (let j = 0; j < d; j++) m.data[i * d + j] = mu[j] + x[j];
  }
  return m;
}

test('symmetric eigensolver: A·V = V·Λ, VᵀV = I, ascending values, against a 3×3 closed form', () => {
  const rng = new Rng(3), n = 40;
  const a = randomSpd(n, rng);
  const { values, vectors } = symmetricEigen(a, n);
  let resid = 0, orth = 0;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[j * n + k];
      resid = Math.max(resid, Math.abs(av - values[k] * vectors[i * n + k]));
    }
    for (let l = 0; l < n; l++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + k] * vectors[i * n + l];
      orth = Math.max(orth, Math.abs(dot - (k === l ? 1 : 0)));
    }
    if (k > 0) assert.ok(values[k] >= values[k - 1]);
  }
  assert.ok(resid < 1e-12 && orth < 1e-12, `residual ${resid}, orthogonality ${orth}`);
  // [[2,1,0],[1,2,1],[0,1,2]] has eigenvalues 2 − √2, 2, 2 + √2.
  const e = symmetricEigen(Float64Array.from([2, 1, 0, 1, 2, 1, 0, 1, 2]), 3).values;
  [2 - Math.SQRT2, 2, 2 + Math.SQRT2].forEach((v, i) => assert.ok(Math.abs(e[i] - v) < 1e-14));
});

test('covariance is numpy\'s unbiased np.cov on a hand-computed example', () => {
  // x = [1,2], [3,6], [5,7]: means (3, 5); cov = [[4, 5], [5, 7]].
  const c = covariance(matrix(3, 2, [1, 2, 3, 6, 5, 7]));
  assert.equal(Array.from(c), [4, 5, 5, 7]);
});

test('Fréchet distance of a set against itself is zero', () => {
  const rng = new Rng(5), x = matrix(500, 32, Array.from({ length: 500 * 32 }, () => rng.normal() * 3 + 1));
  const s = gaussianStats(x);
  let tr = 0;
  for (let i = 0; i < 32; i++) tr += s.sigma[i * 32 + i];
  const r = fid(x, x);
  assert.ok(Math.abs(r.value) / tr <= 1e-8, `FID(x, x) = ${r.value} against Tr Σ = ${tr}`);
  assert.equal(r.offset, 0);
});

test('Fréchet distance matches an independent Denman–Beavers square root on random SPD pairs, d = 64', () => {
  const rng = new Rng(11), d = 64;
  for (let trial = 0; trial < 3; trial++) {
    const s1 = randomSpd(d, rng), s2 = randomSpd(d, rng);
    const mu1 = Float64Array.from({ length: d }, () => rng.normal()), mu2 = Float64Array.from({ length: d }, () => rng.normal());
    const a: GaussianStats = { mu: mu1, sigma: s1, dim: d, n: 1000 }, b: GaussianStats = { mu: mu2, sigma: s2, dim: d, n: 1000 };
    const root = sqrtmDenmanBeavers(mul(s1, s2, d), d);
    let expected = 0;
    for (let i = 0; i < d; i++) expected += (mu1[i] - mu2[i]) ** 2 + s1[i * d + i] + s2[i * d + i] - 2 * root[i * d + i];
    const got = frechetDistance(a, b).value;
    assert.ok(Math.abs(got - expected) / Math.abs(expected) < 1e-8, `FID ${got} vs Denman–Beavers ${expected}`);
  }
});

test('FID of samples converges to the closed form between two Gaussians', () => {
  // N(0, diag(a)) vs N(m, R diag(b) Rᵀ) with a = 1 (identity): Tr((Σ1Σ2)^{1/2}) = Σ √b_i, so
  // d² = ‖m‖² + d + Σ b_i − 2 Σ √b_i, with no matrix root involved.
  const d = 4, m = [1, -0.5, 0.25, 0], b = [4, 1, 0.25, 2.25];
  const th = 0.7, c = Math.cos(th), s = Math.sin(th); // rotation in the (0, 1) and (2, 3) planes
  const rot = (z: number[]) => { const y = z.map((v, i) => v * Math.sqrt(b[i])); return [c * y[0] - s * y[1], s * y[0] + c * y[1], c * y[2] - s * y[3], s * y[2] + c * y[3]]; };
  let closed = d;
  for (let i = 0; i < d; i++) closed += m[i] ** 2 + b[i] - 2 * Math.sqrt(b[i]);
  const errs: number[] = [];
  for (const n of [2000, 50000]) {
    const rng = new Rng(n);
    const x = samples(n, [0, 0, 0, 0], (z) => z, rng), y = samples(n, m, rot, rng);
    errs.push(Math.abs(fid(x, y).value - closed));
  }
  assert.ok(errs[1] < 0.03 * closed, `FID at n = 50000 off by ${errs[1]} of ${closed}`);
  assert.ok(errs[1] < errs[0], `error should shrink with n: ${errs}`);
});

test('FID warns when there are fewer samples than feature dimensions', () => {
  const rng = new Rng(2), x = matrix(20, 32, Array.from({ length: 640 }, () => rng.normal())), y = matrix(20, 32, Array.from({ length: 640 }, () => rng.normal()));
  const r = fid(x, y);
  assert.ok(r.warnings.some((w) => w.includes('20 samples for 32-dimensional')), r.warnings.join('; '));
  assert.ok(Number.isFinite(r.value));
});

test('feature moments: pieces merged give the whole set’s mean and covariance (and FID), against the two-pass covariance', () => {
  const rng = new Rng(8), d = 12;
  const x = matrix(300, d, Array.from({ length: 300 * d }, (_, i) => 3 + 2 * rng.normal() + (i % d) * 0.5));
  const rows = (a: number, b: number) => matrix(b - a, d, x.data.subarray(a * d, b * d));
  const merged = new FeatureMoments(d).add(rows(0, 70)).merge(new FeatureMoments(d).add(rows(70, 211))).merge(new FeatureMoments(d).add(rows(211, 300))).stats();
  const whole = gaussianStats(x), twoPass = covariance(x);
  assert.is(merged.n, 300);
  for (let i = 0; i < d * d; i++) {
    assert.ok(Math.abs(merged.sigma[i] - whole.sigma[i]) < 1e-12 * (1 + Math.abs(whole.sigma[i])));
    assert.ok(Math.abs(whole.sigma[i] - twoPass[i]) < 1e-11 * (1 + Math.abs(twoPass[i])));
  }
  for (let j = 0; j < d; j++) assert.ok(Math.abs(merged.mu[j] - whole.mu[j]) < 1e-13 * (1 + Math.abs(whole.mu[j])));
  const y = matrix(200, d, Array.from({ length: 200 * d }, () => 3.3 + 2 * rng.normal()));
  const a = frechetDistance(merged, gaussianStats(y)).value, b = fid(x, y).value;
  assert.ok(Math.abs(a - b) < 1e-9 * b, `${a} vs ${b}`);
});

test.run();
