// FID∞ against the population FID of Gaussian pairs (known in closed form), in 2, 16 and 32
// dimensions; 128 dimensions are in fid-infinity-128.test.ts (the slow one, run beside the others).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fidInterval } from '../../src/metrics/bootstrap.js';
import { defaultFractions, fidInfinity } from '../../src/metrics/fid-infinity.js';
import { covariance, matrix, symmetricEigen, symmetricEigenvalues } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';
import { coverage, gaussianPair } from '../helpers/gaussian-pairs.js';

for (const d of [2, 16, 32]) {
  test(`FID∞'s 95% interval covers the population FID of Gaussian pairs in ${d} dimensions (100 pairs, 1000 real / 400 generated)`, () => {
    const c = coverage(d, 1, 100, 1000, 400);
    // Binomial sd at 95% over 100 pairs is 2.2 points: ≥ 90 is the stated bar, ≤ 100 trivially.
    assert.ok(c.covered >= 90, `covered ${c.covered}/100 (truth ${c.truth.toFixed(3)}, mean error ${c.meanError.toFixed(4)})`);
  });
}

test('where the two distributions coincide (FID 0, the floor\'s case) the interval still covers 0, in 16 dimensions', () => {
  const c = coverage(16, 0, 100, 1000, 400);
  assert.ok(c.covered >= 90, `covered ${c.covered}/100, mean error ${c.meanError.toFixed(4)}`);
});

test('the plug-in FID interval describes FID at this n, not the population: in 16 dimensions it misses, FID∞ does not', () => {
  // The reason FID∞ exists: the same pairs, plug-in FID's bootstrap interval against the truth.
  const pair = gaussianPair(16, 1), rng = new Rng(5);
  let plug = 0, inf = 0;
  for (let t = 0; t < 30; t++) {
    const { real, fake } = pair.draw(1000, 400, rng);
    const ci = fidInterval(real, fake, { replicates: 50, seed: t }), r = fidInfinity(real, fake, { seed: t });
    if (ci.low <= pair.truth && pair.truth <= ci.high) plug++;
    if (r.low <= pair.truth && pair.truth <= r.high) inf++;
  }
  assert.ok(plug <= 15, `plug-in covered ${plug}/30`);
  assert.ok(inf >= 26, `FID∞ covered ${inf}/30`);
});

test('FID∞ removes the 1/n bias: its mean error is within its sampling error, the plug-in\'s is not', () => {
  const pair = gaussianPair(32, 1), rng = new Rng(9), k = 60;
  const errN: number[] = [], errInf: number[] = [];
  for (let t = 0; t < k; t++) {
    const { real, fake } = pair.draw(1000, 400, rng);
    const r = fidInfinity(real, fake, { seed: t });
    errN.push(r.atN - pair.truth); errInf.push(r.value - pair.truth);
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const sem = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1) / v.length);
  // The plug-in bias here is about tr(Σ_r)/1000 + tr(Σ_g)/400 plus the root term's: ≈ 0.4.
  assert.ok(mean(errN) > 10 * sem(errN), `plug-in bias ${mean(errN)} ± ${sem(errN)}`);
  assert.ok(Math.abs(mean(errInf)) < 3 * sem(errInf), `FID∞ bias ${mean(errInf)} ± ${sem(errInf)}`);
});

test('subset fractions keep every subset above d + 1 rows and reach the full sets', () => {
  assert.equal(defaultFractions(1000, 400, 2)[0], 0.5);
  const f = defaultFractions(1000, 300, 128);
  assert.ok(Math.round(f[0] * 300) >= 130 && f[f.length - 1] === 1, JSON.stringify(f));
  assert.equal(defaultFractions(131, 131, 128), [1]);
});

test('the eigenvalues-only decomposition and the blocked covariance agree with the full ones', () => {
  const rng = new Rng(3);
  for (const n of [1, 2, 7, 64]) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    const full = symmetricEigen(a, n).values, vals = symmetricEigenvalues(a, n);
    full.forEach((v, i) => assert.ok(Math.abs(v - vals[i]) < 1e-12, `n = ${n}: ${v} vs ${vals[i]}`));
  }
  // The blocked covariance against the textbook double sum, with a row count not divisible by 4.
  const n = 23, d = 5, x = matrix(n, d, Array.from({ length: n * d }, () => rng.normal()));
  const c = covariance(x), mu = Array.from({ length: d }, (_, j) => Array.from({ length: n }, (_, i) => x.data[i * d + j]).reduce((s, v) => s + v, 0) / n);
  for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x.data[i * d + a] - mu[a]) * (x.data[i * d + b] - mu[b]);
    assert.ok(Math.abs(c[a * d + b] - s / (n - 1)) < 1e-12);
  }
});

test.run();
