import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DiffusionModel } from '../../src/backends/diffusion-model.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { perSampleSigma, type Denoiser } from '../../src/diffusion/denoiser.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { latentBitsPerDim, pixelBitsPerDim } from '../../src/metrics/bits-per-dim.js';
import { EIGHT_BIT_SYMMETRIC, exactDivergence, odeNll } from '../../src/diffusion/likelihood.js';
import { Vae } from '../../src/models/vae.js';
import { DiffusionConfig } from '../../src/train/config.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('wasm'); });

/** Exact E[x0 | x0 + σε] when every pixel is independent and uniform over `levels`. */
function levelsDenoiser(levels: number[]): Denoiser {
  const v = tf.keep(tf.tensor2d(levels, [1, levels.length]));
  return perSampleSigma((x, sigma) => tf.tidy(() => {
    const flat = x.reshape([-1, 1]);
    const w = tf.softmax(flat.sub(v).square().div(-2 * sigma * sigma));
    return w.mul(v).sum(1).reshape(x.shape);
  }));
}

const LEVELS_256 = Array.from({ length: 256 }, (_, k) => k / 127.5 - 1);

function uniformImages(n: number, side: number, rng: Rng, levels: number[]): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: n * side * side }, () => levels[rng.int(levels.length)]), [n, side, side, 1]);
}

const linear = (T = 1000) => discreteSchedule('linear', { T });

test('uniform noise over 256 levels: the bound with the exact denoiser is ≥ 8 bits/dim and close to it', () => {
  const x = uniformImages(16, 4, new Rng(1), LEVELS_256);
  const r = pixelBitsPerDim(levelsDenoiser(LEVELS_256), linear(), x, { method: 'vlb', seed: 2 });
  // The data's entropy is exactly 8 bits/dim; a valid bound can only lie above it (up to sampling noise).
  assert.ok(r.bitsPerDim >= 8 - 2 * r.stderr, `${r.bitsPerDim} ± ${r.stderr}`);
  // Not tight: with the linear schedule the decoder's σ = √β̃₁ ≈ 0.007 is wider than a level's bin
  // (±1/255), and σ₀ ≈ 0.01 leaves x̂0 unsure between neighbouring levels; the gap is ~0.6 bits/dim.
  assert.ok(r.bitsPerDim < 9, `${r.bitsPerDim} ${JSON.stringify(r.parts)}`);
  const sum = Object.values(r.parts).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - r.bitsPerDim) < 1e-9, `parts ${JSON.stringify(r.parts)} sum to ${sum}`);
  assert.is(r.dims, 16);
  // The stratified estimate is unbiased: over a few seeds it agrees with the full sum.
  const est = [3, 4, 5, 6].map((seed) => pixelBitsPerDim(levelsDenoiser(LEVELS_256), linear(), x, { method: 'vlb', seed, terms: 40 }));
  const mean = est.reduce((a, e) => a + e.bitsPerDim, 0) / est.length;
  assert.ok(Math.abs(mean - r.bitsPerDim) < 0.1, `stratified ${est.map((e) => e.bitsPerDim.toFixed(3))} vs all ${r.bitsPerDim}`);
  assert.ok(est[0].nfe <= 41 && est[0].nfe > 20, `NFE ${est[0].nfe}`);
  x.dispose();
});

