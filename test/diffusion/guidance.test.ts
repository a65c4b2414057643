// Classifier-free guidance and class-conditional sampling, against the exact class-labelled mixture
// (one class per component) and against direct evaluation of D(x, σ, c) and D(x, σ, ∅).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analyticBackend } from '../../src/backends/analytic.js';
import { tf } from '../../src/compute/backend.js';
import type { Denoiser } from '../../src/diffusion/denoiser.js';
import { guidanceActive, guidedDenoiser } from '../../src/diffusion/guidance.js';
import { parseSamplerSetting, sampleImages, sampleLatents } from '../../src/diffusion/sampling.js';
import { gmmFromSpec } from '../../src/models/gmm.js';
import { Rng, SampleStreams } from '../../src/util/rng.js';
import { diffusionModel } from '../helpers/models.js';
import { PixelBackend } from '../../src/backends/pixel.js';
import { SAMPLER_NAMES } from '../../src/diffusion/samplers/index.js';

const gmm = gmmFromSpec({ weights: [0.5, 0.3, 0.2], means: [[-2, 0], [2, 1], [0, 3]], stds: [[0.3, 0.5], [0.4, 0.2], [0.25, 0.25]] });
const backend = analyticBackend(gmm);
const K = 3;

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
const labelsT = (l: number[]) => tf.tensor1d(l, 'int32');

test('the class-labelled mixture: label k is component k’s exact denoiser, the null label the whole mixture’s', () => {
  const x = tf.tensor2d([[0.3, -0.4], [1.5, 2.0], [-1, 4]]);
  for (const sigma of [0.05, 0.7, 5]) {
    for (let k = 0; k < K; k++) {
      const got = backend.denoiser(x, sigma, labelsT([k, k, k])).arraySync() as number[][];
      const v = gmm.variances[k], mu = gmm.means[k];
      got.forEach((row, i) => row.forEach((g, j) => {
        const xi = (x.arraySync() as number[][])[i][j];
        const want = mu[j] + (v[j] / (v[j] + sigma * sigma)) * (xi - mu[j]);
        assert.ok(Math.abs(g - want) < 1e-5, `σ ${sigma} class ${k}: ${g} vs ${want}`);
      }));
    }
    const none = backend.denoiser(x, sigma, labelsT([K, K, K])), mix = backend.denoiser(x, sigma);
    assert.ok(maxDiff(none, mix) < 1e-7);
    tf.dispose([none, mix]);
  }
  x.dispose();
});

test('guidance at w = 0 is the unconditional and at w = 1 the conditional denoiser; w = 2 is 2·D(c) − D(∅)', () => {
  const x = tf.tensor2d([[0.3, -0.4], [1.5, 2.0], [-1, 4], [0, 0]]);
  const labels = Int32Array.from([0, 1, 2, 1]);
  for (const sigma of [0.1, 1, 10]) {
    const cond = backend.denoiser(x, sigma, labelsT([...labels])), uncond = backend.denoiser(x, sigma);
    const g0 = guidedDenoiser(backend.denoiser, labels, K, { scale: 0 }), g1 = guidedDenoiser(backend.denoiser, labels, K, { scale: 1 });
    const g2 = guidedDenoiser(backend.denoiser, labels, K, { scale: 2 });
    const d0 = g0.D(x, sigma), d1 = g1.D(x, sigma), d2 = g2.D(x, sigma);
    assert.ok(maxDiff(d0, uncond) < 1e-6);
    assert.ok(maxDiff(d1, cond) < 1e-6);
    const want = tf.tidy(() => cond.mul(2).sub(uncond));
    assert.ok(maxDiff(d2, want) < 1e-5);
    assert.is(g0.evaluations(), 1);
    assert.is(g1.evaluations(), 1);
    assert.is(g2.evaluations(), 2);
    tf.dispose([cond, uncond, d0, d1, d2, want]);
  }
  x.dispose();
});

