import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fidDifferenceInterval, fidInterval, percentileInterval, weightedStats } from '../../src/metrics/bootstrap.js';
import { gaussianStats } from '../../src/metrics/fid.js';
import { matrix } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';

const gauss = (n: number, mu: number[], sd: number[], rng: Rng) => matrix(n, mu.length, Array.from({ length: n }, () => mu.map((m, j) => m + sd[j] * rng.normal())).flat());

test('weighted statistics with unit counts equal the plain mean and covariance', () => {
  const x = gauss(50, [1, -2, 0.5], [1, 2, 0.3], new Rng(1));
  const a = weightedStats(x, new Float64Array(50).fill(1)), b = gaussianStats(x);
  a.mu.forEach((v, i) => assert.ok(Math.abs(v - b.mu[i]) < 1e-12));
  a.sigma.forEach((v, i) => assert.ok(Math.abs(v - b.sigma[i]) < 1e-12));
  // Counts (2, 0, 1, …) are the same as listing the rows that many times.
  const counts = Float64Array.from({ length: 50 }, (_, i) => i % 3);
  const rows: number[] = [];
  counts.forEach((c, i) => { for (let k = 0; k < c; k++) rows.push(...x.data.subarray(i * 3, i * 3 + 3)); });
  const l = gaussianStats(matrix(rows.length / 3, 3, rows)), w = weightedStats(x, counts);
  w.sigma.forEach((v, i) => assert.ok(Math.abs(v - l.sigma[i]) < 1e-12));
});

test('percentiles interpolate between order statistics as numpy does', () => {
  const p = percentileInterval([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.8);
  assert.ok(Math.abs(p.low - 1.9) < 1e-12 && Math.abs(p.high - 9.1) < 1e-12, JSON.stringify(p));
});

test('the FID interval covers the true FID of two Gaussians at about its nominal rate', () => {
  // FID(N(0, I), N((0.5, 0), diag(1.2², 0.8²))) = 0.25 + (1.2 − 1)² + (0.8 − 1)² = 0.33 (diagonal covariances).
  const truth = 0.33, trials = 100, rng = new Rng(7);
  let covered = 0;
  for (let t = 0; t < trials; t++) {
    const real = gauss(600, [0, 0], [1, 1], rng), fake = gauss(600, [0.5, 0], [1.2, 0.8], rng);
    const ci = fidInterval(real, fake, { replicates: 200, seed: t });
    if (ci.low <= truth && truth <= ci.high) covered++;
  }
  // 95% nominal; binomial sd over 100 trials ≈ 2.2 points, and FID's O(d/n) upward bias costs a few.
  assert.ok(covered >= 85 && covered <= 100, `covered ${covered}/${trials}`);
});

test('the paired interval of a difference excludes 0 for a real difference and covers it for none', () => {
  const rng = new Rng(9);
  const real = gauss(500, [0, 0], [1, 1], rng);
  const z = gauss(400, [0, 0], [1, 1], rng);
  // Two models fed the same noise: b maps it to the data distribution, a adds a shift.
  const a = matrix(400, 2, Array.from(z.data, (v, i) => v + (i % 2 === 0 ? 0.4 : 0)));
  const b = matrix(400, 2, Array.from(z.data));
  const d = fidDifferenceInterval(real, a, b, { replicates: 200, seed: 1 });
  assert.ok(d.value > 0 && d.low > 0, JSON.stringify(d));
  const same = fidDifferenceInterval(real, b, matrix(400, 2, Array.from(z.data, (v) => v * 1.001)), { replicates: 200, seed: 1 });
  assert.ok(same.low < 0 && same.high > 0, JSON.stringify(same));
});

test.run();
