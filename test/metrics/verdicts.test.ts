// Floors, the under-training guard and interval-based verdicts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { loadDataset, permutation, subset, toFloat } from '../../src/data/index.js';
import { qualityFromFeatures, realReference, type RealReference } from '../../src/metrics/evaluate.js';
import { resolveFeatureNet } from '../../src/metrics/features.js';
import { qualityFloor } from '../../src/metrics/floors.js';
import { lossTrend, trainingGuard } from '../../src/metrics/guard.js';
import { buildClaims } from '../../src/plots/claims.js';
import type { ResultRow } from '../../src/runner/results.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/util/rng.js';
import '../helpers/cache.js';
import { diffusionModel } from '../helpers/models.js';

let ref: RealReference;
const data = { name: 'mnist' as const, resize: [16, 16] as [number, number] };
test.before(async () => {
  await selectBackend('wasm');
  const net = await resolveFeatureNet('lenet', { dataset: 'mnist' });
  const test = loadDataset({ ...data, split: 'test' });
  const x = toFloat(test, Int32Array.from({ length: test.n }, (_, i) => i));
  ref = realReference(net, x);
  x.dispose();
});

const opts = (seed: number) => ({ groups: ['fid', 'pr'] as ('fid' | 'pr')[], seed, bootstrap: 40 });

test('the floor computed with two seeds agrees within its interval; it is cached', () => {
  const a = qualityFloor(ref, data, 256, opts(0)), b = qualityFloor(ref, data, 256, opts(1));
  const fa = a.values.find((v) => v.metric.startsWith('fid'))!, fb = b.values.find((v) => v.metric.startsWith('fid'))!;
  assert.ok(fb.value >= fa.low! && fb.value <= fa.high!, `seed 1 ${fb.value} outside seed 0's [${fa.low}, ${fa.high}]`);
  assert.ok(fa.value >= fb.low! && fa.value <= fb.high!, `seed 0 ${fa.value} outside seed 1's [${fb.low}, ${fb.high}]`);
  assert.ok(fa.value > 0.5 && fa.value < 30, `a real-vs-real FID at n = 256 is small but not 0: ${fa.value}`);
  const t0 = performance.now();
  assert.equal(qualityFloor(ref, data, 256, opts(0)).values, a.values);
  assert.ok(performance.now() - t0 < 1000, 'read from the cache');
});

test('a model that memorises: the reference set itself gets density 1 and FID ≈ 0; training images get FID ≈ the floor', () => {
  const same = qualityFromFeatures(ref, { features: ref.features }, { groups: ['fid', 'pr'], seed: 0, bootstrap: 20 });
  const get = (vs: typeof same, m: string) => vs.find((v) => v.metric.startsWith(m))!.value;
  assert.is(get(same, 'density'), 1);
  assert.equal([get(same, 'precision'), get(same, 'recall'), get(same, 'coverage')], [1, 1, 1]);
  // Round-off only: tr Σ is about 200 here, and the square root's eigenvalues carry ~1e-14 each.
  assert.ok(Math.abs(get(same, 'fid@')) < 1e-5, `${get(same, 'fid@')}`);
  // Another 256 training images, as a model that memorised its training set would draw them.
  const train = loadDataset({ ...data, split: 'train' });
  const x = toFloat(subset(train, permutation(train.n, new Rng(99)).slice(0, 256)), Int32Array.from({ length: 256 }, (_, i) => i));
  const mem = qualityFromFeatures(ref, ref.net.features(x), { groups: ['fid'], seed: 0, bootstrap: 40 })[0];
  x.dispose();
  const floor = qualityFloor(ref, data, 256, opts(0)).values.find((v) => v.metric.startsWith('fid@'))!;
  assert.ok(mem.value >= floor.low! && mem.value <= floor.high!, `memoriser ${mem.value} vs floor ${floor.value} [${floor.low}, ${floor.high}]`);
});

