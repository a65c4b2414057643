import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { BatchSampler } from '../../src/data/index.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { AdamW, clipByGlobalNorm, Ema, learningRate } from '../../src/train/optim.js';
import { UNet } from '../../src/models/unet.js';
import { Rng } from '../../src/util/rng.js';
import { readSafetensors } from '../../src/util/safetensors.js';

test.before(async () => { await selectBackend('wasm'); });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-ckpt-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('AdamW matches a float64 scalar implementation of Kingma & Ba Alg. 1 with decoupled decay', () => {
  const theta0 = [0.5, -1.2, 2.0], lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const gradsOf = (t: number[], step: number) => t.map((x, i) => Math.sin(x * (i + 1)) + 0.1 * step);
  // Reference.
  const ref = [...theta0], m = [0, 0, 0], v = [0, 0, 0];
  for (let s = 1; s <= 5; s++) {
    const g = gradsOf(ref, s);
    for (let i = 0; i < 3; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** s), vh = v[i] / (1 - b2 ** s);
      ref[i] -= lr * (mh / (Math.sqrt(vh) + eps) + wd * ref[i]);
    }
  }
  const p = new Map([['w', tf.variable(tf.tensor1d(theta0))]]);
  const opt = new AdamW({ lr, weightDecay: wd });
  for (let s = 1; s <= 5; s++) {
    const g = tf.tensor1d(gradsOf(Array.from(p.get('w')!.dataSync()), s));
    opt.apply(p, { [p.get('w')!.name]: g }, lr);
    g.dispose();
  }
  const got = Array.from(p.get('w')!.dataSync());
  got.forEach((x, i) => assert.ok(Math.abs(x - ref[i]) < 1e-5, `θ[${i}] ${x} vs ${ref[i]}`));
  opt.dispose();
  p.get('w')!.dispose();
});

test('learning-rate schedule: linear warm-up, cosine and linear decay to the floor', () => {
  const s = { base: 1e-3, warmupSteps: 10, totalSteps: 110, decay: 'cosine' as const, minFactor: 0.1 };
  assert.ok(Math.abs(learningRate(s, 0) - 1e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(s, 9) - 1e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(s, 60) - 0.55e-3) < 1e-12); // halfway: (base + floor)/2
  assert.ok(Math.abs(learningRate(s, 110) - 1e-4) < 1e-12);
  assert.ok(Math.abs(learningRate({ ...s, decay: 'linear' }, 35) - (1e-3 - 0.9e-3 / 4)) < 1e-12);
  assert.is(learningRate({ ...s, decay: 'constant' }, 80), 1e-3);
});

test('global-norm clipping scales to the bound and leaves small gradients alone; EMA follows its recursion', () => {
  const g = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }; // norm 5
  assert.ok(Math.abs(clipByGlobalNorm(g, 1) - 5) < 1e-6);
  const after = Math.hypot(...g.a.dataSync(), ...g.b.dataSync());
  assert.ok(Math.abs(after - 1) < 1e-5, `norm after clipping ${after}`);
  const small = { c: tf.tensor1d([0.1]) };
  clipByGlobalNorm(small, 1);
  assert.ok(Math.abs(small.c.dataSync()[0] - 0.1) < 1e-7);
  const p = new Map([['w', tf.variable(tf.tensor1d([1]))]]);
  const ema = new Ema(0.9, p);
  p.get('w')!.assign(tf.tensor1d([2]));
  ema.update(p);
  ema.update(p);
  // 1 → 0.9·1 + 0.1·2 = 1.1 → 0.9·1.1 + 0.1·2 = 1.19
  assert.ok(Math.abs(ema.shadow.get('w')!.dataSync()[0] - 1.19) < 1e-6);
  tf.dispose([g.a, g.b, small.c]);
  ema.dispose();
  p.get('w')!.dispose();
});

test('EMA warm-up: decay min(d, (1+t)/(10+t)); after 100 steps at 0.99 the initial weights are gone, not 37% of the average', () => {
  const p = new Map([['w', tf.variable(tf.tensor1d([0]))]]);
  const plain = new Ema(0.99, p), warm = new Ema(0.99, p, true);
  assert.ok(Math.abs(warm.decayAt(1) - 2 / 11) < 1e-15);
  assert.is(warm.decayAt(5000), 0.99);
  // The weights jump from 0 to 1 at the first step and stay: the average's distance from 1 is the init's share.
  p.get('w')!.assign(tf.tensor1d([1]));
  let share = 1;
  for (let t = 1; t <= 100; t++) { plain.update(p, t); warm.update(p, t); share *= warm.decayAt(t); }
  assert.ok(Math.abs(1 - plain.shadow.get('w')!.dataSync()[0] - 0.99 ** 100) < 1e-5, 'plain: 0.99^100 ≈ 0.366 of the init');
  assert.ok(Math.abs(1 - warm.shadow.get('w')!.dataSync()[0] - share) < 1e-6);
  assert.ok(share < 1e-10, String(share));
  plain.dispose();
  warm.dispose();
  p.get('w')!.dispose();
});

