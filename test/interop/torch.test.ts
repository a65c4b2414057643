// Weights in PyTorch layout: the export reads back to the same parameters, and where /usr/bin/python3
// has torch, bench/torch/difflab_torch.py's UNet and autoencoder compute what difflab computes on the
// same weights (to 1e-4 relative). Skips the PyTorch half with a note where torch is missing.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { readTorchExport, writeTorchExport } from '../../src/interop/torch.js';
import { DiT, type DiTConfig } from '../../src/models/dit.js';
import { UNet, type UNetConfig } from '../../src/models/unet.js';
import { Vae, type VaeConfig } from '../../src/models/vae.js';
import { readNpy, writeNpy } from '../../src/util/npy.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-torch-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.before(async () => { await selectBackend('wasm'); });

// Odd level sizes (12 → 6 → 3) exercise the stride-2 'same' padding and the up-path crop.
const UCFG: UNetConfig = { imageSize: 12, inChannels: 2, outChannels: 2, channels: 8, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [6], dropout: 0, heads: 2, numClasses: 3, scaleShiftNorm: true };
const VCFG: VaeConfig = { imageSize: 12, inChannels: 1, channels: 8, channelMult: [1, 2], numResBlocks: 1, latentChannels: 2, midAttention: true };

function perturbed<T extends { params: { vars: Map<string, tf.Variable> } }>(m: T): T {
  let seed = 100;
  for (const v of m.params.vars.values()) v.assign(tf.tidy(() => v.add(tf.randomNormal(v.shape, 0, 0.2, 'float32', seed++))));
  return m;
}

const torchPython = (() => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  return r.status === 0;
})();

test('an export reads back to the same parameters, with PyTorch layouts and names', () => {
  const unet = perturbed(new UNet(UCFG, 1)), vae = perturbed(new Vae(VCFG, 2));
  const file = path.join(dir, 'rt.safetensors');
  const n = writeTorchExport(file, { unet: { config: UCFG, params: unet.params.vars }, vae: { config: VCFG, params: vae.params.vars }, config: { name: 'rt' }, weights: 'ema', step: 7 });
  assert.is(n, unet.params.vars.size + vae.params.vars.size);
  const back = readTorchExport(file);
  for (const [m, got] of [[unet, back.unet], [vae, back.vae!]] as const) {
    for (const [name, v] of m.params.vars) {
      const t = got.get(name);
      assert.ok(t, `missing ${name}`);
      assert.equal(t!.shape, v.shape, name);
      assert.equal(Array.from(t!.data), Array.from(v.dataSync()), name);
    }
  }
  assert.equal(JSON.parse(back.metadata.shapes).unet.channel_mult, [1, 2, 2]);
  assert.match(back.metadata.layout, /OIHW/);
  unet.dispose();
  vae.dispose();
});

