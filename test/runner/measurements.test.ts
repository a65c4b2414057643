// The measurement registry: every kind of grid point has one entry, the chart names an experiment may
// list are exactly those registered, and the grid's order is the one written out here by hand.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHART_NAMES, GRID_METRICS, loadExperiment } from '../../src/runner/config.js';
import { chartFamilies, RUN_CHARTS } from '../../src/runner/finalize.js';
import { gridPoints } from '../../src/runner/grid.js';
import { MEASUREMENTS, measurementOf } from '../../src/runner/measurements/index.js';
import { resolveModelDir, runExperiment } from '../../src/runner/run.js';
import { readRows } from '../../src/runner/results.js';
import { selectBackend } from '../../src/compute/backend.js';
import '../helpers/cache.js';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-measurements-'));
const write = (name: string, text: string) => { const f = path.join(tmp, name); fs.writeFileSync(f, text); return f; };

const CONFIGS = path.resolve('configs/train');
const MODELS = `models:\n  pixel: { $ref: ${CONFIGS}/quick-pixel.yaml }\n  latent: { $ref: ${CONFIGS}/quick-latent.yaml }\n`;

test('each point kind has exactly one measurement, and an unknown kind is named in the error', () => {
  const kinds = MEASUREMENTS.map((m) => m.kind);
  assert.equal(new Set(kinds).size, kinds.length);
  for (const k of kinds) assert.is(measurementOf(k).kind, k);
  assert.throws(() => measurementOf('no-such-kind'), /grid point kind 'no-such-kind'.*expected one of sample, nll/);
});

test('the chart names an experiment may list are exactly the registered chart families', () => {
  const registered = new Set([...MEASUREMENTS.flatMap((m) => m.charts.map((c) => c.name)), ...RUN_CHARTS.map((c) => c.name)]);
  assert.equal([...registered].sort(), [...CHART_NAMES].sort());
});

test('every grid metric the schema accepts is computed by a measurement, and every measurement metric is accepted', () => {
  const served = new Set(MEASUREMENTS.flatMap((m) => m.metrics));
  assert.equal([...GRID_METRICS].filter((m) => !served.has(m)), []);
  assert.equal([...served].filter((m) => !(GRID_METRICS as readonly string[]).includes(m)), []);
});

test('grid order: per backend its once-per-model points, then per checkpoint × seed bits/dim before every sampler × steps point', () => {
  const file = write('order.yaml', `name: order\n${MODELS}grid:\n  backends: [latent, pixel]\n  samplers: [ddim, euler]\n  steps: [3, 5]\n  seeds: [0, 1]\n  checkpoints: [1, 2]\n  metrics: [fid, nll, recon, ood]\neval: { n: 8, ood: { name: fashion-mnist } }\n`);
  const keys = gridPoints(loadExperiment(file)).map((p) => p.key);
  const expected: string[] = [];
  for (const b of ['latent', 'pixel']) {
    if (b === 'latent') expected.push('latent|recon|-|0', 'latent|recon|-|1');
    expected.push(`${b}|ood|-|0`, `${b}|ood|-|1`);
    for (const c of [1, 2]) for (const seed of [0, 1]) {
      expected.push(`${b}@${c}|-|-|${seed}`);
      for (const s of ['ddim', 'euler']) for (const steps of [3, 5]) expected.push(`${b}@${c}|${s}|${steps}|${seed}`);
    }
  }
  assert.equal(keys, expected);
  assert.equal(gridPoints(loadExperiment(file)).map((p) => p.index), expected.map((_, i) => i));
});

test('a grid without sampling metrics has no sampling points; an analytic grid has only analytic ones', () => {
  const nll = write('nll.yaml', `name: nll-only\n${MODELS}grid:\n  backends: [pixel]\n  samplers: [ddim]\n  steps: [3]\n  metrics: [nll]\n`);
  assert.equal(gridPoints(loadExperiment(nll)).map((p) => `${p.kind}:${p.key}`), ['nll:pixel|-|-|0']);
  const gmm = write('g.json', JSON.stringify({ weights: [1], means: [[0, 0]], stds: 1 }));
  const an = write('an.yaml', `name: an\nanalytic: { gmm: ${gmm} }\ngrid:\n  backends: [analytic]\n  samplers: [euler]\n  steps: [2, 4]\n  metrics: [sw2]\n`);
  assert.equal(gridPoints(loadExperiment(an)).map((p) => `${p.kind}:${p.key}`), ['analytic:analytic|euler|2|0', 'analytic:analytic|euler|4|0']);
});

