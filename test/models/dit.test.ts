import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { DiT, geluTanh, patchify, unpatchify, type DiTConfig } from '../../src/models/dit.js';
import { Rng } from '../../src/util/rng.js';
import { onBackend, relErr } from '../helpers/compare.js';
import { executedFlops } from '../helpers/flops.js';

test.before(async () => { await selectBackend('wasm'); });

const CONFIGS: DiTConfig[] = [
  { imageSize: 8, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: 16, depth: 2, heads: 2 },
  { imageSize: 8, inChannels: 4, outChannels: 4, patchSize: 4, hiddenSize: 8, depth: 3, heads: 1, numClasses: 10, mlpRatio: 2 },
  { imageSize: 12, inChannels: 1, outChannels: 1, patchSize: 3, hiddenSize: 16, depth: 4, heads: 4, bottleneck: 4, longSkips: true, numClasses: 3, labelTokens: 2 },
  { imageSize: 4, inChannels: 2, outChannels: 2, patchSize: 1, hiddenSize: 12, depth: 5, heads: 3, longSkips: true },
];

/** DiT's parameter count in closed form (models.py, learn_sigma as out = 2·in), pos_embed not counted. */
function ditParams(c: DiTConfig): number {
  const h = c.hiddenSize, m = Math.floor(h * (c.mlpRatio ?? 4)), tok = c.patchSize ** 2 * c.inChannels;
  const patch = c.bottleneck !== undefined ? tok * c.bottleneck + c.bottleneck * h + h : tok * h + h;
  const temb = 256 * h + h + h * h + h;
  const label = c.numClasses !== undefined ? (c.numClasses + 1) * h + (c.labelTokens ?? 0) * h : 0;
  const block = 3 * h * h + 3 * h + h * h + h + h * m + m + m * h + h + 6 * h * h + 6 * h;
  const skips = c.longSkips ? Math.floor(c.depth / 2) * (2 * h * h + h) : 0;
  const final = 2 * h * h + 2 * h + h * c.patchSize ** 2 * c.outChannels + c.patchSize ** 2 * c.outChannels;
  return patch + temb + label + c.depth * block + skips + final;
}

test('output shapes match the input; parameter counts follow DiT\'s formulas', () => {
  for (const c of CONFIGS) {
    const m = new DiT(c, 1);
    const y = m.forward(tf.zeros([2, c.imageSize, c.imageSize, c.inChannels]), tf.tensor1d([3, 500]));
    assert.equal(y.shape, [2, c.imageSize, c.imageSize, c.outChannels]);
    assert.is(m.paramCount(), ditParams(c), JSON.stringify(c));
    y.dispose();
    m.dispose();
  }
});

test('DiT-S/2 on 32×32×4 latents with 1000 classes has the 33M parameters of the paper\'s Table 4', () => {
  const c: DiTConfig = { imageSize: 32, inChannels: 4, outChannels: 8, patchSize: 2, hiddenSize: 384, depth: 12, heads: 6, numClasses: 1000 };
  assert.is(ditParams(c), 32_865_056);
  // The paper counts pos_embed (a frozen nn.Parameter) too: 256 tokens × 384.
  const withPos = ditParams(c) + 256 * 384;
  assert.ok(Math.abs(withPos / 1e6 - 33) < 0.05, `${withPos}`);
  const m = new DiT({ ...c, depth: 1 }, 0);
  assert.is(m.paramCount(), ditParams({ ...c, depth: 1 }));
  m.dispose();
});

test('FLOPs per image equal the matmul work a forward pass actually executes', async () => {
  for (const c of CONFIGS) {
    const m = new DiT(c, 1);
    const x = tf.zeros([2, c.imageSize, c.imageSize, c.inChannels]) as tf.Tensor4D, t = tf.tensor1d([10, 10]);
    const executed = await executedFlops(() => m.forward(x, t), 2);
    tf.dispose([x, t]);
    assert.ok(Math.abs(m.flopsPerImage() - executed) <= 1e-9 * executed, `${m.flopsPerImage()} counted vs ${executed} executed`);
    m.dispose();
  }
});

