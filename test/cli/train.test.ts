import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { difflab } from '../helpers/cli.js';
import { readNpy } from '../../src/util/npy.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-train-cli-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tiny = (backend: 'pixel' | 'latent') => ({
  name: `tiny-${backend}`, seed: 1, backend,
  data: { name: 'mnist', limit: 32, resize: [16, 16] },
  ...(backend === 'latent' ? { vae: { model: { channels: 8, channelMult: [1, 2], latentChannels: 2 }, loss: { reconstruction: 'l1', klWeight: 1e-6 }, train: { steps: 3, batchSize: 8, lr: 1e-3, checkpointEvery: 2 } } } : {}),
  diffusion: {
    model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
    schedule: { name: 'linear', T: 100 },
    objective: { parameterization: 'eps', weighting: 'simple' },
    train: { steps: 3, batchSize: 8, lr: 1e-3, checkpointEvery: 2 },
  },
  out: path.join(dir, `run-${backend}`),
});

for (const backend of ['pixel', 'latent'] as const) {
  test(`difflab train (${backend}) writes checkpoints, a loss log and a sample grid; sample --checkpoint reads them back`, () => {
    const cfgFile = path.join(dir, `${backend}.json`);
    fs.writeFileSync(cfgFile, JSON.stringify(tiny(backend)));
    const r = difflab('train', '--config', cfgFile, '--backend', 'wasm');
    assert.is(r.code, 0, r.err);
    const run = path.join(dir, `run-${backend}`);
    assert.ok(fs.existsSync(path.join(run, 'diffusion', 'step-000003.safetensors')));
    assert.ok(fs.existsSync(path.join(run, 'diffusion', 'step-000002.json')));
    assert.is(fs.readFileSync(path.join(run, 'diffusion', 'loss.jsonl'), 'utf8').trim().split('\n').length, 3);
    if (backend === 'latent') assert.ok(fs.existsSync(path.join(run, 'vae', 'step-000003.safetensors')));
    // The checkpoint records the image shape, so sampling need not reload the dataset.
    const side = JSON.parse(fs.readFileSync(path.join(run, 'diffusion', 'step-000003.json'), 'utf8'));
    assert.equal(side.config.dataShape, [16, 16, 1]);
    const png = PNG.sync.read(fs.readFileSync(path.join(run, 'samples.png')));
    assert.equal([png.width, png.height], [8 * 18 + 2, 8 * 18 + 2]); // 8×8 tiles of 16 px with 2 px gaps
    const npy = path.join(dir, `${backend}.npy`);
    const s = difflab('sample', '--checkpoint', run, '--sampler', 'dpm-solver++-2m', '--steps', '3', '--n', '4', '--out', npy);
    assert.is(s.code, 0, s.err);
    const arr = readNpy(npy);
    assert.equal(arr.shape, [4, 16, 16, 1]);
    assert.ok(Array.from(arr.data).every((v) => v >= -1 && v <= 1));
    assert.is(difflab('sample', '--checkpoint', run, '--sampler', 'ddim', '--steps', '2', '--n', '4', '--out', path.join(dir, `${backend}.png`)).code, 0);
  });
}

test('a bad training config is an error naming the file, the field and what is accepted', () => {
  const cfgFile = path.join(dir, 'bad.json');
  const cfg = tiny('pixel') as Record<string, unknown>;
  (cfg.diffusion as { schedule: { name: string } }).schedule.name = 'quadratic';
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  const r = difflab('train', '--config', cfgFile);
  assert.is(r.code, 1);
  assert.match(r.err, /bad\.json: diffusion\.schedule\.name: Invalid option: expected one of "linear"\|"scaled-linear"\|"cosine"\|"sigmoid"/);
});

test.run();