test('nll-ode averages over uniform dequantization noise: with the exact denoiser it bounds the 8-bit entropy from above', () => {
  assert.is(EIGHT_BIT_SYMMETRIC.natsPerDim, Math.log(127.5));
  assert.ok(Math.abs(EIGHT_BIT_SYMMETRIC.natsPerDim / Math.LN2 - 6.99435) < 1e-5);
  const x = uniformImages(8, 2, new Rng(11), LEVELS_256);
  // σ_min = 0.001, well below the levels' spacing 2/255: the density peaks at the levels themselves.
  const D = levelsDenoiser(LEVELS_256), range: [number, number] = [0.001, 80];
  const r = pixelBitsPerDim(D, linear(), x, { method: 'ode', seed: 3, sigmaRange: range, rtol: 1e-3, atol: 1e-3 });
  // The data's entropy is 8 bits/dim: an upper bound may not fall below it (up to its noise).
  assert.ok(r.bitsPerDim > 8 - 3 * r.stderr - 0.05, `${r.bitsPerDim} ± ${r.stderr}`);
  // (Loose here, ~11 bits/dim: at σ_min = 0.001 the density is a comb, low between the levels.)
  // The density at the levels themselves plus the same offset undercuts the entropy: not a bound.
  const atLevels = odeNll(D, exactDivergence(D), x.reshape([8, 4]), { sigmaMin: range[0], sigmaMax: range[1], rtol: 1e-3, atol: 1e-3, dequantization: EIGHT_BIT_SYMMETRIC });
  assert.ok(atLevels.bitsPerDim < 7.5, `at the levels: ${atLevels.bitsPerDim} bits/dim`);
  assert.ok(Math.abs(r.parts.dequantization - Math.log2(127.5)) < 1e-12);
  assert.ok(r.notes.some((n) => /u uniform within each pixel's bin, 1 draw/.test(n)));
  x.dispose();
});

test('binary images: the exact denoiser gives ≈ 1 bit/dim, far below 8', () => {
  const x = uniformImages(16, 4, new Rng(4), [-1, 1]);
  const r = pixelBitsPerDim(levelsDenoiser([-1, 1]), linear(), x, { method: 'vlb', seed: 5 });
  // The entropy is exactly 1 bit/dim; the bound lies above it and far below 8.
  assert.ok(r.bitsPerDim > 1 - 3 * r.stderr && r.bitsPerDim < 2, `${r.bitsPerDim}`);
  x.dispose();
});

test('a trained toy pixel model beats 8 bits/dim clearly; an untrained one does not', () => {
  // Data: 8×8 images of a bright square at one of four positions on black.
  const rng = new Rng(7), n = 32, side = 8;
  const img = new Float32Array(n * side * side).fill(-1);
  for (let i = 0; i < n; i++) {
    const oy = 4 * rng.int(2), ox = 4 * rng.int(2);
    for (let y = 0; y < 4; y++) for (let xx = 0; xx < 4; xx++) img[i * 64 + (oy + y) * 8 + ox + xx] = 1;
  }
  const x = tf.tensor4d(img, [n, side, side, 1]);
  // seed − 23: the UNet is initialised from seed 3 as before the model seam.
  const dm = new DiffusionModel(DiffusionConfig.parse({
    model: { channels: 16, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [] }, objective: 'eps', schedule: { name: 'linear', T: 100 }, train: { steps: 1 },
  }), { size: side, channels: 1 }, 3 - 23);
  const unet = dm.net;
  const before = pixelBitsPerDim(dm.D, dm.boundSchedule, x, { method: 'vlb', seed: 1 });
  const opt = new AdamW({ lr: 2e-3 }), vars = [...unet.params.vars.values()], trng = new Rng(8);
  for (let step = 0; step < 300; step++) {
    const { value, grads } = tf.variableGrads(() => dm.loss(x, trng, step), vars);
    opt.apply(unet.params.vars, grads, 2e-3);
    tf.dispose([value, ...Object.values(grads)]);
  }
  const after = pixelBitsPerDim(dm.D, dm.boundSchedule, x, { method: 'vlb', seed: 1 });
  assert.ok(before.bitsPerDim > 8, `untrained: ${before.bitsPerDim}`);
  assert.ok(after.bitsPerDim < 4, `trained: ${after.bitsPerDim} (untrained ${before.bitsPerDim})`);
  opt.dispose(); unet.dispose(); x.dispose();
});

test('latent bound: same images, same units; ≥ 8 bits/dim on uniform noise; parts add up', () => {
  const x = uniformImages(8, 8, new Rng(9), LEVELS_256);
  const vae = new Vae({ imageSize: 8, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, latentChannels: 2, midAttention: false }, 1);
  // Latent prior N(0, I), whose exact denoiser is x/(1 + σ²).
  const prior: Denoiser = perSampleSigma((z, sigma) => tf.tidy(() => z.div(1 + sigma * sigma)));
  const b = { vae, scaleFactor: 0.7, prior, schedule: linear(200) };
  const r = latentBitsPerDim(b, x, { decoderStd: 0.5, decoderStdSource: 'fixed for the test', seed: 1 });
  assert.is(r.dims, 64);
  assert.ok(r.bitsPerDim >= 8, `${r.bitsPerDim}`);
  const sum = Object.values(r.parts).reduce((a, c) => a + c, 0);
  assert.ok(Math.abs(sum - r.bitsPerDim) < 1e-9);
  // The scale factor's Jacobian: −d_z·log s nats over the data dimensions.
  assert.ok(Math.abs(r.parts.scaleJacobian - (-(4 * 4 * 2) * Math.log(0.7)) / (64 * Math.LN2)) < 1e-12);
  assert.ok(r.notes.some((s) => s.includes('scale factor s = 0.7000')));
  const p = pixelBitsPerDim(levelsDenoiser(LEVELS_256), linear(200), x, { method: 'vlb', seed: 1 });
  assert.is(p.dims, r.dims);
  vae.dispose(); x.dispose();
});

test.run();