test('the guard fires on a 20-step model (loss still falling, FID far from the floor) and passes on a converged one', () => {
  // A real 20-step training run's loss log.
  const ds = loadDataset({ name: 'mnist', split: 'train', resize: [8, 8] });
  const x = toFloat(ds, Int32Array.from({ length: 64 }, (_, i) => i));
  const m = diffusionModel({ objective: 'flow', model: { channels: 8 } }, { size: 8, channels: 1 }, 1);
  const opt = new AdamW({ lr: 2e-3 }), rng = new Rng(1), vars = [...m.net.params.vars.values()];
  const log: { step: number; loss: number }[] = [];
  for (let step = 1; step <= 20; step++) {
    const { value, grads } = tf.variableGrads(() => m.loss(x, rng, step), vars);
    log.push({ step, loss: value.dataSync()[0] });
    opt.apply(m.net.params.vars, grads, 2e-3);
    tf.dispose([value, ...Object.values(grads)]);
  }
  tf.dispose(x); opt.dispose(); m.dispose();
  const bars = { margin: 0.05, quality: 0.25 };
  const q = (value: number, half: number) => ({ metric: 'fid_inf@lenet-mnist', value, low: value - half, high: value + half, scale: 200 });
  const early = trainingGuard('pixel', log, q(150, 5), bars);
  assert.not.ok(early.passed);
  assert.match(early.reason, /^pixel not shown to be trained out \(fid_inf@lenet-mnist 150 \[145, 155\], upper end 77\.5% of the real features' variance tr Σ = 200 \(bar 25%\); loss (still falling|cannot tell)/);
  // Converged: the loss is flat with noise over its last 20% of steps, FID∞ well inside the bar.
  const r = new Rng(2);
  const flat = Array.from({ length: 1000 }, (_, i) => ({ step: i + 1, loss: 0.05 + 0.3 * Math.exp(-(i + 1) / 50) + 0.002 * r.normal() }));
  const ok = trainingGuard('latent', flat, q(30, 4), bars);
  assert.ok(ok.passed, ok.reason);
  assert.is(lossTrend(flat)!.state, 'flat');
  assert.is(lossTrend(flat.map((p) => ({ ...p, loss: p.loss + 1e-4 * (1000 - p.step) })))!.state, 'falling', 'a steady fall beyond the margin is caught');
  // The reason states the window it looked at; a missing FID∞ fails, naming why.
  assert.match(ok.reason, /loss flat: [+−]\d\.\d% \[[+−]\d\.\d%, [+−]\d\.\d%\] \(90%, Theil–Sen\) over steps 801–1000 \(200 logged steps\), margin ±5%/);
  const none = trainingGuard('m', flat, undefined, bars, 'no FID∞: n = 200 is under 4·d = 512');
  assert.not.ok(none.passed);
  assert.match(none.reason, /^m not shown to be trained out \(no FID∞: n = 200 is under 4·d = 512\)/);
});

const row = (backend: string, sampler: string, steps: number, value: number): ResultRow => ({
  experiment: 'x', run_id: 'r', point: `${backend}|${sampler}|${steps}|0`, backend, sampler, steps, nfe: steps, metric: 'fid@lenet-mnist', value, std: null, n: 256,
  seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c',
});

test('verdicts come from the interval of the paired difference, and under-trained models are not judged', () => {
  const diffusion = { objective: { name: 'flow' }, weighting: { name: 'simple' }, train: { steps: 100 } };
  const exp = { models: { px: { backend: 'pixel', diffusion }, lt: { backend: 'latent', diffusion, vae: { train: { steps: 50 } } } } } as never;
  const rows = [row('px', 'euler', 10, 40), row('lt', 'euler', 10, 30)];
  const quality = (lo: number, hi: number, guards = [] as ReturnType<typeof trainingGuard>[]) => buildClaims(rows, exp, {
    floors: { 'fid@lenet-mnist': { value: 5.8, low: 2, high: 9.7, n: 256 } },
    paired: () => ({ value: (lo + hi) / 2, low: lo, high: hi, level: 0.95, replicates: 100, se: 1 }),
    guards,
  }).find((c) => c.topic === 'best use: generation quality')!;
  assert.is(quality(2, 18).verdict, 'supported');
  assert.is(quality(-3, 18).verdict, 'inconclusive');
  assert.is(quality(-18, -2).verdict, 'contradicted');
  assert.match(quality(2, 18).evidence, /pixel 40\.0 − latent 30\.0 = 10\.0 \[2\.00, 18\.0\]/);
  assert.match(quality(2, 18).evidence, /real-data floor 5\.80 \[2\.00, 9\.70\] at n = 256/);
  const failed = trainingGuard('px', [], { metric: 'fid_inf@lenet-mnist', value: 130, low: 120, high: 140, scale: 200 }, { margin: 0.05, quality: 0.25 });
  const c = quality(2, 18, [failed]);
  assert.match(c.verdict, /^not measured: px not shown to be trained out \(fid_inf@lenet-mnist 130 \[120, 140\], upper end 70\.0% .*; too few logged steps/);
  // Speed does not depend on training: it is still judged.
  const speed = buildClaims([...rows, { ...row('px', 'euler', 10, 2), metric: 'gflop_per_sample' }, { ...row('lt', 'euler', 10, 1), metric: 'gflop_per_sample' }, { ...row('px', 'euler', 10, 0.2), metric: 'seconds_per_sample' }, { ...row('lt', 'euler', 10, 0.1), metric: 'seconds_per_sample' }], exp, { guards: [failed] }).find((x) => x.topic === 'speed')!;
  assert.is(speed.verdict, 'supported');
});

test('the claims rule README states: supported or contradicted only when every interval excludes 0 on that side', async () => {
  const { verdictOf } = await import('../../src/plots/claims.js');
  const iv = (low: number, high: number) => ({ low, high });
  assert.is(verdictOf([iv(1, 2), iv(0.5, 3)]), 'supported');
  assert.is(verdictOf([iv(-2, -1), iv(-3, -0.1)]), 'contradicted');
  // The quickstart's case: two settings against the claim and one whose interval holds 0.
  assert.is(verdictOf([iv(-9, -2), iv(-3.47, 11.2), iv(-20, -5)]), 'inconclusive');
  assert.is(verdictOf([iv(1, 2), iv(-3, 4)]), 'inconclusive');
  assert.is(verdictOf([iv(1, 2), iv(-3, -1)]), 'mixed');
  assert.is(verdictOf([iv(1, 2), iv(-3, -1), iv(-1, 1)]), 'mixed');
  assert.is(verdictOf([]), 'not measured');
});

test.run();
