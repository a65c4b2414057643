import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { difflab } from '../helpers/cli.js';
import '../helpers/cache.js';
import { loadDataset } from '../../src/data/index.js';
import { writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-metrics-cli-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('difflab fid on feature matrices (.npy and .csv): FID ≈ the closed form, KID and PR present', () => {
  const rng = new Rng(1), n = 3000, d = 3;
  const a = Float64Array.from({ length: n * d }, () => rng.normal());
  const b = Float64Array.from({ length: n * d }, (_, i) => rng.normal() + (i % d === 0 ? 1 : 0));
  writeNpy(path.join(dir, 'a.npy'), a, [n, d]);
  fs.writeFileSync(path.join(dir, 'b.csv'), 'f0,f1,f2\n' + Array.from({ length: n }, (_, i) => Array.from(b.subarray(i * d, i * d + d)).join(',')).join('\n'));
  const r = difflab('fid', '--real', path.join(dir, 'a.npy'), '--fake', path.join(dir, 'b.csv'), '--kid', '--pr', '--kid-subsets', '10', '--json');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  // Both N(·, I): FID = ‖Δμ‖² = 1 up to sampling error.
  assert.ok(Math.abs(j.fid - 1) < 0.1, `fid ${j.fid}`);
  assert.equal([j.n_real, j.n_fake, j.dim], [n, n, d]);
  assert.ok(j.kid > 0 && j.kid_std >= 0 && j.kid_subsets === 10 && j.kid_subset_size === 1000);
  for (const k of ['precision', 'recall', 'density', 'coverage']) assert.ok(j[k] >= 0 && j[k] <= 2, `${k} ${j[k]}`);
});

test('difflab fid on images: a dataset name against an .npy of images, with the LeNet named in the metric', () => {
  const train = loadDataset({ name: 'mnist', split: 'train' });
  const k = 300, size = 28 * 28;
  const imgs = new Uint8Array(k * size);
  for (let i = 0; i < k; i++) imgs.set(train.pixels.subarray(i * 30 * size, (i * 30 + 1) * size), i * size);
  writeNpy(path.join(dir, 'train.npy'), imgs, [k, 28, 28, 1]);
  const r = difflab('fid', '--real', 'mnist:test', '--fake', path.join(dir, 'train.npy'), '--kid', '--json');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.ok(typeof j['fid@lenet-mnist'] === 'number' && j['fid@lenet-mnist'] >= 0, r.out);
  assert.ok(j.feature_net_test_accuracy >= 0.985);
  assert.is(j.n_fake, k);
  // Noise images are far from digits.
  const noise = Uint8Array.from({ length: k * size }, () => Math.floor(Math.random() * 256));
  writeNpy(path.join(dir, 'noise.npy'), noise, [k, 28, 28, 1]);
  const rn = JSON.parse(difflab('fid', '--real', 'mnist:test', '--fake', path.join(dir, 'noise.npy'), '--json').out);
  assert.ok(rn['fid@lenet-mnist'] > 5 * j['fid@lenet-mnist'], `noise ${rn['fid@lenet-mnist']} vs digits ${j['fid@lenet-mnist']}`);
});

test('difflab fid: bad inputs are errors naming the flag and what was expected', () => {
  writeNpy(path.join(dir, 'v.npy'), new Float32Array(5), [5]);
  const r = difflab('fid', '--real', path.join(dir, 'v.npy'), '--fake', path.join(dir, 'v.npy'));
  assert.is(r.code, 1);
  assert.match(r.err, /--real .*v\.npy: expected a 2-D feature matrix \[n, d\] or 4-D images \[n, H, W, C\], got shape \[5\]/);
  const r2 = difflab('fid', '--real', 'cifar100', '--fake', path.join(dir, 'v.npy'));
  assert.match(r2.err, /--real cifar100: not a file, folder or dataset/);
});

test('difflab eval on a small trained run prints every metric group with n, for pixel and latent', () => {
  for (const backend of ['pixel', 'latent'] as const) {
    const cfg = {
      name: `tiny-${backend}`, seed: 1, backend,
      data: { name: 'mnist', limit: 32, resize: [16, 16] },
      ...(backend === 'latent' ? { vae: { model: { channels: 8, channelMult: [1, 2], latentChannels: 2 }, loss: { reconstruction: 'l1', klWeight: 1e-6 }, train: { steps: 2, batchSize: 8, lr: 1e-3 } } } : {}),
      diffusion: {
        model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
        schedule: { name: 'linear', T: 100 },
        objective: { parameterization: 'eps', weighting: 'simple' },
        train: { steps: 2, batchSize: 8, lr: 1e-3 },
      },
      out: path.join(dir, `run-${backend}`),
    };
    fs.writeFileSync(path.join(dir, `${backend}.json`), JSON.stringify(cfg));
    assert.is(difflab('train', '--config', path.join(dir, `${backend}.json`), '--backend', 'wasm').code, 0);
    const r = difflab('eval', '--checkpoint', path.join(dir, `run-${backend}`), '--metrics', 'fid,kid,pr,is,nll,cost', '--sampler', 'ddim', '--steps', '3', '--n', '40', '--real-n', '100', '--nll-n', '4', '--nll-terms', '5', '--bootstrap', '20', '--json');
    assert.is(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const names = j.metrics.map((m: { metric: string }) => m.metric);
    for (const m of ['fid@lenet-mnist', 'kid@lenet-mnist', 'precision@lenet-mnist', 'recall@lenet-mnist', 'density@lenet-mnist', 'coverage@lenet-mnist', 'cs@lenet-mnist', 'bits_per_dim', 'nfe', 'seconds_per_sample', 'gflop_per_sample']) {
      assert.ok(names.includes(m), `${backend}: ${m} missing from ${names}`);
    }
    const get = (name: string) => j.metrics.find((m: { metric: string }) => m.metric === name);
    assert.is(get('nfe').value, 3);
    assert.is(get('fid@lenet-mnist').n, 40);
    assert.ok(get('fid@lenet-mnist').notes.some((s: string) => /only \d+ samples for 128-dimensional/.test(s)), 'FID warns at n < d');
    assert.ok(get('bits_per_dim').value > 0 && get('bits_per_dim').unit === 'bits/dim');
    if (backend === 'latent') assert.ok(get('bits_per_dim').notes.some((s: string) => s.includes('scale factor s =')));
    assert.ok(get('gflop_per_sample').value > 0);
  }
});

test('difflab eval: an unknown metric is an error listing the accepted ones', () => {
  const r = difflab('eval', '--checkpoint', dir, '--metrics', 'fid,inception');
  assert.is(r.code, 1);
  assert.match(r.err, /--metrics: unknown metric 'inception'; expected a comma-separated list of fid, kid, pr, is, class, nll, nll-ode, cost/);
});

test.run();
