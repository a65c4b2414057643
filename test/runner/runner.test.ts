import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageFile } from '../../src/plots/report.js';
import { loadExperiment } from '../../src/runner/config.js';
import { gridPoints, mergeShards, runExperiment, shardPoints } from '../../src/runner/run.js';
import { readRows, type ResultRow } from '../../src/runner/results.js';
import { selectBackend } from '../../src/compute/backend.js';
import { runTraining } from '../../src/backends/training.js';
import { DiffusionModel } from '../../src/backends/diffusion-model.js';
import { TrainConfig } from '../../src/train/config.js';
import { buildClaims } from '../../src/plots/claims.js';
import '../helpers/cache.js';
import { BIN } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-runner-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const GMM = path.resolve('configs/gmm/8-gaussians.json');
const quiet = () => {};

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

const tiny = (extra = '') => `
name: tiny
analytic: { gmm: ${GMM} }
grid:
  backends: [analytic]
  samplers: [euler, dpm-solver++-2m, euler-ancestral]
  steps: [3, 6]
  seeds: [0]
  metrics: [path-rms, sw2, cost]
eval: { n: 200 }
schedules: { names: [linear, cosine], T: 100 }
${extra}`;

test('config errors name the file, the path inside it and what is accepted', () => {
  const bad = (text: string) => {
    const f = write('bad.yaml', text);
    try { loadExperiment(f); } catch (e) { return (e as Error).message; }
    return 'no error';
  };
  assert.match(bad(tiny().replace('eval: { n: 200 }', 'eval: { n: 200, samples: 3 }')), /bad\.yaml: eval: unknown key 'samples'; accepted: n, realN, nllN, nllTerms, kidSubsets, kidSubsetSize, bootstrap, guardQuality, guardMargin, guardFactor, batchSize, features/);
  assert.match(bad(tiny().replace('eval: { n: 200 }', "eval: { n: 'many' }")), /bad\.yaml: eval\.n: Invalid input: expected number, received string/);
  assert.match(bad(tiny().replace('dpm-solver++-2m', 'dpm-solver-9')), /bad\.yaml: grid\.samplers\.1: name: unknown sampler 'dpm-solver-9'; expected one of ddpm, ddim/);
  assert.match(bad(tiny().replace('backends: [analytic]', 'backends: [analytic, pixl]')), /bad\.yaml: grid\.backends\.1: unknown backend 'pixl'; expected 'analytic', 'toy' or one of the models/);
  assert.match(bad(`name: x\nmodels:\n  p: { $ref: ./nope.yaml }\n`), /bad\.yaml: models\.p\.\$ref: file not found: \.\/nope\.yaml/);
  // A model preset with an override of a wrong type: the path runs through the model's name.
  const m = bad(`name: x\nmodels:\n  p:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    diffusion: { train: { lr: fast } }\n`);
  assert.match(m, /bad\.yaml: models\.p\.diffusion\.train\.lr: Invalid input: expected number, received string/);
});

test('$ref composes a preset with overrides; difflab config --print shows the result', () => {
  const f = write('comp.yaml', `name: comp\nmodels:\n  p:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    diffusion: { train: { steps: 7 } }\n`);
  const e = loadExperiment(f);
  assert.is(e.models.p.diffusion.train.steps, 7);
  assert.is(e.models.p.diffusion.train.batchSize, 32); // from the preset
  assert.is((e.models.p.diffusion.model as { channels?: number }).channels, 16);
  const r = spawnSync('node', ['bin/difflab.js', 'config', f, '--print'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).models.p.diffusion.train.steps, 7);
});

const strip = (rows: ResultRow[]) => rows.map(({ seconds: _s, notes: _n, ...r }) => ({ ...r, value: r.metric === 'nfe' || !r.metric.includes('rms') && !r.metric.includes('sw2') ? r.value : Number(r.value.toPrecision(12)) }))
  .filter((r) => r.metric !== 'seconds_per_sample');

