// Paper reproductions: every shipped experiment file validates (with its quick preset where it has
// one), and a quick run of a paper experiment names its source in the report and in every chart,
// whose specs compile against the Vega-Lite schema.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import { packageFile } from '../../src/plots/report.js';
import { loadExperiment } from '../../src/runner/config.js';
import { runExperiment, runLocation } from '../../src/runner/run.js';
import '../helpers/cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-paper-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.before(async () => { await selectBackend('wasm'); });

test('every experiment file validates, and so does its quick preset; paper-* files have both blocks', () => {
  const files = fs.readdirSync('experiments').filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.length >= 10, files.join(', '));
  for (const f of files) {
    const file = path.join('experiments', f);
    const exp = loadExperiment(file);
    if (f.startsWith('paper-')) {
      assert.ok(exp.paper, `${f}: a paper block`);
      assert.ok(exp.paper!.cite && exp.paper!.figure && exp.paper!.finding, f);
      assert.ok(exp.quick, `${f}: a quick preset`);
      // Verdicts are computed: each paper file pre-registers its contrasts, and types none.
      assert.ok(exp.contrasts.length >= 2, `${f}: contrasts`);
      assert.is(exp.paper!.agreement, undefined, `${f}: a typed agreement`);
    }
    if (exp.quick) assert.is(loadExperiment(file, { quick: true }).name, `${exp.name}-quick`);
  }
  assert.throws(() => loadExperiment('experiments/samplers-gmm.yaml', { quick: true }), /samplers-gmm\.yaml: quick: --quick needs a quick block/);
});

test('a contrast names its file, field and what was expected when it is malformed', () => {
  const file = path.join(dir, 'bad-contrast.yaml');
  const body = (c: string) => `name: bad\nanalytic: { gmm: ${path.resolve('configs/gmm/8-gaussians.json')} }\ngrid: { backends: [analytic], samplers: [euler], steps: [5], metrics: [sw2] }\ncontrasts:\n  - ${c}\n`;
  fs.writeFileSync(file, body('{ name: x, metric: sw2, statistic: difference, a: { backend: pixel }, b: { backend: analytic }, predicts: above }'));
  assert.throws(() => loadExperiment(file), /bad-contrast\.yaml: contrasts\.0\.a\.backend: 'pixel' is not in grid\.backends \(analytic\)/);
  fs.writeFileSync(file, body('{ name: x, metric: sw2, statistic: difference, a: { backend: analytic }, predicts: above }'));
  assert.throws(() => loadExperiment(file), /contrasts\.0\.b: a difference needs two arms, a and b/);
  fs.writeFileSync(file, body('{ name: x, metric: sw2, statistic: argmin, a: { backend: analytic }, predicts: sideways }'));
  assert.throws(() => loadExperiment(file), /contrasts\.0\.predicts/);
});

