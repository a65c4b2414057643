// Pre-registered contrasts on synthetic rows and features whose effect is known: a real effect
// reproduces, no effect is inconclusive at about the nominal rate, a reversed effect contradicts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pairedFidReplicates } from '../../src/metrics/bootstrap.js';
import type { ResultRow } from '../../src/metrics/result-row.js';
import { computeContrasts, stepsToTarget, type ContrastSpec } from '../../src/plots/contrasts.js';
import { matrix, type Matrix } from '../../src/util/linalg.js';
import { Rng } from '../../src/util/rng.js';

const row = (backend: string, metric: string, value: number, extra: Partial<ResultRow> = {}): ResultRow => ({
  experiment: 'x', run_id: 'r', point: `${backend}|s|10|0${extra.train_step != null ? `@${extra.train_step}` : ''}${extra.guidance != null ? `w${extra.guidance}` : ''}`, backend, sampler: 's', steps: 10, nfe: 10, metric, value, std: null, n: 400,
  seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c', ...extra,
});

/** Features of a paired design: each generated row i shares a latent x_i across arms (the same seed and noise). */
function pairedSets(n: number, d: number, shiftB: number, rng: Rng): { real: Matrix; a: Matrix; b: Matrix } {
  const real = matrix(1000, d, Array.from({ length: 1000 * d }, () => rng.normal()));
  const x = Array.from({ length: n * d }, () => rng.normal());
  // Both arms are a little off the data (scale 1.3); arm b moves its mean by shiftB in every coordinate.
  const a = matrix(n, d, x.map((v) => 1.3 * v + 0.3 * rng.normal()));
  const b = matrix(n, d, x.map((v) => 1.3 * v + 0.3 * rng.normal() + shiftB));
  return { real, a, b };
}

