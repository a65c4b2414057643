// Every objective trains on both backends: a short run lowers the loss on a fixed batch (same σ and
// ε before and after) and leaves the number of live tensors unchanged from step to step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMeans, scaleFactorOf } from '../../src/backends/latent.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { loadDataset, toFloat } from '../../src/data/index.js';
import { OBJECTIVE_NAMES } from '../../src/diffusion/objectives/index.js';
import { Vae } from '../../src/models/vae.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/util/rng.js';
import { diffusionModel } from '../helpers/models.js';

test.before(async () => { await selectBackend('wasm'); });

function trainingSets(): { pixel: tf.Tensor4D; latent: tf.Tensor4D } {
  const ds = loadDataset({ name: 'mnist', split: 'train', resize: [8, 8] });
  const pixel = toFloat(ds, Int32Array.from({ length: 64 }, (_, i) => i));
  // A frozen (untrained) autoencoder is enough here: the latent backend's diffusion sees its scaled means.
  const vae = new Vae({ imageSize: 8, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, latentChannels: 2, midAttention: false }, 1);
  const r = new Rng(2);
  for (const v of vae.params.vars.values()) v.assign(v.add(tf.tensor(r.normals(v.size), v.shape).mul(0.1)));
  const means = encodeMeans(vae, pixel);
  const latent = means.mul(scaleFactorOf(means)) as tf.Tensor4D;
  tf.dispose(means);
  vae.dispose();
  return { pixel, latent };
}

const BACKBONES: [string, Record<string, unknown>][] = [
  ['UNet', { channels: 16 }],
  // 2×2 patches: 16 tokens of 4 values on 8×8 pixels, 4 tokens of 8 on the 4×4×2 latents.
  ['DiT', { arch: 'dit', patchSize: 2, hiddenSize: 32, depth: 2, heads: 2 }],
];

for (const [arch, model] of BACKBONES) test(`every objective on pixel and latent data (${arch}): 40 steps lower the loss on a fixed batch, with no tensor leak per step`, () => {
  const sets = trainingSets();
  for (const [space, data] of Object.entries(sets)) {
    for (const objective of OBJECTIVE_NAMES) {
      const m = diffusionModel({ objective, model }, { size: data.shape[1], channels: data.shape[3] }, 3);
      const vars = [...m.net.params.vars.values()];
      const fixedLoss = () => tf.tidy(() => m.denoiser.loss(data, new Rng(99), m.policy, { training: false, seed: 0 }).dataSync()[0]);
      const before = fixedLoss();
      const opt = new AdamW({ lr: 3e-3 }), rng = new Rng(5);
      let tensors = -1;
      for (let step = 0; step < 40; step++) {
        const idx = Array.from({ length: 16 }, () => rng.int(data.shape[0]));
        const { value, grads } = tf.variableGrads(() => tf.tidy(() => m.loss(tf.gather(data, idx) as tf.Tensor4D, rng, step)), vars);
        opt.apply(m.net.params.vars, grads, 3e-3);
        tf.dispose([value, ...Object.values(grads)]);
        if (step === 2) tensors = tf.memory().numTensors;
        if (step > 2) assert.is(tf.memory().numTensors, tensors, `${arch} ${space} ${objective}: tensors at step ${step}`);
      }
      const after = fixedLoss();
      assert.ok(Number.isFinite(after) && after < 0.8 * before, `${arch} ${space} ${objective}: loss ${before.toFixed(4)} → ${after.toFixed(4)}`);
      opt.dispose();
      m.dispose();
    }
  }
  tf.dispose([sets.pixel, sets.latent]);
});

test.run();