test('a quick run of a paper experiment: the quick overrides apply; the report and every chart name the source', async () => {
  const file = path.join(dir, 'paper-toy.yaml');
  fs.writeFileSync(file, `name: paper-toy
description: a toy reproduction on the exact mixture
analytic: { gmm: ${path.resolve('configs/gmm/25-gaussians.json')} }
grid:
  backends: [analytic]
  samplers: [euler, heun, dpm-solver++-2m]
  steps: [5, 10, 20, 50]
  metrics: [path-rms, sw2, cost]
eval: { n: 400 }
charts: [sampler-error]
contrasts:
  - { name: Heun beats Euler at 5 steps, metric: sw2, statistic: difference, a: { backend: analytic, sampler: euler, steps: 5 }, b: { backend: analytic, sampler: heun, steps: 5 }, predicts: above }
paper:
  cite: Karras et al. 2022, Elucidating the Design Space of Diffusion-Based Generative Models
  figure: "Fig. 2: error vs NFE"
  finding: Heun reaches a given error with fewer evaluations than Euler.
quick:
  grid: { samplers: [euler, heun], steps: [5, 10] }
  eval: { n: 100 }
`);
  const r = await runExperiment({ file, quick: true, resultsRoot: path.join(dir, 'results'), log: () => {} });
  assert.ok(r.dir.includes(`${path.sep}paper-toy-quick${path.sep}`), r.dir);
  assert.equal([...new Set(r.rows.map((x) => x.sampler))].sort(), ['euler', 'heun']);
  assert.equal([...new Set(r.rows.map((x) => Number(x.steps)))].sort((a, b) => a - b), [5, 10]);
  const html = fs.readFileSync(path.join(r.dir, 'report.html'), 'utf8');
  assert.match(html, /<h2>Reproduces<\/h2>/);
  assert.match(html, /Elucidating the Design Space of Diffusion-Based Generative Models/);
  assert.match(html, /no recorded run yet/);
  // This run's computed verdicts, and the declared contrast on record beside the run.
  assert.match(html, /<h3>This run's verdicts<\/h3>/);
  assert.match(html, /Heun beats Euler at 5 steps/);
  assert.match(html, /class="verdict (reproduces|contradicts|inconclusive|not-measured)"/);
  assert.ok(fs.existsSync(path.join(r.dir, 'contrasts.json')));
  const charts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json'));
  assert.ok(charts.length > 0);
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  for (const c of charts) {
    const spec = JSON.parse(fs.readFileSync(path.join(r.dir, "charts", c), "utf8")) as { title: { subtitle: string[] } };
    assert.ok(validate(spec), `${c}: ${JSON.stringify(validate.errors?.slice(0, 2))}`);
    assert.match((spec.title.subtitle as string[]).join(' '), /reproduces Karras et al\. 2022, .*Fig\. 2: error vs NFE/, c);
    assert.ok(fs.existsSync(path.join(r.dir, 'charts', c.replace('.vl.json', '.svg'))), `${c}: rendered`);
  }
});

test('a quick run of a toy dimension sweep draws SW₂ vs D, the distance from the plane and the sample panels', async () => {
  const file = path.join(dir, 'paper-dims.yaml');
  fs.writeFileSync(file, `name: paper-dims
toy:
  data: 8-gaussians
  dims: [2, 16]
  objectives: [x0, eps]
  hidden: 32
  layers: 3
  trainPoints: 1000
  train: { steps: 200, batchSize: 64, lr: 3.0e-3, warmupSteps: 10, emaDecay: 0.9, checkpointEvery: 200 }
grid: { backends: [toy], samplers: [euler], steps: [10], metrics: [sw2] }
eval: { n: 200, bootstrap: 20 }
charts: [quality-vs-dimension]
paper:
  cite: Li & He 2025, Back to Basics
  figure: "Fig. 2: toy samples vs D"
  finding: eps degrades with D, x0 does not.
quick:
  toy: { train: { steps: 100 } }
`);
  const r = await runExperiment({ file, quick: true, resultsRoot: path.join(dir, 'results'), log: () => {} });
  const sw = r.rows.filter((x) => x.metric === 'sw2');
  assert.equal(sw.map((x) => `${x.objective}:${x.dim}`).sort(), ['eps:16', 'eps:2', 'x0:16', 'x0:2']);
  for (const x of sw) assert.is(x.train_step, 100);
  // The data lie on the plane; at D = 2 there is nothing off it.
  for (const x of r.rows.filter((y) => y.metric === 'off-plane-rms' && y.dim === 2)) assert.ok(x.value < 1e-4, String(x.value));
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  const charts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json')).sort();
  assert.equal(charts, ['quality-vs-dimension-nn.vl.json', 'quality-vs-dimension-off-plane.vl.json', 'quality-vs-dimension-sw2.vl.json', 'toy-samples.vl.json']);
  for (const c of charts) {
    const spec = JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', c), 'utf8')) as { title: { subtitle: string[] } };
    assert.ok(validate(spec), `${c}: ${JSON.stringify(validate.errors?.slice(0, 2))}`);
    assert.match(spec.title.subtitle.join(' '), /reproduces Li & He 2025/);
    assert.ok(fs.existsSync(path.join(r.dir, 'charts', c.replace('.vl.json', '.svg'))), `${c}: rendered`);
  }
});

test('on the exact mixture, guidance w = 1 (shared with conditional models in one grid) samples the mixture itself, as the unguided sampler does', async () => {
  const file = path.join(dir, 'w1.yaml');
  fs.writeFileSync(file, `name: w1
analytic: { gmm: ${path.resolve('configs/gmm/8-gaussians.json')} }
grid: { backends: [analytic], samplers: [euler, { name: euler, guidance: 1 }], steps: [5], metrics: [path-rms, sw2] }
eval: { n: 100 }
`);
  const r = await runExperiment({ file, resultsRoot: path.join(dir, 'results'), log: () => {} });
  const sw = r.rows.filter((x) => x.metric === 'sw2');
  assert.is(sw.length, 2);
  assert.is(sw[0].value, sw[1].value);
  assert.match(String(sw.find((x) => x.sampler !== 'euler')!.notes), /guidance w = 1 on the exact mixture/);
});

test('the run id ignores the prose: a recorded finding or a changed quick preset keeps the full run', () => {
  const a = loadExperiment('experiments/paper-guidance.yaml');
  const b = { ...a, description: 'other', paper: { ...a.paper!, here: 'a new recorded finding', agreement: 'disagrees' as const }, quick: { eval: { n: 2 } } };
  assert.is(runLocation(b, 'results').runId, runLocation(a, 'results').runId);
  assert.is.not(runLocation({ ...a, eval: { ...a.eval, n: 7 } }, 'results').runId, runLocation(a, 'results').runId);
});

test.run();