const diff: ContrastSpec = { name: 'a worse than b', metric: 'fid', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' };

function pairedVerdicts(shiftB: number, trials: number, seed: number) {
  const rng = new Rng(seed), counts: Record<string, number> = {};
  for (let t = 0; t < trials; t++) {
    const { real, a, b } = pairedSets(300, 4, shiftB, rng);
    const reps = pairedFidReplicates(real, [a, b], { replicates: 100, seed: t });
    const rows = [row('a', 'fid@net', reps.values[0], { point: 'a' }), row('b', 'fid@net', reps.values[1], { point: 'b' })];
    const c = computeContrasts([diff], rows, { paired: (points) => (points.join() === 'a,b' ? reps : undefined) })[0];
    counts[c.verdict] = (counts[c.verdict] ?? 0) + 1;
  }
  return counts;
}

test('paired FID contrast: a real effect reproduces, no effect is inconclusive at about 95%, the reversed effect contradicts', () => {
  // b's mean moves by 0.4 per coordinate: FID(b) > FID(a) by ~0.64, so a − b is below 0 (against the prediction).
  const reversed = pairedVerdicts(0.4, 40, 1);
  assert.ok((reversed.contradicts ?? 0) >= 38, JSON.stringify(reversed));
  // Same distributions: inconclusive in about 95% of runs.
  const none = pairedVerdicts(0, 100, 2);
  assert.ok((none.inconclusive ?? 0) >= 89, JSON.stringify(none));
  // The effect the paper predicts: arm a worse (b closer to the data: b's scale shrinks toward 1).
  const rng = new Rng(3);
  let reproduces = 0;
  for (let t = 0; t < 40; t++) {
    const { real, a } = pairedSets(300, 4, 0, rng);
    const b = matrix(a.rows, a.cols, Array.from(a.data, (v) => v / 1.3));
    const reps = pairedFidReplicates(real, [a, b], { replicates: 100, seed: t });
    const c = computeContrasts([diff], [row('a', 'fid@net', reps.values[0], { point: 'a' }), row('b', 'fid@net', reps.values[1], { point: 'b' })], { paired: () => reps })[0];
    if (c.verdict === 'reproduces') reproduces++;
  }
  assert.ok(reproduces >= 38, `reproduces ${reproduces}/40`);
});

test('row-interval contrast (bits/dim): the verdict follows the interval of the difference', () => {
  const rows = (va: number, vb: number) => [row('a', 'bits_per_dim', va, { std: 0.02 }), row('b', 'bits_per_dim', vb, { std: 0.02 })];
  const spec: ContrastSpec = { name: 'b better', metric: 'bits_per_dim', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' };
  assert.is(computeContrasts([spec], rows(1.2, 1.0))[0].verdict, 'reproduces');
  assert.is(computeContrasts([spec], rows(1.0, 1.2))[0].verdict, 'contradicts');
  assert.is(computeContrasts([spec], rows(1.01, 1.0))[0].verdict, 'inconclusive');
  // √2·0.02·1.96 = 0.055: the interval of 0.2 is 0.2 ± 0.055.
  const c = computeContrasts([spec], rows(1.2, 1.0))[0];
  assert.ok(Math.abs(c.low! - (0.2 - 0.0554)) < 0.006 && Math.abs(c.high! - (0.2 + 0.0554)) < 0.006, `${c.low} ${c.high}`);
  // Null effect over repeated simulated runs: inconclusive at about 95%.
  const rng = new Rng(4);
  let inc = 0;
  for (let t = 0; t < 200; t++) if (computeContrasts([spec], rows(1 + 0.02 * rng.normal(), 1 + 0.02 * rng.normal()), { seed: t })[0].verdict === 'inconclusive') inc++;
  assert.ok(inc >= 180 && inc <= 198, `inconclusive ${inc}/200`);
});

test('an AUROC contrast reads the row\'s interval against 0.5', () => {
  const spec: ContrastSpec = { name: 'raw likelihood fails', metric: 'auroc-raw', statistic: 'auroc', a: { backend: 'pixel' }, predicts: 'below' };
  const at = (v: number, lo: number, hi: number) => computeContrasts([spec], [row('pixel', 'auroc-raw', v, { ci_low: lo, ci_high: hi })])[0];
  assert.is(at(0.331, 0.306, 0.354).verdict, 'reproduces');
  assert.is(at(0.479, 0.431, 0.523).verdict, 'inconclusive');
  assert.is(at(0.73, 0.705, 0.749).verdict, 'contradicts');
});

test('argmin over an axis and steps-to-target, from their closed forms', () => {
  assert.is(stepsToTarget([{ step: 100, value: 50 }, { step: 200, value: 30 }, { step: 300, value: 20 }], 40), 150);
  assert.is(stepsToTarget([{ step: 100, value: 50 }], 40), Infinity);
  assert.is(stepsToTarget([{ step: 100, value: 10 }], 40), 100);
  // A U-shaped FID in the guidance scale with its minimum at w = 1: argmin above 0.
  const rows = [0, 1, 2, 4].map((w) => row('m', 'fid@net', 10 + 3 * (w - 1) ** 2, { guidance: w, ci_low: 10 + 3 * (w - 1) ** 2 - 0.5, ci_high: 10 + 3 * (w - 1) ** 2 + 0.5 }));
  const spec: ContrastSpec = { name: 'some guidance helps', metric: 'fid', statistic: 'argmin', over: 'guidance', than: 0, a: { backend: 'm' }, predicts: 'above' };
  const c = computeContrasts([spec], rows)[0];
  assert.is(c.value, 1);
  assert.is(c.verdict, 'reproduces');
  // Steps to FID ≤ 30: arm a at 150 steps, arm b at 250: a − b = −100, predicted below 0.
  const curve = (b: string, vals: number[]) => vals.map((v, i) => row(b, 'fid@net', v, { train_step: 100 * (i + 1), std: 0.5 }));
  const s: ContrastSpec = { name: 'a converges faster', metric: 'fid', statistic: 'steps-to-target', target: 30, a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'below' };
  const st = computeContrasts([s], [...curve('a', [50, 20, 10, 8]), ...curve('b', [60, 40, 20, 15])])[0];
  assert.ok(Math.abs(st.value! - (166.67 - 250)) < 0.5, `${st.value}`);
  assert.is(st.verdict, 'reproduces');
});

test('a contrast with a model the guard did not pass is shown but not judged; missing arms are not measured; one seed is named', () => {
  const rows = [row('a', 'bits_per_dim', 1.2, { std: 0.01 }), row('b', 'bits_per_dim', 1.0, { std: 0.01 })];
  const spec: ContrastSpec = { name: 'x', metric: 'bits_per_dim', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' };
  const c = computeContrasts([spec], rows, { guards: [{ model: 'b', passed: false, reason: 'b not shown to be trained out (loss still falling)' }] })[0];
  assert.is(c.verdict, 'not judged: b not shown to be trained out (under-training guard); the interval alone reads reproduces');
  assert.ok(c.value !== undefined);
  assert.match(c.basis, /one training seed: sampling noise only/);
  assert.match(computeContrasts([{ ...spec, b: { backend: 'zz' } }], rows)[0].verdict, /^not measured: arm b \(zz\) has no bits_per_dim rows/);
  assert.match(computeContrasts([{ ...spec, metric: 'fid' }], rows)[0].verdict, /^not measured: no fid rows in this run/);
});

test('two feature spaces must agree; where they disagree the contrast is inconclusive', () => {
  const spec: ContrastSpec = { name: 'x', metric: 'fid', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' };
  const mk = (net: string, va: number, vb: number) => [row('a', `fid@${net}`, va, { std: 0.1 }), row('b', `fid@${net}`, vb, { std: 0.1 })];
  assert.is(computeContrasts([spec], [...mk('n1', 5, 3), ...mk('n2', 6, 2)])[0].verdict, 'reproduces');
  const c = computeContrasts([spec], [...mk('n1', 5, 3), ...mk('n2', 2, 6)])[0];
  assert.is(c.verdict, 'inconclusive');
  assert.match(c.basis, /they disagree/);
  assert.equal(c.spaces!.map((s) => s.verdict), ['reproduces', 'contradicts']);
});

test.run();