/** A tiny denoising training run whose every random choice comes from `rng` and the batch sampler. */
function makeRun(seed: number) {
  const model = new UNet({ imageSize: 8, inChannels: 1, outChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.1 }, seed);
  const data = tf.tensor4d(new Rng(77).normals(12 * 64), [12, 8, 8, 1]);
  const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
  const ema = new Ema(0.99, model.params.vars);
  const rng = new Rng(seed + 1000), sampler = new BatchSampler(12, 4, 5);
  let step = 0;
  const trainStep = () => {
    const idx = Array.from(sampler.next());
    const t = Array.from({ length: 4 }, () => rng.int(1000));
    const noise = tf.tensor4d(rng.normals(4 * 64), [4, 8, 8, 1]);
    const dropSeed = rng.nextU32();
    const { grads, value } = tf.variableGrads(() => tf.tidy(() => {
      const x = tf.gather(data, idx) as tf.Tensor4D;
      return model.forward(x.add(noise) as tf.Tensor4D, tf.tensor1d(t), { training: true, seed: dropSeed }).sub(noise).square().mean() as tf.Scalar;
    }), [...model.params.vars.values()]);
    clipByGlobalNorm(grads, 1);
    opt.apply(model.params.vars, grads, learningRate({ base: 1e-3, warmupSteps: 2, totalSteps: 6, decay: 'cosine' }, step));
    ema.update(model.params.vars);
    tf.dispose([noise, value, ...Object.values(grads)]);
    step++;
  };
  const state = () => ({ rng: rng.getState(), sampler: sampler.state() });
  const restore = (st: { rng: { s: number[]; spare: number | null }; sampler: { epoch: number; pos: number } }, at: number) => { rng.setState(st.rng); sampler.restore(st.sampler); step = at; };
  const dispose = () => { model.dispose(); opt.dispose(); ema.dispose(); data.dispose(); };
  return { model, opt, ema, trainStep, state, restore, dispose };
}

test('a resumed run equals an uninterrupted one, bit for bit; checkpoints round-trip exactly', () => {
  const whole = makeRun(1);
  const init = new Map([...whole.model.params.vars].map(([k, v]) => [k, Array.from(v.dataSync())]));
  for (let i = 0; i < 6; i++) whole.trainStep();
  // Training must move every parameter, or equality below would prove nothing.
  for (const [name, v] of whole.model.params.vars) assert.not.equal(Array.from(v.dataSync()), init.get(name), `${name} did not train`);

  const first = makeRun(1);
  for (let i = 0; i < 3; i++) first.trainStep();
  const ckDir = path.join(dir, 'run');
  saveCheckpoint(ckDir, { params: first.model.params.vars, ema: first.ema, optimizer: first.opt }, { step: 3, config: { note: 'test' }, state: first.state() });
  first.dispose();

  const resumed = makeRun(2); // different initial weights and RNG: everything must come from the checkpoint
  const base = latestCheckpoint(ckDir)!;
  const meta = loadCheckpoint(base, { params: resumed.model.params.vars, ema: resumed.ema, optimizer: resumed.opt });
  assert.is(meta.step, 3);
  resumed.restore(meta.state as never, meta.step);
  for (let i = 0; i < 3; i++) resumed.trainStep();

  for (const [name, v] of whole.model.params.vars) {
    assert.equal(Array.from(resumed.model.params.get(name).dataSync()), Array.from(v.dataSync()), `parameter ${name}`);
    assert.equal(Array.from(resumed.ema.shadow.get(name)!.dataSync()), Array.from(whole.ema.shadow.get(name)!.dataSync()), `EMA of ${name}`);
  }
  // The file itself holds exactly what was saved.
  const { tensors, metadata } = readSafetensors(`${base}.safetensors`);
  assert.is(metadata.step, '3');
  const prefixes = [...new Set(Object.keys(tensors).map((k) => k.split('.').slice(0, k.startsWith('optim') ? 2 : 1).join('.')))].sort();
  assert.equal(prefixes, ['ema', 'model', 'optim.m', 'optim.v'], `prefixes ${prefixes}`);
  whole.dispose();
  resumed.dispose();
});

test('loading checks shapes and names what does not fit', () => {
  const a = makeRun(3);
  const ckDir = path.join(dir, 'mismatch');
  saveCheckpoint(ckDir, { params: a.model.params.vars }, { step: 1, config: {} });
  const other = new UNet({ imageSize: 8, inChannels: 1, outChannels: 1, channels: 16, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [], dropout: 0 }, 1);
  assert.throws(() => loadCheckpoint(latestCheckpoint(ckDir)!, { params: other.params.vars }), /step-000001.safetensors: model\.temb\.0\.weight has shape \[8,32\], the model expects \[16,64\]/);
  a.dispose();
  other.dispose();
});

test.run();
