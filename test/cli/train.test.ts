import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { difflab } from '../helpers/cli.js';
import { readNpy, writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-train-cli-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

// The pixel run keeps the objective block of older configs (still read, with a note); the latent run
// is an EDM model written in the current keys, with shifted training levels.
const DIFFUSION = {
  pixel: { schedule: { name: 'linear', T: 100 }, objective: { parameterization: 'eps', weighting: 'simple' } },
  latent: { objective: { name: 'edm', sigmaData: 1 }, noise: { distribution: 'log-normal', pMean: -1.2, pStd: 1.2, shift: 2 }, weighting: { name: 'min-snr', gamma: 5 } },
};

const tiny = (backend: 'pixel' | 'latent') => ({
  name: `tiny-${backend}`, seed: 1, backend,
  data: { name: 'mnist', limit: 32, resize: [16, 16] },
  ...(backend === 'latent' ? { vae: { model: { channels: 8, channelMult: [1, 2], latentChannels: 2 }, loss: { reconstruction: 'l1', klWeight: 1e-6 }, train: { steps: 3, batchSize: 8, lr: 1e-3, checkpointEvery: 2 } } } : {}),
  diffusion: {
    model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
    ...DIFFUSION[backend],
    train: { steps: 3, batchSize: 8, lr: 1e-3, checkpointEvery: 2 },
  },
  out: path.join(dir, `run-${backend}`),
});

for (const backend of ['pixel', 'latent'] as const) {
  test(`difflab train (${backend}) writes checkpoints, a loss log and a sample grid; sample --checkpoint reads them back`, () => {
    const cfgFile = path.join(dir, `${backend}.json`);
    fs.writeFileSync(cfgFile, JSON.stringify(tiny(backend)));
    // The old spelling --backend wasm still selects the compute device, with a one-line note.
    const r = backend === 'pixel' ? difflab('train', '--config', cfgFile, '--backend', 'wasm') : difflab('train', '--config', cfgFile, '--compute', 'wasm');
    assert.is(r.code, 0, r.err);
    if (backend === 'pixel') {
      assert.match(r.err, /--backend wasm is deprecated: use --compute wasm/);
      assert.match(r.err, /diffusion\.objective \{parameterization, weighting, gamma, offsetNoise\} is deprecated/);
    } else {
      assert.not.match(r.err, /deprecated/);
      assert.match(r.out, /edm objective/);
    }
    const run = path.join(dir, `run-${backend}`);
    assert.ok(fs.existsSync(path.join(run, 'diffusion', 'step-000003.safetensors')));
    assert.ok(fs.existsSync(path.join(run, 'diffusion', 'step-000002.json')));
    assert.is(fs.readFileSync(path.join(run, 'diffusion', 'loss.jsonl'), 'utf8').trim().split('\n').length, 3);
    if (backend === 'latent') assert.ok(fs.existsSync(path.join(run, 'vae', 'step-000003.safetensors')));
    // The checkpoint records the image shape, so sampling need not reload the dataset.
    const side = JSON.parse(fs.readFileSync(path.join(run, 'diffusion', 'step-000003.json'), 'utf8'));
    assert.equal(side.config.dataShape, [16, 16, 1]);
    // Raw and EMA grids side by side, each under its label: a picture about twice as wide as high.
    const png = PNG.sync.read(fs.readFileSync(path.join(run, 'samples.png')));
    assert.ok(png.width > 1.5 * png.height && png.width < 2.5 * png.height, `${png.width}×${png.height}`);
    assert.match(r.out, /left: raw weights, right: EMA weights/);
    for (const ext of ['svg', 'png', 'vl.json']) assert.ok(fs.existsSync(path.join(run, `loss.${ext}`)), `loss.${ext}`);
    const npy = path.join(dir, `${backend}.npy`);
    const s = difflab('sample', '--checkpoint', run, '--sampler', 'dpm-solver++-2m', '--steps', '3', '--n', '4', '--out', npy);
    assert.is(s.code, 0, s.err);
    const arr = readNpy(npy);
    assert.equal(arr.shape, [4, 16, 16, 1]);
    assert.ok(Array.from(arr.data).every((v) => v >= -1 && v <= 1));
    assert.is(difflab('sample', '--checkpoint', run, '--sampler', 'ddim', '--steps', '2', '--n', '4', '--scale', '3', '--out', path.join(dir, `${backend}.png`)).code, 0);
    const up = PNG.sync.read(fs.readFileSync(path.join(dir, `${backend}.png`)));
    assert.equal([up.width, up.height], [2 * (16 * 3 + 6) + 6, 2 * (16 * 3 + 6) + 6]); // 2×2 tiles of 48 px, 6 px gaps
  });
}

test('sample --checkpoint honours the grid, spacing, shift, sampler options and --init-noise', () => {
  const run = path.join(dir, 'run-pixel'), out = path.join(dir, 'flags.npy');
  const sample = (...args: string[]) => {
    const r = difflab('sample', '--checkpoint', run, '--n', '3', '--out', out, ...args);
    assert.is(r.code, 0, r.err);
    return { line: r.out, data: Array.from(readNpy(out).data) };
  };
  assert.match(sample('--sampler', 'ddim', '--steps', '4').line, /4 steps on a discrete grid \(trailing spacing\)/);
  assert.match(sample('--sampler', 'ddim', '--steps', '4', '--spacing', 'leading').line, /discrete grid \(leading spacing\)/);
  assert.match(sample('--sampler', 'ddim', '--steps', '4', '--grid', 'karras', '--sigma-max', '5').line, /karras grid, σ 5 → /);
  assert.match(sample('--sampler', 'euler', '--steps', '4', '--shift', '2').line, /shift ×2/);
  assert.match(sample('--sampler', 'heun', '--steps', '3', '--churn', '10').line, /heun\(churn=10\)/);
  assert.match(sample('--sampler', 'ddpm', '--steps', '3', '--variance', 'beta').line, /ddpm\(variance=beta\)/);
  assert.match(sample('--sampler', 'probability-flow', '--rtol', '1e-3', '--atol', '1e-3').line, /probability-flow\(rtol=0\.001,atol=0\.001\)/);
  // --init-noise fixes the start: a deterministic sampler then ignores --seed.
  const z = path.join(dir, 'z.npy');
  writeNpy(z, new Rng(3).normals(3 * 256), [3, 16, 16, 1]);
  const a = sample('--sampler', 'ddim', '--steps', '3', '--init-noise', z, '--seed', '1').data;
  const b = sample('--sampler', 'ddim', '--steps', '3', '--init-noise', z, '--seed', '2').data;
  const c = sample('--sampler', 'ddim', '--steps', '3', '--seed', '2').data;
  assert.equal(a, b);
  assert.not.equal(b, c);
  const bad = difflab('sample', '--checkpoint', run, '--sampler', 'heun', '--eta', '1', '--out', out);
  assert.is(bad.code, 1);
  assert.match(bad.err, /--eta: heun takes no such option; its options: churn, sTmin, sTmax, sNoise/);
});

test('a bad training config is an error naming the file, the field and what is accepted', () => {
  const cfgFile = path.join(dir, 'bad.json');
  const cfg = tiny('pixel') as Record<string, unknown>;
  (cfg.diffusion as { schedule: { name: string } }).schedule.name = 'quadratic';
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  const r = difflab('train', '--config', cfgFile);
  assert.is(r.code, 1);
  assert.match(r.err, /bad\.json: diffusion\.schedule\.name: expected one of linear, scaled-linear, cosine, sigmoid/);
});

test.run();
