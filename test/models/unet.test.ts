import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { loadMnistNpm, toFloat } from '../../src/data/index.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { qSampleBatch, randn } from '../../src/diffusion/noise.js';
import { UNet, type UNetConfig } from '../../src/models/unet.js';
import { Rng } from '../../src/util/rng.js';
import { executedFlops } from '../helpers/flops.js';

test.before(async () => { await selectBackend('wasm'); });

const CONFIGS: UNetConfig[] = [
  { imageSize: 28, inChannels: 1, outChannels: 1, channels: 16, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [7], dropout: 0.1 },
  { imageSize: 16, inChannels: 3, outChannels: 3, channels: 8, channelMult: [1, 2], numResBlocks: 2, attentionResolutions: [8, 16], dropout: 0, heads: 2 },
  { imageSize: 7, inChannels: 4, outChannels: 8, channels: 8, channelMult: [1, 1, 2], numResBlocks: 1, attentionResolutions: [], dropout: 0 },
];

test('output shapes match the input for several configs (odd sizes included)', () => {
  for (const c of CONFIGS) {
    const m = new UNet(c, 1);
    const y = m.forward(tf.zeros([2, c.imageSize, c.imageSize, c.inChannels]), tf.tensor1d([3, 500]), { training: true, seed: 1 });
    assert.equal(y.shape, [2, c.imageSize, c.imageSize, c.outChannels]);
    y.dispose();
    m.dispose();
  }
});

test('FLOPs per image equal the conv and matmul work a forward pass actually executes', async () => {
  for (const c of CONFIGS) {
    const m = new UNet(c, 1);
    const x = tf.zeros([2, c.imageSize, c.imageSize, c.inChannels]) as tf.Tensor4D, t = tf.tensor1d([10, 10]);
    const executed = await executedFlops(() => m.forward(x, t), 2);
    tf.dispose([x, t]);
    assert.ok(Math.abs(m.flopsPerImage() - executed) <= 1e-9 * executed, `${m.flopsPerImage()} counted vs ${executed} executed`);
    m.dispose();
  }
});

test('parameter count equals the sum of the registered shapes; a gradient reaches every parameter', () => {
  const c = CONFIGS[0];
  const m = new UNet(c, 2);
  let n = 0;
  for (const v of m.params.vars.values()) n += v.shape.reduce((a, b) => a * b, 1);
  assert.is(m.paramCount(), n);
  // Zero-initialised layers (the output conv, conv2 of each block, attention projections) pass no
  // gradient upstream at init; give every parameter small random values first.
  const r = new Rng(3);
  for (const v of m.params.vars.values()) v.assign(v.add(tf.tensor(r.normals(v.size), v.shape).mul(0.05)));
  const x = tf.tensor4d(new Rng(4).normals(2 * 28 * 28), [2, 28, 28, 1]), t = tf.tensor1d([5, 700]);
  const vars = [...m.params.vars.values()];
  const { grads } = tf.variableGrads(() => m.forward(x, t).square().mean() as tf.Scalar, vars);
  for (const [name, g] of Object.entries(grads)) {
    const maxAbs = g.abs().max().dataSync()[0];
    assert.ok(maxAbs > 0, `no gradient reaches ${name}`);
  }
  tf.dispose([x, t, ...Object.values(grads)]);
  m.dispose();
});

test('a small UNet learns to denoise MNIST: the ε-prediction loss falls well below its initial value', () => {
  const c: UNetConfig = { imageSize: 28, inChannels: 1, outChannels: 1, channels: 16, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], dropout: 0 };
  const m = new UNet(c, 5);
  const s = discreteSchedule('linear');
  const data = loadMnistNpm('train');
  const rng = new Rng(6), opt = tf.train.adam(2e-3);
  const vars = [...m.params.vars.values()];
  const losses: number[] = [];
  for (let step = 0; step < 80; step++) {
    const idx = Array.from({ length: 16 }, () => rng.int(data.n));
    const t = Array.from({ length: 16 }, () => rng.int(s.T));
    const loss = opt.minimize(() => tf.tidy(() => {
      const x0 = toFloat(data, idx), eps = randn(rng, x0.shape);
      const xt = qSampleBatch(s, x0, t, eps) as tf.Tensor4D;
      return m.forward(xt, tf.tensor1d(t)).sub(eps).square().mean() as tf.Scalar;
    }), true, vars)!;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
  }
  const first = losses[0], last = losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
  // At init the output is 0, so the loss is E[ε²] ≈ 1; a model that denoises at all does far better.
  assert.ok(Math.abs(first - 1) < 0.15, `initial loss ${first}`);
  assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
  opt.dispose();
  m.dispose();
});

test('an embedding added before a one-channel-per-group GroupNorm is erased; scale-shift after the norm keeps it', () => {
  // channels 8 → GroupNorm with 8 groups of one channel at the first level (as 32 channels with 32 groups).
  const cfg: UNetConfig = { imageSize: 8, inChannels: 1, outChannels: 1, channels: 8, channelMult: [1], numResBlocks: 1, attentionResolutions: [], dropout: 0 };
  const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const spread = (scaleShiftNorm: boolean) => {
    const m = new UNet({ ...cfg, scaleShiftNorm }, 5);
    let seed = 9;
    for (const v of m.params.vars.values()) v.assign(tf.tidy(() => v.add(tf.randomNormal(v.shape, 0, 0.1, 'float32', seed++))));
    const a = m.forward(x, tf.tensor1d([10, 10])), b = m.forward(x, tf.tensor1d([900, 900]));
    const d = tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
    tf.dispose([a, b]);
    m.dispose();
    return d;
  };
  assert.ok(spread(false) < 1e-5, `added: ${spread(false)}`);
  assert.ok(spread(true) > 1e-2, `scale-shift: ${spread(true)}`);
  x.dispose();
});

test('runs saved before scaleShiftNorm existed load with the embedding added before the norm', async () => {
  const { savedConfig } = await import('../../src/backends/saved-config.js');
  const raw = { name: 'old', backend: 'pixel', data: { name: 'mnist' }, diffusion: { model: { channels: 8 }, train: { steps: 1 } } };
  assert.is((savedConfig(raw as never, 'x.json').diffusion.model as { scaleShiftNorm?: boolean }).scaleShiftNorm, false);
  const { parseTrainConfig } = await import('../../src/train/config.js');
  assert.is((parseTrainConfig({ ...raw, diffusion: { model: { channels: 8 }, train: { steps: 1 } } }, 'new.yaml').diffusion.model as { scaleShiftNorm?: boolean }).scaleShiftNorm, true);
});

test.run();