test('patchify orders each token (patch row, patch column, channel); unpatchify inverts it exactly', () => {
  const n = 2, hgt = 6, c = 3, p = 3, g = hgt / p;
  const v = new Rng(1).normals(n * hgt * hgt * c);
  const x = tf.tensor4d(v, [n, hgt, hgt, c]);
  const t = patchify(x, p);
  assert.equal(t.shape, [n, g * g, p * p * c]);
  const tv = t.dataSync();
  for (let b = 0; b < n; b++) for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) for (let a = 0; a < p; a++) for (let q = 0; q < p; q++) for (let ch = 0; ch < c; ch++) {
    const tokenIdx = ((b * g * g + i * g + j) * p * p + a * p + q) * c + ch;
    assert.is(tv[tokenIdx], v[((b * hgt + i * p + a) * hgt + j * p + q) * c + ch]);
  }
  const back = unpatchify(t, p, c);
  assert.equal(Array.from(back.dataSync()), Array.from(v));
  tf.dispose([x, t, back]);
});

/** MAE's get_2d_sincos_pos_embed, step by step as in DiT's models.py: meshgrid(w, h), 1-D embeddings of each half, concatenated. */
function maePosEmbed(dim: number, grid: number): number[][] {
  const oneD = (d: number, pos: number[]) => pos.map((m) => {
    const omega = Array.from({ length: d / 2 }, (_, k) => 1 / 10000 ** (k / (d / 2)));
    return [...omega.map((o) => Math.sin(m * o)), ...omega.map((o) => Math.cos(m * o))];
  });
  // np.meshgrid(grid_w, grid_h): grid[0][i][j] = w_j, grid[1][i][j] = h_i; reshape(-1) is row-major.
  const g0: number[] = [], g1: number[] = [];
  for (let i = 0; i < grid; i++) for (let j = 0; j < grid; j++) { g0.push(j); g1.push(i); }
  const a = oneD(dim / 2, g0), b = oneD(dim / 2, g1);
  return a.map((row, m) => [...row, ...b[m]]);
}

test('geluTanh is PyTorch\'s GELU(approximate="tanh"): ½x(1 + tanh(√(2/π)(x + 0.044715x³)))', () => {
  const xs = [-6, -3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.3, 1, 2.5, 6];
  const got = geluTanh(tf.tensor1d(xs)).dataSync();
  xs.forEach((x, i) => {
    const want = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    assert.ok(Math.abs(got[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `x=${x}: ${got[i]} vs ${want}`);
  });
});

test('position embeddings equal DiT\'s get_2d_sincos_pos_embed', () => {
  for (const [dim, grid] of [[16, 4], [8, 3], [64, 2]]) {
    const m = new DiT({ imageSize: grid * 2, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: dim, depth: 1, heads: 1 }, 0);
    const got = m.posEmbed.dataSync(), want = maePosEmbed(dim, grid).flat();
    assert.is(got.length, want.length);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `dim ${dim} grid ${grid} [${i}]: ${got[i]} vs ${want[i]}`);
    m.dispose();
  }
  assert.throws(() => new DiT({ imageSize: 8, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: 10, depth: 1, heads: 1 }, 0), /multiple of 4/);
});

/** Plain float64 reference of DiT's FinalLayer on (patch embedding + pos) tokens: what a fresh adaLN-Zero trunk must pass through unchanged. */
function finalLayerOnly(m: DiT, x: Float32Array, t: number[]): Float64Array {
  const c = m.config, h = c.hiddenSize, p = c.patchSize, n = t.length, g = m.grid, tok = m.tokenDim;
  const get = (name: string) => m.params.get(name).dataSync();
  const we = get('x_embedder.proj.weight'), be = get('x_embedder.proj.bias'), pos = m.posEmbed.dataSync();
  const w0 = get('t_embedder.mlp.0.weight'), b0 = get('t_embedder.mlp.0.bias'), w2 = get('t_embedder.mlp.2.weight'), b2 = get('t_embedder.mlp.2.bias');
  const wm = get('final_layer.adaLN_modulation.1.weight'), bm = get('final_layer.adaLN_modulation.1.bias');
  const wl = get('final_layer.linear.weight'), bl = get('final_layer.linear.bias');
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const out = new Float64Array(x.length);
  const side = c.imageSize, ch = c.inChannels, co = c.outChannels;
  for (let b = 0; b < n; b++) {
    const freq = Array.from({ length: 256 }, (_, k) => (k < 128 ? Math.cos(t[b] * Math.exp(-Math.log(10000) * k / 128)) : Math.sin(t[b] * Math.exp(-Math.log(10000) * (k - 128) / 128))));
    const e1 = Array.from({ length: h }, (_, o) => silu(freq.reduce((s, f, k) => s + f * w0[k * h + o], b0[o])));
    const cond = Array.from({ length: h }, (_, o) => silu(e1.reduce((s, f, k) => s + f * w2[k * h + o], b2[o])));
    const mod = Array.from({ length: 2 * h }, (_, o) => cond.reduce((s, f, k) => s + f * wm[k * 2 * h + o], bm[o]));
    for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) {
      const patch: number[] = [];
      for (let a = 0; a < p; a++) for (let q = 0; q < p; q++) for (let cc = 0; cc < ch; cc++) patch.push(x[((b * side + i * p + a) * side + j * p + q) * ch + cc]);
      const e = Array.from({ length: h }, (_, o) => patch.reduce((s, v, k) => s + v * we[k * h + o], be[o]) + pos[(i * g + j) * h + o]);
      const mean = e.reduce((s, v) => s + v, 0) / h, vr = e.reduce((s, v) => s + (v - mean) ** 2, 0) / h;
      const z = e.map((v, o) => ((v - mean) / Math.sqrt(vr + 1e-6)) * (1 + mod[h + o]) + mod[o]);
      for (let a = 0; a < p; a++) for (let q = 0; q < p; q++) for (let cc = 0; cc < co; cc++) {
        const k = (a * p + q) * co + cc;
        out[((b * side + i * p + a) * side + j * p + q) * co + cc] = z.reduce((s, v, o) => s + v * wl[o * tok + k], bl[k]);
      }
    }
  }
  void tok;
  return out;
}

