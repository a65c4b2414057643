import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEST_CACHE } from '../helpers/cache.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { loadDataset, permutation, toFloat } from '../../src/data/index.js';
import { Rng } from '../../src/util/rng.js';
import { LENET_RECIPES, MLP_RECIPES, lenetFor, loadTfjsFeatureNet, recipeHash, resolveFeatureNet, SHIPPED_FEATURES_DIR } from '../../src/metrics/features.js';
import { prdc } from '../../src/metrics/prdc.js';
import { fid } from '../../src/metrics/fid.js';

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

test.before(async () => { await selectBackend('wasm'); });

function accuracy(net: ReturnType<typeof lenetFor>): number {
  // Recomputed from the features' softmax on the whole test split, not read from the JSON.
  const test = loadDataset({ name: 'mnist', split: 'test' });
  const x = toFloat(test, all(test.n));
  const { probs } = net.features(x);
  x.dispose();
  let correct = 0;
  for (let i = 0; i < test.n; i++) {
    let best = 0;
    for (let k = 1; k < 10; k++) if (probs![i * 10 + k] > probs![i * 10 + best]) best = k;
    if (best === test.labels![i]) correct++;
  }
  return correct / test.n;
}

test('the second feature space: the shipped MNIST MLP is its recipe\'s network, reaches ≥ 96% and is retrained bit for bit', async () => {
  const hash = recipeHash(MLP_RECIPES.mnist!);
  assert.is.not(hash, recipeHash(LENET_RECIPES.mnist!));
  const meta = JSON.parse(fs.readFileSync(path.join(SHIPPED_FEATURES_DIR, `mlp-mnist-${hash}.json`), 'utf8'));
  assert.equal(meta.recipe, MLP_RECIPES.mnist);
  const net = await resolveFeatureNet('mlp', { dataset: 'mnist', log: false });
  assert.is(net.name, 'mlp-mnist');
  assert.is(net.featureDim, 128);
  const acc = accuracy(net as ReturnType<typeof lenetFor>);
  assert.ok(acc >= 0.96 && Math.abs(acc - meta.testAccuracy) < 1e-9, `test accuracy ${acc}, recorded ${meta.testAccuracy}`);
  net.dispose();
  // Trained again from its recipe (about 15 s), the weights are the shipped ones byte for byte.
  const again = lenetFor('mnist', { family: 'mlp', log: false, shipped: false });
  again.dispose();
  assert.ok(fs.readFileSync(path.join(TEST_CACHE, 'features', `mlp-mnist-${hash}.safetensors`)).equals(fs.readFileSync(path.join(SHIPPED_FEATURES_DIR, `mlp-mnist-${hash}.safetensors`))));
});

test('the shipped MNIST LeNet is its recipe\'s network and reaches ≥ 98.5% test accuracy', () => {
  const hash = recipeHash(LENET_RECIPES.mnist!);
  const meta = JSON.parse(fs.readFileSync(path.join(SHIPPED_FEATURES_DIR, `lenet-mnist-${hash}.json`), 'utf8'));
  assert.equal(meta.recipe, LENET_RECIPES.mnist);
  const net = lenetFor('mnist', { log: false });
  assert.is(net.name, 'lenet-mnist');
  const acc = accuracy(net);
  assert.ok(acc >= 0.985, `test accuracy ${acc}`);
  assert.ok(Math.abs(acc - meta.testAccuracy) < 1e-9, `recorded ${meta.testAccuracy}, measured ${acc}`);
  // Loaded, not trained: nothing was written to the cache.
  assert.not.ok(fs.existsSync(path.join(TEST_CACHE, 'features', `lenet-mnist-${hash}.safetensors`)));
  net.dispose();
});

test('a LeNet recipe trains, learns and is cached as safetensors + JSON (a 150-step recipe)', () => {
  const recipe = { ...LENET_RECIPES.mnist!, steps: 150 };
  const net = lenetFor('mnist', { log: false, recipe });
  const stem = `lenet-mnist-${recipeHash(recipe)}`;
  const meta = JSON.parse(fs.readFileSync(path.join(TEST_CACHE, 'features', `${stem}.json`), 'utf8'));
  assert.ok(fs.existsSync(path.join(TEST_CACHE, 'features', `${stem}.safetensors`)));
  assert.is(meta.recipe.steps, 150);
  const acc = accuracy(net);
  assert.ok(acc > 0.9, `150 steps should pass 90% (chance is 10%): ${acc}`);
  assert.ok(Math.abs(acc - meta.testAccuracy) < 1e-9);
  // From the cache it is the same network.
  const again = lenetFor('mnist', { log: false, recipe });
  const x = toFloat(loadDataset({ name: 'mnist', split: 'test' }), all(32));
  assert.equal(Array.from(again.features(x).features.data), Array.from(net.features(x).features.data));
  x.dispose();
  net.dispose(); again.dispose();
});