test('a tiny analytic experiment runs end to end: metrics.jsonl, valid Vega-Lite specs, SVG/PNG, report; resume skips done points', async () => {
  const f = write('tiny.yaml', tiny());
  const root = path.join(dir, 'results');
  const r = await runExperiment({ file: f, resultsRoot: root, log: quiet });
  assert.is(r.evaluated, 6);
  const rows = readRows(path.join(r.dir, 'metrics.jsonl'));
  for (const key of ['experiment', 'run_id', 'backend', 'sampler', 'steps', 'nfe', 'metric', 'value', 'std', 'n', 'seconds', 'gflop', 'seed', 'config_hash', 'git_commit']) {
    assert.ok(key in rows[0], `row lacks ${key}`);
  }
  assert.equal([...new Set(rows.map((x) => x.metric))].sort(), ['mode-switches', 'nfe', 'path-median', 'path-p90', 'path-rms', 'sw2', 'sw2-floor']);
  assert.ok(!rows.some((x) => x.sampler === 'euler-ancestral' && x.metric === 'path-rms'), 'stochastic samplers have no path error');
  // Every chart: a spec valid against the Vega-Lite schema shipped in the package, an SVG and a PNG.
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  const charts = fs.readdirSync(path.join(r.dir, 'charts'));
  const specs = charts.filter((c) => c.endsWith('.vl.json'));
  assert.equal(specs.sort(), ['sampler-error-median.vl.json', 'sampler-error-path.vl.json', 'sampler-error-sw2.vl.json', 'schedules.vl.json']);
  for (const s of specs) {
    const ok = validate(JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', s), 'utf8')));
    assert.ok(ok, `${s}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    const stem = s.replace('.vl.json', '');
    assert.match(fs.readFileSync(path.join(r.dir, 'charts', `${stem}.svg`), 'utf8'), /^<svg/);
    assert.equal([...fs.readFileSync(path.join(r.dir, 'charts', `${stem}.png`)).subarray(1, 4)], [80, 78, 71]); // "PNG"
  }
  assert.ok(fs.existsSync(path.join(r.dir, 'report.html')));
  // Simulate a run killed after two points (one torn line), then resume.
  const lines = fs.readFileSync(path.join(r.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
  const firstTwo = new Set(rows.map((x) => x.point).slice(0, 1));
  for (const p of rows.map((x) => x.point)) { if (firstTwo.size < 2) firstTwo.add(p); }
  const kept = lines.filter((l) => firstTwo.has(JSON.parse(l).point));
  fs.writeFileSync(path.join(r.dir, 'metrics.jsonl'), kept.join('\n') + '\n{"experiment":"tiny","point":"analy');
  const again = await runExperiment({ file: f, resultsRoot: root, resume: true, log: quiet });
  assert.is(again.skipped, 2);
  assert.is(again.evaluated, 4);
  assert.equal(strip(readRows(path.join(r.dir, 'metrics.jsonl'))), strip(rows));
  // Without --resume an existing run is not overwritten.
  try {
    await runExperiment({ file: f, resultsRoot: root, log: quiet });
    assert.unreachable('overwrote results');
  } catch (e) {
    // The run is finished: the refusal says so and names its report.
    assert.match((e as Error).message, /this run is complete \(\d+ grid points\); its report is .*report\.html\. --force starts it over/);
  }
});

test('shards merged equal an unsharded run', async () => {
  const f = write('tiny.yaml', tiny());
  const whole = await runExperiment({ file: f, resultsRoot: path.join(dir, 'whole'), log: quiet });
  const root = path.join(dir, 'sharded');
  for (const i of [0, 1, 2]) await runExperiment({ file: f, resultsRoot: root, shard: { index: i, count: 3 }, log: quiet });
  const runDir = path.join(root, 'tiny', path.basename(whole.dir));
  assert.ok(!fs.existsSync(path.join(runDir, 'report.html')), 'shards alone write no report');
  const merged = await mergeShards(runDir, quiet);
  assert.equal(strip(merged), strip(readRows(path.join(whole.dir, 'metrics.jsonl'))));
  assert.ok(fs.existsSync(path.join(runDir, 'report.html')));
});

test('checkpoints: a difflab-train run of the same config is reused, each checkpoint is evaluated with its training GFLOP, and quality is charted against training compute', async () => {
  await selectBackend('wasm');
  const root = path.join(dir, 'ckpt');
  const model = {
    name: 'tiny-ckpt', seed: 3, backend: 'pixel', data: { name: 'mnist', limit: 48, resize: [16, 16] },
    diffusion: {
      model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
      schedule: { name: 'linear', T: 100 }, objective: { parameterization: 'eps', weighting: 'simple' },
      train: { steps: 4, batchSize: 8, lr: 1e-3, checkpointEvery: 2 },
    },
  };
  // Trained on its own, where `difflab train` puts it: results/train/<name>.
  runTraining({ ...TrainConfig.parse(model), out: path.join(root, 'train', 'tiny-ckpt') }, 'all', false);
  const f = write('ckpt.yaml', JSON.stringify({
    name: 'ckpt', models: { p: model },
    grid: { backends: ['p'], samplers: ['ddim'], steps: [3], checkpoints: [2, 4], metrics: ['fid', 'cost'] },
    eval: { n: 40, realN: 100, bootstrap: 20 }, charts: ['quality-vs-training-compute', 'quality-vs-nfe'],
  }));
  const lines: string[] = [];
  const r = await runExperiment({ file: f, resultsRoot: root, log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => l.includes(`reusing ${path.join(root, 'train', 'tiny-ckpt')}`)), lines.join('\n'));
  assert.not.ok(fs.existsSync(path.join(root, 'ckpt', 'models')), 'the model was trained again');
  const rows = readRows(path.join(r.dir, 'metrics.jsonl'));
  assert.equal([...new Set(rows.map((x) => x.point))], ['p@2|ddim|3|0', 'p@4|ddim|3|0']);
  // 3 × forward FLOPs per image × batch × steps, from the model's own FLOP count.
  const flops = new DiffusionModel(TrainConfig.parse(model).diffusion, { size: 16, channels: 1 }, 0).net.flopsPerImage();
  for (const row of rows) assert.ok(Math.abs(row.train_gflop! - (3 * flops * 8 * row.train_step!) / 1e9) < 1e-9, JSON.stringify(row));
  assert.equal([...new Set(rows.map((x) => x.train_step))], [2, 4]);
  const charts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json')).sort();
  // One chart per feature space (eval.features defaults to the LeNet and the MLP); the LeNet's keep their names.
  assert.equal(charts, ['quality-vs-nfe-fid-mlp-mnist.vl.json', 'quality-vs-nfe-fid.vl.json', 'quality-vs-training-compute-fid-mlp-mnist.vl.json', 'quality-vs-training-compute-fid.vl.json']);
  // quality vs NFE compares finished models: only the final checkpoint's rows go into it.
  const nfeSpec = JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', 'quality-vs-nfe-fid.vl.json'), 'utf8'));
  assert.is(nfeSpec.layer[0].data.values.length, 1);
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  const spec = JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', 'quality-vs-training-compute-fid.vl.json'), 'utf8')) as { layer: { data: { values: unknown[] } }[] };
  assert.ok(validate(spec), JSON.stringify(validate.errors?.slice(0, 3)));
  assert.is(spec.layer[0].data.values.length, 2);
  // Each FID carries its interval, and the floor (real training images, same n) is drawn.
  for (const row of rows.filter((x) => x.metric.startsWith('fid'))) assert.ok(row.ci_low! <= row.value && row.value <= row.ci_high!, JSON.stringify(row));
  assert.ok(validate(nfeSpec), JSON.stringify(validate.errors?.slice(0, 3)));
  assert.ok(JSON.stringify(nfeSpec).includes('real-data floor'), 'floor rule on the FID chart');
  const floors = JSON.parse(fs.readFileSync(path.join(r.dir, 'floors.json'), 'utf8'));
  assert.is(floors['fid@lenet-mnist'].n, 40);
  // A step that was never saved is an error listing the saved ones.
  const bad = write('ckpt-bad.yaml', fs.readFileSync(f, 'utf8').replace('[2,4]', '[3]'));
  try {
    await runExperiment({ file: bad, resultsRoot: root, log: quiet });
    assert.unreachable('evaluated a checkpoint that does not exist');
  } catch (e) {
    assert.match((e as Error).message, /no checkpoint at step 3; saved steps: 2, 4/);
  }
});

test('compute-matched claim: FID interpolated in log-GFLOP at the largest compute both backends reached', () => {
  const diffusion = { objective: { name: 'eps' }, weighting: { name: 'simple' }, train: { steps: 100 } };
  const exp = { models: { px: { backend: 'pixel', diffusion }, lt: { backend: 'latent', diffusion, vae: { train: { steps: 50 } } } } } as never;
  const row = (backend: string, gflop: number, value: number): ResultRow => ({
    experiment: 'x', run_id: 'r', point: `${backend}@${gflop}|ddim|10|0`, backend, sampler: 'ddim', steps: 10, nfe: 10, metric: 'fid@lenet-mnist', value, std: null, n: 100,
    seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c', train_step: gflop, train_gflop: gflop,
  });
  // Pixel: 100 at 10 GFLOP, 50 at 100. Latent: 80 at 5, 40 at 50. Common budget 50 GFLOP:
  // pixel = 100 − 50·ln(50/10)/ln(100/10) = 65.05, latent = 40 (printed to 3 significant digits).
  const rows = [row('px', 10, 100), row('px', 100, 50), row('lt', 5, 80), row('lt', 50, 40)];
  const c = buildClaims(rows, exp).find((x) => x.topic === 'compute-matched quality')!;
  assert.is(c.verdict, 'supported');
  assert.match(c.evidence, /ddim 10 steps: pixel 65\.1 vs latent 40\.0 at 50\.0 GFLOP/);
  const flipped = buildClaims([row('px', 10, 30), row('px', 100, 20), row('lt', 5, 80), row('lt', 50, 40)], exp).find((x) => x.topic === 'compute-matched quality')!;
  assert.is(flipped.verdict, 'contradicted');
  const one = buildClaims([row('px', 10, 30)], exp).find((x) => x.topic === 'compute-matched quality')!;
  assert.is(one.verdict, 'not measured');
});

test('sampling-strategy and noise-handling claims: verdicts only from the comparisons they name', () => {
  const diffusion = { objective: { name: 'eps' }, weighting: { name: 'simple' }, train: { steps: 100 } };
  const exp = { models: { px: { backend: 'pixel', diffusion }, lt: { backend: 'latent', diffusion, vae: { train: { steps: 50 } } } } } as never;
  const row = (backend: string, sampler: string, steps: number, value: number): ResultRow => ({
    experiment: 'x', run_id: 'r', point: `${backend}|${sampler}|${steps}|0`, backend, sampler, steps, nfe: steps, metric: 'fid@lenet-mnist', value, std: null, n: 100,
    seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c',
  });
  // Paired intervals as a bootstrap would give them here: an FID difference ± 1, a ratio difference ± 0.1.
  const paired = (rows: ResultRow[]) => (points: string[], stat: (f: number[]) => number) => {
    const value = stat(points.map((p) => rows.find((r) => r.point === p)!.value)), h = points.length === 2 ? 1 : 0.1;
    return { value, low: value - h, high: value + h, level: 0.95, replicates: 100, se: h / 2 };
  };
  const topic = (rows: ResultRow[], t: string) => buildClaims(rows, exp, { paired: paired(rows) }).find((c) => c.topic === t)!;
  // No ancestral sampler in the grid: DPM-Solver++ beating DDIM says nothing about the claim.
  assert.is(topic([row('px', 'dpm-solver++-2m', 5, 50), row('px', 'ddim', 5, 60)], 'sampling strategy').verdict, 'not measured');
  assert.is(topic([row('px', 'dpm-solver++-2m', 5, 50), row('px', 'ddpm', 5, 90)], 'sampling strategy').verdict, 'supported');
  assert.is(topic([row('px', 'dpm-solver++-2m', 5, 95), row('px', 'ddpm', 5, 90)], 'sampling strategy').verdict, 'contradicted');
  // Degradation 5→20 steps: pixel 100/50 = 2, latent 60/50 = 1.2 → supported; 1.04 vs 1.02 → inconclusive
  // (the difference 0.02 lies inside its interval).
  const deg = (p5: number, l5: number) => [row('px', 'ddim', 5, p5), row('px', 'ddim', 20, 50), row('lt', 'ddim', 5, l5), row('lt', 'ddim', 20, 50)];
  assert.is(topic(deg(100, 60), 'noise handling').verdict, 'supported');
  assert.is(topic(deg(60, 100), 'noise handling').verdict, 'contradicted');
  assert.is(topic(deg(52, 51), 'noise handling').verdict, 'inconclusive');
  // FID 34.7 vs 34.4: the interval of the difference contains 0, not a win for either backend.
  assert.is(topic([row('px', 'ddim', 5, 34.7), row('lt', 'ddim', 5, 34.4)], 'best use: generation quality').verdict, 'inconclusive');
  assert.is(topic([row('px', 'ddim', 5, 60), row('lt', 'ddim', 5, 34.4)], 'best use: generation quality').verdict, 'supported');
  // Without kept features there is no interval, and no verdict.
  assert.is(buildClaims(deg(100, 60), exp).find((c) => c.topic === 'noise handling')!.verdict, 'not measured');
});

test('--jobs 2: models train in parallel processes, the grid runs as two shards, and the joined rows equal a one-process run', async () => {
  const tinyModel = (seed: number) => ({
    name: `tiny-jobs-${seed}`, seed, backend: 'pixel', data: { name: 'mnist', limit: 32, resize: [16, 16] },
    diffusion: {
      model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
      schedule: { name: 'linear', T: 100 }, objective: { parameterization: 'eps', weighting: 'simple' },
      train: { steps: 2, batchSize: 8, lr: 1e-3 },
    },
  });
  const f = write('jobs.json', JSON.stringify({
    name: 'jobs', models: { a: tinyModel(1), b: tinyModel(2) },
    grid: { backends: ['a', 'b'], samplers: ['ddim', 'euler'], steps: [2], metrics: ['fid', 'nll', 'cost'] },
    eval: { n: 40, realN: 100, nllN: 4, nllTerms: 3, bootstrap: 20 }, charts: ['bits-per-dim'],
  }));
  const par = spawnSync('node', [BIN, 'run', f, '--jobs', '2', '--results', path.join(dir, 'par')], { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300000, killSignal: 'SIGKILL' });
  assert.is(par.status, 0, par.stderr);
  assert.match(par.stderr, /3 task\(s\) on 2 process\(es\): train a, train b, feature network/);
  // Workers do their task in their own process and start no workers of their own.
  assert.is((par.stderr.match(/task\(s\) on/g) ?? []).length, 1, par.stderr);
  assert.match(par.stderr, /grid of 6 point\(s\) in 2 shard\(s\)/);
  const one = await runExperiment({ file: f, resultsRoot: path.join(dir, 'one'), log: quiet });
  const parDir = path.join(dir, 'par', 'jobs', path.basename(one.dir));
  assert.ok(fs.existsSync(path.join(parDir, 'report.html')));
  assert.equal(strip(readRows(path.join(parDir, 'metrics.jsonl'))), strip(readRows(path.join(one.dir, 'metrics.jsonl'))));
  // A second run without --resume or --force is refused; with --resume nothing is left to do.
  const again = spawnSync('node', [BIN, 'run', f, '--jobs', '2', '--results', path.join(dir, 'par')], { encoding: 'utf8' });
  assert.is(again.status, 1);
  assert.match(again.stderr, /this run is complete \(6 grid points\); its report is .*report\.html/);
  const resumed = spawnSync('node', [BIN, 'run', f, '--jobs', '2', '--resume', '--results', path.join(dir, 'par')], { encoding: 'utf8' });
  assert.is(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /0 grid point\(s\) evaluated, 6 skipped as done/);
});

test('the report loads in headless Chromium with no errors and every chart renders', async () => {
  const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync('which', [c]).status === 0);
  if (!chromium) {
    if (process.env.CI) assert.unreachable('Chromium is not installed (.ci/run installs Debian\'s chromium package)');
    console.warn('skipped: no chromium on PATH');
    return;
  }
  const f = write('tiny.yaml', tiny());
  const r = await runExperiment({ file: f, resultsRoot: path.join(dir, 'browser'), log: quiet });
  const nCharts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json')).length;
  const out = spawnSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--enable-logging=stderr', '--virtual-time-budget=20000', '--dump-dom', `file://${path.resolve(r.dir, 'report.html')}`], { encoding: 'utf8', timeout: 120000 });
  assert.is(out.status, 0, out.stderr);
  // The inlined libraries contain '<body' in strings: take the element's tag, the one with our attributes.
  const body = (out.stdout.match(/<body [^>]*data-errors="[^"]*"[^>]*>/g) ?? []).join(' ');
  assert.match(body, /data-charts="done"/, body);
  assert.match(body, /data-errors="0"/, body);
  assert.match(body, new RegExp(`data-rendered="${nCharts}"`), body);
  // Each chart container holds the SVG vega-embed drew.
  const rendered = out.stdout.match(/<div id="chart-\d+"[^>]*>[\s\S]*?<svg/g) ?? [];
  assert.is(rendered.length, nCharts);
  assert.not.match(out.stderr, /CONSOLE.*(Error|Uncaught)/);
});

test('shards partition the grid and each gets its share of every kind of point', () => {
  const file = write('shards.yaml', `name: shards
models:
  a: { $ref: ${path.resolve('configs/train/quick-pixel.yaml')} }
  b: { $ref: ${path.resolve('configs/train/quick-latent.yaml')} }
grid: { backends: [a, b], samplers: [euler], steps: [5], checkpoints: [100, 200, 300, 400], metrics: [fid, nll] }
`);
  const points = gridPoints(loadExperiment(file));
  assert.is(points.length, 16);
  const shards = [0, 1, 2].map((index) => shardPoints(points, { index, count: 3 }));
  assert.equal(shards.flat().map((p) => p.index).sort((x, y) => x - y), points.map((p) => p.index));
  for (const sh of shards) {
    assert.ok(sh.some((p) => p.kind === 'nll') && sh.some((p) => p.kind === 'sample'), sh.map((p) => p.key).join(' '));
    assert.equal(sh.map((p) => p.index), [...sh.map((p) => p.index)].sort((x, y) => x - y));
  }
  // A toy model's points (two step counts here) stay in one shard: the first of them trains it.
  const toy = write('toy-shards.yaml', `name: toy-shards
toy: { dims: [2, 4, 8], objectives: [x0, eps], train: { steps: 10 } }
grid: { backends: [toy], samplers: [euler], steps: [5, 10], metrics: [sw2] }
`);
  const tp = gridPoints(loadExperiment(toy));
  assert.is(tp.length, 12);
  const parts = [0, 1].map((index) => shardPoints(tp, { index, count: 2 }));
  assert.equal(parts.flat().length, 12);
  for (const part of parts) {
    assert.is(part.length, 6);
    for (const p of part) assert.ok(part.filter((q) => q.objective === p.objective && q.dim === p.dim).length === 2, p.key);
  }
});

test.run();
