import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { loadMnistNpm, toFloat } from '../../src/data/index.js';
import { randn } from '../../src/diffusion/noise.js';
import { Vae, type VaeConfig } from '../../src/models/vae.js';
import { Rng } from '../../src/util/rng.js';
import { executedFlops } from '../helpers/flops.js';

test.before(async () => { await selectBackend('wasm'); });

const base = { inChannels: 1, channels: 8, numResBlocks: 1, latentChannels: 3, midAttention: true };

test('encoder/decoder shapes for f = 2, 4, 8 (28 → 14, 7, 4 latents; 32 → 4 at f = 8)', () => {
  for (const [size, mult, latent] of [[28, [1, 2], 14], [28, [1, 2, 2], 7], [28, [1, 1, 2, 2], 4], [32, [1, 2, 2, 2], 4]] as const) {
    const v = new Vae({ ...base, imageSize: size, channelMult: [...mult] }, 1);
    const x = tf.zeros([2, size, size, 1]) as tf.Tensor4D;
    const { mean, logvar } = v.encode(x);
    assert.equal(mean.shape, [2, latent, latent, 3]);
    assert.equal(logvar.shape, mean.shape);
    assert.is(v.latentSize, latent);
    const y = v.decode(mean);
    assert.equal(y.shape, [2, size, size, 1]);
    tf.dispose([x, mean, logvar, y]);
    v.dispose();
  }
});

test('encoder and decoder FLOPs equal the conv and matmul work actually executed', async () => {
  const cfg: VaeConfig = { ...base, imageSize: 28, channelMult: [1, 2, 2] };
  const v = new Vae(cfg, 2);
  const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D, z = tf.zeros([2, 7, 7, 3]) as tf.Tensor4D;
  const counted = v.flopsPerImage();
  const enc = await executedFlops(() => { const r = v.encode(x); return [r.mean, r.logvar]; }, 2);
  const dec = await executedFlops(() => v.decode(z), 2);
  assert.ok(Math.abs(counted.encoder - enc) <= 1e-9 * enc, `encoder ${counted.encoder} vs ${enc}`);
  assert.ok(Math.abs(counted.decoder - dec) <= 1e-9 * dec, `decoder ${counted.decoder} vs ${dec}`);
  tf.dispose([x, z]);
  v.dispose();
});

test('a gradient of the VAE loss reaches every parameter', () => {
  const v = new Vae({ ...base, imageSize: 16, channelMult: [1, 2] }, 3);
  const r = new Rng(4);
  for (const p of v.params.vars.values()) p.assign(p.add(tf.tensor(r.normals(p.size), p.shape).mul(0.05)));
  const x = tf.tensor4d(r.normals(2 * 16 * 16), [2, 16, 16, 1]), eps = tf.tensor4d(r.normals(2 * 8 * 8 * 3), [2, 8, 8, 3]);
  const { grads } = tf.variableGrads(() => v.loss(x, eps, { reconstruction: 'l1', klWeight: 1 }).loss, [...v.params.vars.values()]);
  for (const [name, g] of Object.entries(grads)) assert.ok(g.abs().max().dataSync()[0] > 0, `no gradient reaches ${name}`);
  tf.dispose([x, eps, ...Object.values(grads)]);
  v.dispose();
});

test('the VAE learns to reconstruct 64 MNIST digits: MSE < ¼ of the mean-image baseline', () => {
  const data = loadMnistNpm('train');
  const x = toFloat(data, Array.from({ length: 64 }, (_, i) => i * 37));
  // Baseline: predicting the per-pixel mean of these 64 digits (MSE 0.268). Below ¼ of it, the autoencoder
  // explains more than 75% of the pixel variance through a 7×7×3 latent (12× fewer numbers); measured
  // here: 0.49 of the baseline after 25 steps, 0.16 after 100.
  const baseline = tf.tidy(() => x.sub(x.mean(0)).square().mean().dataSync()[0]);
  const v = new Vae({ ...base, channels: 16, imageSize: 28, channelMult: [1, 2, 2], midAttention: false }, 5);
  const opt = tf.train.adam(3e-3), rng = new Rng(6), vars = [...v.params.vars.values()];
  for (let step = 0; step < 100; step++) {
    const idx = Array.from({ length: 16 }, () => rng.int(64));
    const l = opt.minimize(() => tf.tidy(() => {
      const xb = tf.gather(x, idx) as tf.Tensor4D;
      return v.loss(xb, randn(rng, [16, 7, 7, 3]) as tf.Tensor4D, { reconstruction: 'l2', klWeight: 1e-3 }).loss;
    }), true, vars)!;
    l.dispose();
  }
  const mse = tf.tidy(() => v.decode(v.encode(x).mean).sub(x).square().mean().dataSync()[0]);
  assert.ok(mse < 0.25 * baseline, `reconstruction MSE ${mse} vs baseline ${baseline}`);
  tf.dispose(x);
  opt.dispose();
  v.dispose();
});

test.run();