test('features are deterministic for a fixed cache, and resized inputs work', () => {
  const test = loadDataset({ name: 'mnist', split: 'test' });
  const x = toFloat(test, all(64));
  const a = lenetFor('mnist', { log: false }), b = lenetFor('mnist', { log: false });
  const fa = a.features(x).features, fb = b.features(x, 7).features; // a different batch size too
  assert.equal(Array.from(fa.data), Array.from(fb.data));
  assert.is(fa.cols, 128);
  const small = tf.image.resizeBilinear(x, [16, 16]);
  assert.equal(a.features(small).features.rows, 64);
  tf.dispose([x, small]);
  a.dispose(); b.dispose();
});

test('on LeNet features, dropping 5 of 10 MNIST classes collapses recall and keeps precision', () => {
  const train = loadDataset({ name: 'mnist', split: 'train' });
  const net = lenetFor('mnist', { log: false });
  // The package's images are grouped by digit: draw from a seeded shuffle.
  const order = permutation(train.n, new Rng(0));
  const realIdx = order.filter((i) => i % 2 === 0).slice(0, 1000);
  const fakeIdx = order.filter((i) => i % 2 === 1 && train.labels![i] < 5).slice(0, 1000);
  const fullIdx = order.filter((i) => i % 2 === 1).slice(0, 1000);
  const feats = (idx: Int32Array) => { const x = toFloat(train, idx); const f = net.features(x).features; x.dispose(); return f; };
  const real = feats(realIdx), dropped = feats(fakeIdx), full = feats(fullIdx);
  const same = prdc(real, full), drop = prdc(real, dropped);
  assert.ok(same.precision > 0.85 && same.recall > 0.85, `same distribution: ${JSON.stringify(same)}`);
  assert.ok(drop.precision > 0.85, `mode-dropped precision ${drop.precision}`);
  // Half the real manifold has no fake samples near it: recall and coverage fall towards 0.5.
  assert.ok(drop.recall < 0.65 && drop.recall < same.recall - 0.25, `mode-dropped recall ${drop.recall} (same distribution ${same.recall})`);
  assert.ok(drop.coverage < 0.65 && drop.coverage < same.coverage - 0.25, `mode-dropped coverage ${drop.coverage} (same distribution ${same.coverage})`);
  // FID agrees in direction: the mode-dropped set is much further away.
  assert.ok(fid(real, dropped).value > 5 * fid(real, full).value);
  net.dispose();
});

test("a user's TF.js layers model from model.json: features from a named layer", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-tfjs-model-'));
  try {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'c1' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 6, activation: 'tanh', name: 'emb' }),
        tf.layers.dense({ units: 3, name: 'out' }),
      ],
    });
    await m.save(tf.io.withSaveHandler(async (art) => {
      fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(art.weightData as ArrayBuffer));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({
        format: 'layers-model', modelTopology: art.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: art.weightSpecs }],
      }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const x = tf.randomUniform([5, 12, 12, 1], -1, 1) as tf.Tensor4D;
    const sub = tf.model({ inputs: m.inputs, outputs: m.getLayer('emb').output as tf.SymbolicTensor });
    const expected = (sub.predict(x) as tf.Tensor).dataSync();
    const net = await resolveFeatureNet(path.join(dir, 'model.json'), { layer: 'emb' });
    const f = net.features(x).features;
    assert.equal([f.rows, f.cols], [5, 6]);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(f.data[i] - expected[i]) < 1e-6);
    await assert.not.throws(() => loadTfjsFeatureNet(path.join(dir, 'model.json')));
    try {
      await loadTfjsFeatureNet(path.join(dir, 'model.json'), 'nope');
      assert.unreachable('unknown layer accepted');
    } catch (e) {
      assert.match((e as Error).message, /--layer nope: no such layer .* layers: c1, flat, emb, out/);
    }
    tf.dispose(x);
    net.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
