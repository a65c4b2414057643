import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageFile } from '../../src/plots/report.js';
import { loadExperiment } from '../../src/runner/config.js';
import { mergeShards, runExperiment } from '../../src/runner/run.js';
import { readRows, type ResultRow } from '../../src/runner/results.js';

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
  assert.match(bad(tiny().replace('eval: { n: 200 }', 'eval: { n: 200, samples: 3 }')), /bad\.yaml: eval: unknown key 'samples'; accepted: n, realN, nllN, nllTerms, kidSubsets, kidSubsetSize, features/);
  assert.match(bad(tiny().replace('eval: { n: 200 }', "eval: { n: 'many' }")), /bad\.yaml: eval\.n: Invalid input: expected number, received string/);
  assert.match(bad(tiny().replace('dpm-solver++-2m', 'dpm-solver-9')), /bad\.yaml: grid\.samplers\.1: Invalid option: expected one of "ddpm"\|"ddim"/);
  assert.match(bad(tiny().replace('backends: [analytic]', 'backends: [analytic, pixl]')), /bad\.yaml: grid\.backends\.1: unknown backend 'pixl'; expected 'analytic' or one of the models/);
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
  assert.is(e.models.p.diffusion.model.channels, 16);
  const r = spawnSync('node', ['bin/difflab.js', 'config', f, '--print'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).models.p.diffusion.train.steps, 7);
});

const strip = (rows: ResultRow[]) => rows.map(({ seconds: _s, ...r }) => ({ ...r, value: r.metric === 'nfe' || !r.metric.includes('rms') && !r.metric.includes('sw2') ? r.value : Number(r.value.toPrecision(12)) }))
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
  assert.equal([...new Set(rows.map((x) => x.metric))].sort(), ['nfe', 'path-rms', 'sw2', 'sw2-floor']);
  assert.ok(!rows.some((x) => x.sampler === 'euler-ancestral' && x.metric === 'path-rms'), 'stochastic samplers have no path error');
  // Every chart: a spec valid against the Vega-Lite schema shipped in the package, an SVG and a PNG.
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  const charts = fs.readdirSync(path.join(r.dir, 'charts'));
  const specs = charts.filter((c) => c.endsWith('.vl.json'));
  assert.equal(specs.sort(), ['sampler-error-path.vl.json', 'sampler-error-sw2.vl.json', 'schedules.vl.json']);
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
    assert.match((e as Error).message, /already has results: pass --resume to continue this run, or --force to start it over/);
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

test.run();
