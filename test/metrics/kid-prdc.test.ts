import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifierScore } from '../../src/metrics/classifier-score.js';
import { kid } from '../../src/metrics/kid.js';
import { matrix, type Matrix } from '../../src/util/linalg.js';
import { prdc } from '../../src/metrics/prdc.js';
import { Rng } from '../../src/util/rng.js';

const gauss = (n: number, d: number, rng: Rng, shift = 0): Matrix => matrix(n, d, Array.from({ length: n * d }, () => rng.normal() + shift));

test('KID with one subset of everything equals the unbiased MMD² computed directly', () => {
  const rng = new Rng(1), n = 30, d = 5;
  const x = gauss(n, d, rng), y = gauss(n, d, rng, 0.3);
  const k = (a: Matrix, i: number, b: Matrix, j: number) => {
    let dot = 0;
    for (let t = 0; t < d; t++) dot += a.data[i * d + t] * b.data[j * d + t];
    return (dot / d + 1) ** 3;
  };
  let xx = 0, yy = 0, xy = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    if (i !== j) { xx += k(x, i, x, j); yy += k(y, i, y, j); }
    xy += k(x, i, y, j);
  }
  const direct = xx / (n * (n - 1)) + yy / (n * (n - 1)) - (2 * xy) / (n * n);
  // A subset of all n rows is a permutation of them: the statistic is permutation-invariant.
  const r = kid(x, y, { subsets: 1, subsetSize: n });
  assert.ok(Math.abs(r.mean - direct) < 1e-12 * Math.abs(direct), `${r.mean} vs ${direct}`);
  assert.equal(r.subsetSize, n);
});

test('KID from whole kernel matrices read per subset equals KID computing each subset\'s kernels, to the bit', () => {
  const rng = new Rng(4), d = 7;
  const x = gauss(60, d, rng), y = gauss(45, d, rng, 0.2);
  for (const subsetSize of [10, 45]) {
    const whole = kid(x, y, { subsets: 20, subsetSize, seed: 3 });
    const each = kid(x, y, { subsets: 20, subsetSize, seed: 3, wholeKernelMax: 0 });
    assert.equal(Array.from(whole.values), Array.from(each.values));
    assert.is(whole.mean, each.mean);
    assert.is(whole.std, each.std);
  }
});

test('KID is ≈ 0 within its std for one distribution, clearly > 0 for a shifted one', () => {
  const rng = new Rng(2), d = 16;
  const same = kid(gauss(2000, d, rng), gauss(2000, d, rng), { subsets: 50, subsetSize: 500, seed: 1 });
  assert.ok(Math.abs(same.mean) < 2 * same.std, `same: ${same.mean} ± ${same.std}`);
  const shifted = kid(gauss(2000, d, rng), gauss(2000, d, rng, 0.25), { subsets: 50, subsetSize: 500, seed: 1 });
  assert.ok(shifted.mean > 5 * shifted.std && shifted.mean > 10 * Math.abs(same.mean), `shifted: ${shifted.mean} ± ${shifted.std}`);
});

test('precision/recall/density/coverage: identical sets give 1, 1, 1, 1; one distribution gives ≈ 1', () => {
  const rng = new Rng(3);
  const x = gauss(500, 2, rng);
  const r = prdc(x, x);
  assert.equal([r.precision, r.recall, r.coverage], [1, 1, 1]);
  // Each real ball holds its own sample and its k − 1 nearest others strictly inside the k-th
  // neighbour's radius: density is exactly 1 (Naeem et al.'s strict '<'; '<=' gives (k+1)/k = 1.2).
  assert.is(r.density, 1);
  const s = prdc(gauss(2000, 2, rng), gauss(2000, 2, rng));
  assert.ok(s.precision > 0.9 && s.recall > 0.9 && s.coverage > 0.9, JSON.stringify(s));
  assert.ok(Math.abs(s.density - 1) < 0.15, `density ${s.density}`);
});

test('recall collapses when the fake set drops modes, precision stays', () => {
  // Ten well-separated 2-D clusters; the fake set has only five of them.
  const rng = new Rng(4), centres = Array.from({ length: 10 }, (_, k) => [10 * Math.cos(k), 10 * Math.sin(k) + k * 3]);
  const draw = (n: number, modes: number[]) => matrix(n, 2, Array.from({ length: n }, (_, i) => { const c = centres[modes[i % modes.length]]; return [c[0] + rng.normal() * 0.3, c[1] + rng.normal() * 0.3]; }).flat());
  const all = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const r = prdc(draw(1000, all), draw(1000, [0, 1, 2, 3, 4]));
  assert.ok(r.precision > 0.9, `precision ${r.precision}`);
  assert.ok(r.recall < 0.6 && r.coverage < 0.6, `recall ${r.recall}, coverage ${r.coverage}`);
});

test('classifier score: K for confident balanced predictions, 1 for uninformative ones', () => {
  const K = 10, n = 1000;
  const confident = new Float64Array(n * K), flat = new Float64Array(n * K).fill(1 / K);
  for (let i = 0; i < n; i++) confident[i * K + (i % K)] = 1;
  // Splits of a shuffled order are nearly, not exactly, balanced: close to K.
  const c = classifierScore(confident, n, K).mean;
  assert.ok(c > 0.95 * K && c <= K, `${c}`);
  // Samples stored class by class: unshuffled splits would each hold one class (score 1); the
  // seeded shuffle before splitting (torch-fidelity's) gives the same ≈ K.
  const sorted = new Float64Array(n * K);
  for (let i = 0; i < n; i++) sorted[i * K + Math.floor((i * K) / n)] = 1;
  const s = classifierScore(sorted, n, K).mean;
  assert.ok(s > 0.95 * K, `sorted by class: ${s}`);
  assert.is(classifierScore(sorted, n, K, 10, 1).splits, 10);
  assert.ok(Math.abs(classifierScore(flat, n, K).mean - 1) < 1e-12);
  // All samples confidently one class: no diversity, score 1.
  const collapsed = new Float64Array(n * K);
  for (let i = 0; i < n; i++) collapsed[i * K] = 1;
  assert.ok(Math.abs(classifierScore(collapsed, n, K).mean - 1) < 1e-12);
});

test('KID warns when its subsets cover whole sets: identical subsets give a std of round-off, not an uncertainty', () => {
  const rng = new Rng(4), d = 8;
  const rows = (n: number) => matrix(n, d, Array.from({ length: n * d }, () => rng.normal()));
  const both = kid(rows(100), rows(100), { subsets: 20, subsetSize: 1000 });
  assert.ok(both.std < 1e-10, String(both.std));
  assert.match(both.warnings.join(' '), /all 20 subsets are identical/);
  const one = kid(rows(300), rows(100), { subsets: 20, subsetSize: 1000 });
  assert.match(one.warnings.join(' '), /whole generated set \(100\)/);
  assert.ok(one.std > 1e-6);
  assert.is(kid(rows(300), rows(300), { subsets: 20, subsetSize: 100 }).warnings.length, 0);
});

test.run();
