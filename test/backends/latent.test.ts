import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { estimateScaleFactor, LatentBackend } from '../../src/backends/latent.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { getSampler, samplingSigmas } from '../../src/diffusion/samplers/index.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { UNet } from '../../src/models/unet.js';
import { Vae } from '../../src/models/vae.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('wasm'); });

function setup() {
  const vae = new Vae({ imageSize: 16, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, latentChannels: 2, midAttention: false }, 1);
  // Perturb the zero-initialised layers so the encoder is not the identity-with-zeros it starts as.
  const r = new Rng(2);
  for (const v of vae.params.vars.values()) v.assign(v.add(tf.tensor(r.normals(v.size), v.shape).mul(0.1)));
  const x = tf.tensor4d(new Rng(3).normals(40 * 256).map((v) => Math.tanh(v)), [40, 16, 16, 1]);
  const unet = new UNet({ imageSize: 8, inChannels: 2, outChannels: 2, channels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], dropout: 0 }, 4);
  return { vae, x, unet };
}

test('the scale factor gives the training latents unit standard deviation; decode inverts the scaling', () => {
  const { vae, x, unet } = setup();
  const scale = estimateScaleFactor(vae, x, 16);
  const b = new LatentBackend(vae, scale, unet, discreteSchedule('linear'), { parameterization: 'eps', weighting: 'simple' });
  assert.equal(b.latentShape, [8, 8, 2]);
  const z = b.encodeAll(x, 16);
  const { variance } = tf.moments(z);
  assert.ok(Math.abs(Math.sqrt(variance.dataSync()[0]) - 1) < 1e-4, `latent std ${Math.sqrt(variance.dataSync()[0])}`);
  // decode(encode(x)) is exactly the VAE's own reconstruction from its posterior mean.
  const viaBackend = b.decode(b.encode(x.slice([0, 0, 0, 0], [4, -1, -1, -1]))).dataSync();
  const direct = tf.tidy(() => vae.decode(vae.encode(x.slice([0, 0, 0, 0], [4, -1, -1, -1])).mean)).dataSync();
  for (let i = 0; i < direct.length; i++) assert.ok(Math.abs(viaBackend[i] - direct[i]) < 1e-4 * (1 + Math.abs(direct[i])));
  tf.dispose([z, variance, x]);
  vae.dispose(); unet.dispose();
});

test('any sampler runs on the latent backend unchanged and decodes to image shape; a mismatched UNet is refused', () => {
  const { vae, x, unet } = setup();
  const b = new LatentBackend(vae, 1.3, unet, discreteSchedule('linear'), { parameterization: 'v', weighting: 'min-snr' });
  for (const name of ['ddim', 'dpm-solver++-2m', 'heun']) {
    const e = getSampler(name);
    const sigmas = e.grid === 'discrete' ? samplingSigmas({ kind: 'discrete', steps: 4, schedule: b.schedule }) : samplingSigmas({ kind: 'karras', steps: 4 });
    const xT = tf.randomNormal([3, ...b.latentShape]).mul(sigmas[0]);
    const r = e.sampler(b.denoiser, xT, { ...e.preset, sigmas, rng: new Rng(1) });
    const img = b.decode(r.x);
    assert.equal(img.shape, [3, 16, 16, 1]);
    tf.dispose([xT, r.x, img]);
  }
  const wrong = new UNet({ imageSize: 16, inChannels: 1, outChannels: 1, channels: 8, channelMult: [1], numResBlocks: 1, attentionResolutions: [], dropout: 0 }, 1);
  assert.throws(() => new LatentBackend(vae, 1, wrong, discreteSchedule('linear'), { parameterization: 'eps', weighting: 'simple' }), /the UNet must take 8×8×2 latents, got 16×16×1 → 1/);
  tf.dispose(x);
  vae.dispose(); unet.dispose(); wrong.dispose();
});

test.run();