test('the guidance interval switches exactly at its bounds, and NFE counts 2 per guided step', () => {
  const spec = { scale: 3, interval: [0.5, 2] as [number, number] };
  assert.ok(guidanceActive(spec, 0.5));
  assert.ok(guidanceActive(spec, 2));
  assert.not.ok(guidanceActive(spec, 0.5 * (1 - 1e-12)));
  assert.not.ok(guidanceActive(spec, 2 * (1 + 1e-12)));
  const x = tf.tensor2d([[0.3, -0.4], [1.5, 2.0]]), labels = Int32Array.from([0, 2]);
  const g = guidedDenoiser(backend.denoiser, labels, K, spec);
  const cond = backend.denoiser(x, 2.5, labelsT([0, 2]));
  const outside = g.D(x, 2.5);
  assert.ok(maxDiff(outside, cond) < 1e-6, 'outside the interval: plain conditional');
  // Per-sample σ straddling the bound: each row guided or not by its own σ.
  const mixed = g.D(x, tf.tensor1d([2, 2.5]));
  const guidedRow = tf.tidy(() => backend.denoiser(x, 2, labelsT([0, 2])).mul(3).sub(backend.denoiser(x, 2).mul(2)));
  const m = mixed.arraySync() as number[][], gr = guidedRow.arraySync() as number[][], c = cond.arraySync() as number[][];
  assert.ok(Math.abs(m[0][0] - gr[0][0]) < 1e-5 && Math.abs(m[0][1] - gr[0][1]) < 1e-5, 'row at σ = hi is guided');
  assert.ok(Math.abs(m[1][0] - c[1][0]) < 1e-6 && Math.abs(m[1][1] - c[1][1]) < 1e-6, 'row above hi is conditional');
  tf.dispose([x, cond, outside, mixed, guidedRow]);

  // Euler with 10 Karras steps over [0.002, 80]: the steps whose σ lie in [0.5, 2] cost 2 evaluations.
  const setting = parseSamplerSetting({ name: 'euler', guidance: 3, guidanceInterval: [0.5, 2] });
  const z = new Rng(1).normals(4 * 2);
  const r = sampleLatents(backend, { setting, steps: 10, z, rng: new Rng(2), labels: Int32Array.from([0, 1, 2, 0]) });
  const inside = Array.from(r.plan.sigmas.subarray(0, 10)).filter((s) => s >= 0.5 && s <= 2).length;
  assert.ok(inside > 0 && inside < 10);
  assert.is(r.nfe, 10 + inside);
  r.x.dispose();
});

test('guided sampling at w = 1 draws from the requested class; guidance errors name what is missing', () => {
  const n = 600, labels = Int32Array.from({ length: n }, (_, i) => i % K);
  const r = sampleLatents(backend, { setting: parseSamplerSetting('heun'), steps: 30, z: new Rng(5).normals(n * 2), rng: new Rng(6), labels });
  const x = r.x.arraySync() as number[][];
  r.x.dispose();
  for (let k = 0; k < K; k++) {
    const rows = x.filter((_, i) => labels[i] === k);
    for (let j = 0; j < 2; j++) {
      const mean = rows.reduce((s, row) => s + row[j], 0) / rows.length;
      const sd = Math.sqrt(rows.reduce((s, row) => s + (row[j] - mean) ** 2, 0) / (rows.length - 1));
      const se = Math.sqrt(gmm.variances[k][j] / rows.length);
      assert.ok(Math.abs(mean - gmm.means[k][j]) < 4 * se, `class ${k} dim ${j}: mean ${mean} vs ${gmm.means[k][j]}`);
      assert.ok(Math.abs(sd / Math.sqrt(gmm.variances[k][j]) - 1) < 0.2, `class ${k} dim ${j}: sd ${sd}`);
    }
  }
  assert.throws(() => sampleLatents(backend, { setting: parseSamplerSetting({ name: 'euler', guidance: 2 }), steps: 2, z: new Float32Array(2), rng: new Rng(1) }), /needs class labels/);
  assert.throws(() => guidedDenoiser(backend.denoiser, Int32Array.from([3]), K, { scale: 2 }), /labels 0…2/);
  assert.throws(() => parseSamplerSetting({ name: 'euler', guidanceInterval: [0.1, 1] }), /needs a guidance scale/);
  assert.is(parseSamplerSetting({ name: 'euler', guidance: 2, guidanceInterval: [0.1, 1] }).label, 'euler(guidance=2,guidanceInterval=[0.1;1])');
});

/** Moves every parameter off its initial value: zero-initialised output convolutions hide the labels' effect. */
function perturb(m: ReturnType<typeof diffusionModel>): void {
  let seed = 40;
  for (const v of m.net.params.vars.values()) v.assign(tf.tidy(() => v.add(tf.randomNormal(v.shape, 0, 0.1, 'float32', seed++))));
}

test('a class-conditional UNet: labels change its output, the null label is its default, and an unconditional one refuses labels', () => {
  const m = diffusionModel({ objective: 'v', conditioning: { classes: 4 } }, { size: 8, channels: 1 }, 3);
  // Move the class embedding off its initial values so that different labels differ clearly.
  perturb(m);
  const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 6);
  const a = m.D(x, 1, labelsT([0, 0])), b = m.D(x, 1, labelsT([3, 3])), none = m.D(x, 1, labelsT([4, 4])), dflt = m.D(x, 1);
  assert.ok(maxDiff(a, b) > 1e-3);
  assert.ok(maxDiff(none, dflt) < 1e-6, `null label vs none: ${maxDiff(none, dflt)}`);
  assert.ok(maxDiff(a, none) > 1e-3);
  const u = diffusionModel({ objective: 'v' }, { size: 8, channels: 1 }, 3);
  assert.throws(() => u.D(x, 1, labelsT([0, 0])), /unconditional/);
  tf.dispose([x, a, b, none, dflt]);
  m.dispose();
  u.dispose();
});