test('the PyTorch UNet and autoencoder compute difflab’s outputs on exported weights', () => {
  if (!torchPython) {
    console.log('  note: skipped the PyTorch comparison: /usr/bin/python3 has no torch (Debian: apt-get install python3-torch)');
    return;
  }
  const unet = perturbed(new UNet(UCFG, 3)), vae = perturbed(new Vae(VCFG, 4));
  const file = path.join(dir, 'w.safetensors');
  writeTorchExport(file, { unet: { config: UCFG, params: unet.params.vars }, vae: { config: VCFG, params: vae.params.vars }, config: { name: 'cmp' }, weights: 'ema', step: 1 });
  const x = tf.randomNormal([3, 12, 12, 2], 0, 1, 'float32', 9) as tf.Tensor4D, t = tf.tensor1d([3.5, 250, 999]), labels = tf.tensor1d([0, 2, 3], 'int32');
  const img = tf.randomUniform([2, 12, 12, 1], -1, 1, 'float32', 10) as tf.Tensor4D;
  const F = unet.forward(x, t, { cond: labels });
  const { mean, logvar } = vae.encode(img);
  const dec = vae.decode(mean);
  const save = (name: string, a: tf.Tensor) => writeNpy(path.join(dir, `${name}.npy`), Float32Array.from(a.dataSync()), a.shape);
  save('x', x); save('t', t); save('img', img); save('z', mean);
  writeNpy(path.join(dir, 'labels.npy'), Float32Array.from(labels.dataSync()), [3]);
  const script = `
import sys, numpy as np, torch
sys.path.insert(0, ${JSON.stringify(path.resolve('bench/torch'))})
from difflab_torch import load_export
d = ${JSON.stringify(dir)}
models, cfg = load_export(d + '/w.safetensors')
nchw = lambda a: torch.from_numpy(np.load(a)).permute(0, 3, 1, 2).contiguous()
nhwc = lambda t: t.detach().permute(0, 2, 3, 1).contiguous().numpy()
with torch.no_grad():
    F = models['unet'](nchw(d + '/x.npy'), torch.from_numpy(np.load(d + '/t.npy')), torch.from_numpy(np.load(d + '/labels.npy')).long())
    mean, logvar = models['vae'].encode(nchw(d + '/img.npy'))
    dec = models['vae'].decode(nchw(d + '/z.npy'))
for name, a in [('F', F), ('mean', mean), ('logvar', logvar), ('dec', dec)]:
    np.save(d + '/torch-' + name + '.npy', nhwc(a).astype(np.float32))
print(cfg['name'])
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout.trim(), 'cmp');
  for (const [name, ours] of [['F', F], ['mean', mean], ['logvar', logvar], ['dec', dec]] as const) {
    const theirs = readNpy(path.join(dir, `torch-${name}.npy`));
    assert.equal(theirs.shape, ours.shape, name);
    const a = ours.dataSync();
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < a.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(a[i] - theirs.data[i])); maxAbs = Math.max(maxAbs, Math.abs(a[i])); }
    if (process.env.DIFFLAB_TEST_VERBOSE) console.log(`  ${name}: max diff ${maxDiff.toExponential(2)}, max abs ${maxAbs.toExponential(2)}`);
    assert.ok(maxDiff <= 1e-4 * maxAbs, `${name}: max |difflab − torch| ${maxDiff.toExponential(2)} vs max |difflab| ${maxAbs.toExponential(2)}`);
  }
  tf.dispose([x, t, labels, img, F, mean, logvar, dec]);
  unet.dispose();
  vae.dispose();
});

const DCFGS: DiTConfig[] = [
  // a plain DiT (loads into facebookresearch/DiT's class), class-conditional, 2 heads
  { imageSize: 8, inChannels: 2, outChannels: 2, patchSize: 2, hiddenSize: 16, depth: 2, heads: 2, numClasses: 3 },
  // unconditional, with every option beyond DiT
  { imageSize: 12, inChannels: 1, outChannels: 1, patchSize: 4, hiddenSize: 12, depth: 3, heads: 3, bottleneck: 5, longSkips: true },
  { imageSize: 8, inChannels: 1, outChannels: 1, patchSize: 4, hiddenSize: 8, depth: 4, heads: 2, numClasses: 2, labelTokens: 3, longSkips: true },
];

test('a DiT export reads back to the same parameters under DiT\'s names and shapes', () => {
  for (const c of DCFGS) {
    const m = perturbed(new DiT(c, 1));
    const file = path.join(dir, 'dit-rt.safetensors');
    writeTorchExport(file, { dit: { config: c, params: m.params.vars, posEmbed: m.posEmbed }, config: { name: 'rt' }, weights: 'ema', step: 2 });
    const back = readTorchExport(file);
    assert.is(back.dit!.size, m.params.vars.size);
    for (const [name, v] of m.params.vars) {
      const t = back.dit!.get(name);
      assert.ok(t, `missing ${name}`);
      assert.equal(t!.shape, v.shape, name);
      assert.equal(Array.from(t!.data), Array.from(v.dataSync()), name);
    }
    const shapes = JSON.parse(back.metadata.shapes);
    assert.equal(shapes.dit, { input_size: c.imageSize, patch_size: c.patchSize, in_channels: c.inChannels, hidden_size: c.hiddenSize, depth: c.depth, num_heads: c.heads, mlp_ratio: 4, class_dropout_prob: 0.1, num_classes: c.numClasses ?? 0, learn_sigma: false });
    m.dispose();
  }
});

test('the PyTorch DiT computes difflab’s outputs on exported weights', () => {
  if (!torchPython) {
    console.log('  note: skipped the PyTorch DiT comparison: /usr/bin/python3 has no torch (Debian: apt-get install python3-torch)');
    return;
  }
  DCFGS.forEach((c, k) => {
    const m = perturbed(new DiT(c, 3 + k));
    const file = path.join(dir, `dit-${k}.safetensors`);
    writeTorchExport(file, { dit: { config: c, params: m.params.vars, posEmbed: m.posEmbed }, config: { name: 'dit' }, weights: 'ema', step: 1 });
    const x = tf.randomNormal([3, c.imageSize, c.imageSize, c.inChannels], 0, 1, 'float32', 9 + k) as tf.Tensor4D, t = tf.tensor1d([0.2, 250, 999]);
    const labels = c.numClasses !== undefined ? tf.tensor1d([0, c.numClasses - 1, c.numClasses], 'int32') : undefined;
    const F = m.forward(x, t, { cond: labels });
    writeNpy(path.join(dir, 'dx.npy'), Float32Array.from(x.dataSync()), x.shape);
    writeNpy(path.join(dir, 'dt.npy'), Float32Array.from(t.dataSync()), [3]);
    const script = `
import sys, numpy as np, torch
sys.path.insert(0, ${JSON.stringify(path.resolve('bench/torch'))})
from difflab_torch import load_export
d = ${JSON.stringify(dir)}
models, cfg = load_export(d + '/dit-${k}.safetensors')
x = torch.from_numpy(np.load(d + '/dx.npy')).permute(0, 3, 1, 2).contiguous()
labels = ${labels ? `torch.tensor(${JSON.stringify(Array.from(labels.dataSync()))})` : 'None'}
with torch.no_grad():
    F = models['dit'](x, torch.from_numpy(np.load(d + '/dt.npy')), labels)
np.save(d + '/torch-dF.npy', F.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const theirs = readNpy(path.join(dir, 'torch-dF.npy'));
    assert.equal(theirs.shape, F.shape);
    const a = F.dataSync();
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < a.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(a[i] - theirs.data[i])); maxAbs = Math.max(maxAbs, Math.abs(a[i])); }
    assert.ok(maxAbs > 0.1, 'the output is near zero: the comparison would see nothing');
    assert.ok(maxDiff <= 1e-4 * maxAbs, `config ${k}: max |difflab − torch| ${maxDiff.toExponential(2)} vs max |difflab| ${maxAbs.toExponential(2)}`);
    tf.dispose([x, t, F, ...(labels ? [labels] : [])]);
    m.dispose();
  });
});

test.run();