test('adaLN-Zero: a fresh model\'s blocks are identities, so the output is the final layer\'s alone', () => {
  const c: DiTConfig = { imageSize: 8, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: 16, depth: 3, heads: 2 };
  const m = new DiT(c, 4);
  const r = new Rng(5);
  const x = r.normals(2 * 8 * 8), t = [3, 700];
  const xt = tf.tensor4d(x, [2, 8, 8, 1]), tt = tf.tensor1d(t);
  // A fresh model outputs 0 (the final linear layer is zero).
  const y0 = m.forward(xt, tt);
  assert.ok(y0.abs().max().dataSync()[0] === 0);
  // Give every parameter but the blocks' adaLN modulation random values: the blocks stay identities.
  for (const [name, v] of m.params.vars) if (!/^blocks\.\d+\.adaLN_modulation/.test(name)) v.assign(tf.tensor(r.normals(v.size), v.shape).mul(0.3));
  const y = m.forward(xt, tt).dataSync();
  const want = finalLayerOnly(m, x, t);
  assert.ok(relErr(y, want) < 1e-4, `rel err ${relErr(y, want)}`);
  // …and once the modulation is non-zero, they are not.
  m.params.get('blocks.1.adaLN_modulation.1.bias').assign(tf.ones([6 * 16]));
  const y2 = m.forward(xt, tt).dataSync();
  assert.ok(relErr(y2, want) > 1e-2);
  tf.dispose([xt, tt, y0]);
  m.dispose();
});

test('gradients of a tiny DiT with every option: wasm = cpu', async () => {
  const c: DiTConfig = { imageSize: 6, inChannels: 2, outChannels: 2, patchSize: 3, hiddenSize: 8, depth: 3, heads: 2, bottleneck: 3, longSkips: true, numClasses: 3, labelTokens: 2 };
  const plain: DiTConfig = { imageSize: 4, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: 8, depth: 2, heads: 2, numClasses: 2 };
  for (const cfg of [c, plain]) {
    const run = () => {
      const m = new DiT(cfg, 3);
      const r = new Rng(7);
      for (const v of m.params.vars.values()) v.assign(v.add(tf.tensor(r.normals(v.size), v.shape).mul(0.2)));
      const x = tf.tensor4d(r.normals(2 * cfg.imageSize ** 2 * cfg.inChannels), [2, cfg.imageSize, cfg.imageSize, cfg.inChannels]);
      const names = [...m.params.vars.keys()];
      const { value, grads } = tf.variableGrads(() => m.forward(x, tf.tensor1d([0.3, 800]), { cond: tf.tensor1d([1, cfg.numClasses!], 'int32') }).square().mean() as tf.Scalar, [...m.params.vars.values()]);
      const out = [value, ...names.map((nm) => grads[m.params.get(nm).name])];
      m.dispose();
      return out;
    };
    const w = await onBackend('wasm', run), k = await onBackend('cpu', run);
    await selectBackend('wasm');
    for (let i = 0; i < w.length; i++) {
      const e = relErr(w[i], k[i]);
      assert.ok(e <= 1e-4, `output ${i} rel err ${e}`);
      assert.ok(k[i].some((v) => v !== 0), `gradient ${i} is identically zero: the test would not see a wrong gradient`);
    }
  }
});