test('a class-conditional DiT (adaLN or in-context labels) samples with every sampler, with and without guidance', () => {
  for (const labelTokens of [undefined, 2]) {
    const m = diffusionModel({ objective: 'flow-x0', conditioning: { classes: 3 }, model: { arch: 'dit', patchSize: 2, hiddenSize: 16, depth: 2, heads: 2, ...(labelTokens ? { labelTokens } : {}) } }, { size: 8, channels: 1 }, 3);
    perturb(m);
    const b = new PixelBackend(m);
    // Every sampler on the adaLN model; a first-order and a multistep one on the label-token model.
    for (const name of labelTokens ? ['euler', 'dpm-solver++-2m'] : SAMPLER_NAMES) {
      const plain = sampleImages(b, { setting: parseSamplerSetting(name), steps: 3, n: 3, seed: 5 });
      const guided = sampleImages(b, { setting: parseSamplerSetting({ name, guidance: 3 }), steps: 3, n: 3, seed: 5 });
      assert.equal(guided.images.shape, [3, 8, 8, 1], name);
      assert.ok(guided.images.dataSync().every(Number.isFinite), `${name}: finite samples`);
      assert.ok(maxDiff(plain.images, guided.images) > 1e-4, `${name} (labelTokens ${labelTokens}): guidance changes the samples`);
      tf.dispose([plain.images, guided.images]);
    }
    m.dispose();
  }
});

test('label dropout: the loss gives the class embedding a gradient, and condDrop = 1 trains only the null label', () => {
  const x0 = tf.randomNormal([16, 8, 8, 1], 0, 0.5, 'float32', 1) as tf.Tensor4D;
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 4);
  for (const condDrop of [0.1, 1]) {
    const m = diffusionModel({ objective: 'v', conditioning: { classes: 4, condDrop } }, { size: 8, channels: 1 }, 3);
    perturb(m);
    const emb = m.net.params.get('class.embedding');
    const { grads } = tf.variableGrads(() => m.loss(x0, new Rng(2), 7, labels), [emb]);
    const g = Object.values(grads)[0].arraySync() as number[][];
    const rowNorm = g.map((row) => Math.hypot(...row));
    if (condDrop === 1) {
      assert.ok(rowNorm.slice(0, 4).every((v) => v === 0), 'no class row is used when every label is dropped');
      assert.ok(rowNorm[4] > 0);
    } else {
      assert.ok(rowNorm.slice(0, 4).every((v) => v > 0), `every class row has a gradient: ${rowNorm}`);
    }
    tf.dispose(Object.values(grads));
    m.dispose();
  }
  x0.dispose();
});

test('sample i’s image depends only on (seed, i): batch sizes 16 and 64, offsets (shards) and stochastic samplers', () => {
  const gm = gmmFromSpec({ weights: [0.5, 0.5], means: [[-1, 0], [1, 0]], stds: 0.3 });
  // An analytic "image" backend: the mixture's 2 dims seen as a 1×2×1 image.
  const b = analyticBackend(gm);
  const img = { ...b, latentShape: [1, 2, 1], dataShape: [1, 2, 1], denoiser: ((x, s, c) => tf.tidy(() => b.denoiser(x.reshape([x.shape[0], 2]), s, c).reshape(x.shape))) as Denoiser };
  for (const sampler of ['euler-ancestral', 'dpm-solver++-2m', 'ddpm']) {
    const setting = parseSamplerSetting(sampler);
    const all = sampleImages(img, { setting, steps: 8, n: 64, seed: 11, batchSize: 64 });
    const small = sampleImages(img, { setting, steps: 8, n: 64, seed: 11, batchSize: 16 });
    const tail = sampleImages(img, { setting, steps: 8, n: 24, seed: 11, first: 40, batchSize: 7 });
    assert.is(maxDiff(all.images, small.images), 0, `${sampler}: batch 64 vs 16`);
    const allTail = all.images.slice([40, 0, 0, 0], [24, -1, -1, -1]);
    assert.is(maxDiff(allTail, tail.images), 0, `${sampler}: samples 40…63 drawn alone`);
    const other = sampleImages(img, { setting, steps: 8, n: 64, seed: 12 });
    assert.ok(maxDiff(all.images, other.images) > 0.1, `${sampler}: another seed differs`);
    tf.dispose([all.images, small.images, tail.images, allTail, other.images]);
  }
  // The streams themselves: row i of a batch equals stream i alone.
  const s = new SampleStreams(3, 5, 4).normals(4 * 6);
  const alone = new Rng(3, 7).normals(6);
  assert.equal(Array.from(s.subarray(12, 18)), Array.from(alone));
  assert.not.equal(Array.from(new Rng(3, 8).normals(6)), Array.from(alone));
  assert.not.equal(Array.from(new Rng(4, 7).normals(6)), Array.from(alone));
});

test.run();