test('charts: the grid\'s measurements decide which families are drawn; an explicit list selects among them', () => {
  const file = write('charts.yaml', `name: charts\n${MODELS}grid:\n  backends: [pixel]\n  samplers: [ddim]\n  steps: [3]\n  metrics: [fid, nll]\n`);
  const names = chartFamilies(loadExperiment(file)).map((f) => f.name);
  assert.equal(names, ['quality-vs-nfe', 'cost-frontier', 'quality-vs-training-compute', 'quality-vs-guidance', 'quality-vs-ema', 'bits-per-dim', 'loss', 'schedules', 'samples']);
  const picked = write('picked.yaml', `name: picked\n${MODELS}grid:\n  backends: [pixel]\n  metrics: [ood]\neval: { ood: { name: fashion-mnist } }\ncharts: [ood-likelihood, loss, autoencoders]\n`);
  // No reconstruction points: the autoencoder chart has nothing to draw from and is left out.
  assert.equal(chartFamilies(loadExperiment(picked)).map((f) => f.name), ['ood-likelihood', 'loss']);
});

/** A pixel model trained on 8 images for 3 steps, one sampler setting: the two end-to-end tests share it (trained once). */
const TINY = `models:
  pixel:
    name: memo-pixel
    seed: 2
    backend: pixel
    data: { name: mnist, limit: 8, resize: [8, 8] }
    diffusion: { model: { channels: 8, channelMult: [1], attentionResolutions: [] }, objective: flow, schedule: null, train: { steps: 3, batchSize: 8, lr: 1.0e-3, checkpointEvery: 3 } }
grid:
  backends: [pixel]
  samplers: [euler]
  steps: [2]
`;

test('memorization, a measurement added as one file: a model trained on 8 images is scored against them; its rows and chart are written', async () => {
  await selectBackend('wasm');
  const file = write('memo.yaml', `name: memo
${TINY}  metrics: [memorization]
eval: { n: 12, bootstrap: 20 }
`);
  const out = await runExperiment({ file, resultsRoot: path.join(tmp, 'results'), workers: 1, log: () => {} });
  const rows = readRows(path.join(out.dir, 'metrics.jsonl'));
  assert.equal(rows.map((r) => r.metric), ['nn-train-ratio', 'near-copies', 'near-copies-floor']);
  assert.equal(new Set(rows.map((r) => r.point)), new Set(['pixel|euler|2|0|memorization']));
  const ratio = rows[0];
  assert.ok(ratio.ci_low! <= ratio.value && ratio.value <= ratio.ci_high!, 'the interval holds the estimate');
  assert.match(ratio.notes![0], /nearest of 8 training images/);
  assert.ok(fs.existsSync(path.join(out.dir, 'charts', 'memorization.vl.json')));
});

test('the same samples give the same FID through difflab run and through difflab fid (the real set brought to the samples\' size)', async () => {
  const file = write('fidsame.yaml', `name: fidsame
${TINY}  metrics: [fid]
eval: { n: 12, realN: 100000, bootstrap: 10 }
`);
  const results = path.join(tmp, 'results');
  const out = await runExperiment({ file, resultsRoot: results, workers: 1, log: () => {} });
  const inRun = readRows(path.join(out.dir, 'metrics.jsonl')).find((r) => r.metric === 'fid@lenet-mnist')!;
  // The model is the memorization test's (same config): found by its hash, wherever it was trained.
  const model = resolveModelDir(loadExperiment(file), 'pixel', results);
  const npy = path.join(tmp, 'same.npy');
  const s = spawnSync('node', [BIN, 'sample', '--checkpoint', model, '--sampler', 'euler', '--steps', '2', '--n', '12', '--seed', '0', '--out', npy], { encoding: 'utf8' });
  assert.is(s.status, 0, s.stderr);
  const f = spawnSync('node', [BIN, 'fid', '--real', 'mnist:test', '--fake', npy, '--json'], { encoding: 'utf8' });
  assert.is(f.status, 0, f.stderr);
  assert.match(f.stderr, /--real mnist:test is 28×28, the samples 8×8: resizing the real images to 8×8/);
  const viaFid = JSON.parse(f.stdout)['fid@lenet-mnist'];
  assert.ok(Math.abs(viaFid - inRun.value) <= 1e-6 * Math.max(1, inRun.value), `fid ${viaFid} vs run ${inRun.value}`);
  // Images of two sizes given as arrays are refused, naming both.
  const big = spawnSync('node', [BIN, 'fid', '--real', 'mnist:test', '--real-resize', '16', '16', '--fake', npy, '--json'], { encoding: 'utf8' });
  assert.match(big.stderr, /--real mnist:test has 16×16 images, --fake .*same\.npy 8×8/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