test('class labels: the null label is the default; labels change the output; bad input is refused', () => {
  const c: DiTConfig = { imageSize: 4, inChannels: 1, outChannels: 1, patchSize: 2, hiddenSize: 8, depth: 1, heads: 1, numClasses: 3 };
  for (const cfg of [c, { ...c, labelTokens: 2 }]) {
    const m = new DiT(cfg, 2);
    const r = new Rng(1);
    for (const v of m.params.vars.values()) v.assign(tf.tensor(r.normals(v.size), v.shape).mul(0.3));
    const x = tf.tensor4d(r.normals(2 * 16), [2, 4, 4, 1]), t = tf.tensor1d([5, 5]);
    const none = m.forward(x, t).dataSync(), nul = m.forward(x, t, { cond: tf.tensor1d([3, 3], 'int32') }).dataSync();
    const lab = m.forward(x, t, { cond: tf.tensor1d([0, 2], 'int32') }).dataSync();
    assert.equal(Array.from(none), Array.from(nul));
    assert.ok(relErr(lab, nul) > 1e-3);
    assert.throws(() => m.forward(x, t, { cond: tf.tensor1d([0], 'int32') }), /1 class labels for a batch of 2/);
    m.dispose();
  }
  const u = new DiT({ ...c, numClasses: undefined }, 0);
  assert.throws(() => u.forward(tf.zeros([1, 4, 4, 1]), tf.tensor1d([1]), { cond: tf.tensor1d([0], 'int32') }), /unconditional/);
  u.dispose();
  assert.throws(() => new DiT({ ...c, patchSize: 3 }, 0), /model\.patchSize: 3 does not divide/);
  assert.throws(() => new DiT({ ...c, heads: 3 }, 0), /model\.heads/);
});

test('model.arch: a config without it is the UNet and resolves without it; a DiT block is checked field by field', async () => {
  const { parseTrainConfig } = await import('../../src/train/config.js');
  const { savedConfig } = await import('../../src/backends/saved-config.js');
  const base = { name: 'a', backend: 'pixel', data: { name: 'mnist' }, diffusion: { model: { channels: 8 }, train: { steps: 1 } } };
  const unet = parseTrainConfig(base, 'u.yaml').diffusion.model;
  assert.not.ok('arch' in unet, 'the resolved UNet block gained an arch key (run ids would move)');
  assert.is((unet as { channels: number }).channels, 8);
  assert.is((parseTrainConfig({ ...base, diffusion: { ...base.diffusion, model: { arch: 'unet', channels: 8 } } }, 'u.yaml').diffusion.model as { channels: number }).channels, 8);
  const dit = { ...base, diffusion: { model: { arch: 'dit', patchSize: 4 }, objective: 'flow-x0', train: { steps: 1 } } };
  const m = parseTrainConfig(dit, 'd.yaml').diffusion.model;
  assert.equal(m, { arch: 'dit', patchSize: 4, hiddenSize: 96, depth: 6, heads: 4, mlpRatio: 4, longSkips: false });
  assert.throws(() => parseTrainConfig({ ...dit, diffusion: { ...dit.diffusion, model: { arch: 'dit', patchSize: 4, channels: 8 } } }, 'd.yaml'), /d\.yaml.*diffusion\.model.*channels/);
  assert.throws(() => parseTrainConfig({ ...dit, diffusion: { ...dit.diffusion, model: { arch: 'dit' } } }, 'd.yaml'), /d\.yaml.*patchSize/);
  assert.throws(() => parseTrainConfig({ ...dit, diffusion: { ...dit.diffusion, model: { arch: 'vit', patchSize: 4 } } }, 'd.yaml'), /d\.yaml.*arch/);
  // A DiT run's stored config loads back as it was (no UNet-era defaults are added to it).
  assert.equal(savedConfig(JSON.parse(JSON.stringify(parseTrainConfig(dit, 'd.yaml'))), 'ckpt.json').diffusion.model, m);
});

test.run();
