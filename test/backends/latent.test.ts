import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMeans, estimateScaleFactor, LatentBackend } from '../../src/backends/latent.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { parseSamplerSetting, sampleImages } from '../../src/diffusion/sampling.js';
import { Vae } from '../../src/models/vae.js';
import { Rng } from '../../src/util/rng.js';
import { diffusionModel } from '../helpers/models.js';

test.before(async () => { await selectBackend('wasm'); });

function setup() {
  const vae = new Vae({ imageSize: 16, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, latentChannels: 2, midAttention: false }, 1);
  // Perturb the zero-initialised layers so the encoder is not the identity-with-zeros it starts as.
  const r = new Rng(2);
  for (const v of vae.params.vars.values()) v.assign(v.add(tf.tensor(r.normals(v.size), v.shape).mul(0.1)));
  const x = tf.tensor4d(new Rng(3).normals(40 * 256).map((v) => Math.tanh(v)), [40, 16, 16, 1]);
  const model = (objective: string) => diffusionModel({ objective }, { size: 8, channels: 2 }, 4);
  return { vae, x, model };
}

test('the scale factor gives the training latents unit standard deviation; decode inverts the scaling', () => {
  const { vae, x, model } = setup();
  const scale = estimateScaleFactor(vae, x, 16);
  const b = new LatentBackend(vae, scale, model('eps'));
  assert.equal(b.latentShape, [8, 8, 2]);
  const z = tf.tidy(() => encodeMeans(vae, x, 16).mul(scale));
  const { variance } = tf.moments(z);
  assert.ok(Math.abs(Math.sqrt(variance.dataSync()[0]) - 1) < 1e-4, `latent std ${Math.sqrt(variance.dataSync()[0])}`);
  // decode(encode(x)) is exactly the VAE's own reconstruction from its posterior mean.
  const viaBackend = b.decode(b.encode(x.slice([0, 0, 0, 0], [4, -1, -1, -1]))).dataSync();
  const direct = tf.tidy(() => vae.decode(vae.encode(x.slice([0, 0, 0, 0], [4, -1, -1, -1])).mean)).dataSync();
  for (let i = 0; i < direct.length; i++) assert.ok(Math.abs(viaBackend[i] - direct[i]) < 1e-4 * (1 + Math.abs(direct[i])));
  tf.dispose([z, variance, x]);
  b.dispose();
});

test('any sampler runs on the latent backend, for every objective, and decodes to image shape; a mismatched UNet is refused', () => {
  const { vae, x, model } = setup();
  for (const objective of ['v', 'flow', 'edm']) {
    const m = model(objective);
    const b = new LatentBackend(vae, 1.3, m);
    for (const name of ['ddim', 'dpm-solver++-2m', 'heun']) {
      const r = sampleImages(b, { setting: parseSamplerSetting(name), steps: 4, n: 3, seed: 1 });
      assert.equal(r.images.shape, [3, 16, 16, 1]);
      assert.ok(r.images.dataSync().every(Number.isFinite), `${objective} ${name}`);
      r.images.dispose();
    }
    m.dispose();
  }
  const wrong = diffusionModel({}, { size: 16, channels: 1 }, 1);
  assert.throws(() => new LatentBackend(vae, 1, wrong), /the network must take 8×8×2 latents, got 16×16×1 → 1/);
  tf.dispose(x);
  vae.dispose(); wrong.dispose();
});

test.run();
