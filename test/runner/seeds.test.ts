// Training seeds as replicates: a model block with seeds: [...] trains one model per seed, rows carry
// the seed, and contrasts rest on the seeds with an interval that covers at its nominal rate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResultRow } from '../../src/metrics/result-row.js';
import { computeContrasts, t975, type ContrastSpec } from '../../src/plots/contrasts.js';
import { collapseSeeds } from '../../src/plots/seeds.js';
import { loadExperiment } from '../../src/runner/config.js';
import { runExperiment } from '../../src/runner/run.js';
import { Rng } from '../../src/util/rng.js';
import '../helpers/cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-seeds-'));
const write = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };

const model = `{ $ref: ${path.resolve('configs/train/quick-pixel.yaml')}, data: { name: mnist, limit: 32, resize: [16, 16] }, diffusion: { model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] }, train: { steps: 2, batchSize: 8 } } }`;

test('seeds: [..] expands a model block into one model per seed, in models and grid.backends', () => {
  const f = write('s.yaml', `name: s\nmodels:\n  px: { $ref: ${path.resolve('configs/train/quick-pixel.yaml')}, seeds: [0, 1, 2] }\n  one: { $ref: ${path.resolve('configs/train/quick-pixel.yaml')} }\ngrid: { backends: [px, one], samplers: [ddim], steps: [2], metrics: [fid] }\ncontrasts:\n  - { name: c, metric: fid, statistic: difference, a: { backend: px }, b: { backend: one }, predicts: above }\n`);
  const e = loadExperiment(f);
  assert.equal(Object.keys(e.models), ['px.s0', 'px.s1', 'px.s2', 'one']);
  assert.equal(e.grid!.backends, ['px.s0', 'px.s1', 'px.s2', 'one']);
  assert.equal(Object.values(e.models).map((m) => m.seed), [0, 1, 2, 0]);
  assert.equal(e.replicas['px.s1'], { model: 'px', trainSeed: 1 });
  // Distinct names, so each trains once and is found again by its config hash.
  assert.is(new Set(Object.values(e.models).map((m) => m.name)).size, 4);
  const bad = write('b.yaml', `name: b\nmodels:\n  px: { $ref: ${path.resolve('configs/train/quick-pixel.yaml')}, seeds: [0, 0] }\n`);
  assert.throws(() => loadExperiment(bad), /b\.yaml: models\.px\.seeds: expected 1 to 32 distinct integers \(training seeds, e\.g\. \[0, 1, 2\]\), got \[0,0\]/);
});

test('a run with two training seeds trains both, and its rows carry model and train_seed', async () => {
  const f = write('run.yaml', `name: seeds\nmodels:\n  px: ${model.replace(/ }$/, ', seeds: [3, 4] }')}\ngrid: { backends: [px], samplers: [ddim], steps: [2], metrics: [cost] }\neval: { n: 8 }\ncontrasts:\n  - { name: c, metric: gflop_per_sample, statistic: ratio, a: { backend: px }, b: { backend: px.s3 }, predicts: above }\ncharts: [loss]\n`);
  const r = await runExperiment({ file: f, resultsRoot: path.join(dir, 'results'), log: () => {} });
  const rows = r.rows.filter((x) => x.metric === 'nfe');
  assert.equal(rows.map((x) => [x.backend, x.model, x.train_seed]), [['px.s3', 'px', 3], ['px.s4', 'px', 4]]);
  const html = fs.readFileSync(path.join(r.dir, 'report.html'), 'utf8');
  assert.ok(html.includes('px.s3') && html.includes('px.s4'));
  // An experiment without a paper block still shows its contrasts' computed verdicts.
  assert.match(html, /<h2>This run's verdicts<\/h2>/);
  assert.match(html, /<table class="contrasts">.*<td>c<\/td>.*class="verdict (reproduces|contradicts|inconclusive|not-judged|not-measured)"/s);
});

const row = (backend: string, trainSeed: number, value: number, std: number): ResultRow => ({
  experiment: 'x', run_id: 'r', point: `${backend}.s${trainSeed}|s|10|0`, backend: `${backend}.s${trainSeed}`, model: backend, train_seed: trainSeed, sampler: 's', steps: 10, nfe: 10,
  metric: 'bits_per_dim', value, std, n: 100, seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c',
});

/**
 * Coverage of a seed-level contrast on a simulated hierarchy: each arm's seeds have true values
 * μ + τ·N(0, 1) (between-seed spread τ), each measured with sampling noise σ; the estimand is μ_a − μ_b.
 */
function coverage(k: number, tau: number, sigma: number, runs: number, seed: number): number {
  const rng = new Rng(seed), spec: ContrastSpec = { name: 'x', metric: 'bits_per_dim', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' };
  let covered = 0;
  for (let t = 0; t < runs; t++) {
    const rows = ['a', 'b'].flatMap((arm) => Array.from({ length: k }, (_, s) => row(arm, s, (arm === 'a' ? 1.3 : 1) + tau * rng.normal() + sigma * rng.normal(), sigma)));
    const c = computeContrasts([spec], rows, { seed: t, replicates: 400 })[0];
    if (c.low! <= 0.3 && 0.3 <= c.high!) covered++;
  }
  return covered / runs;
}

for (const [k, tau, sigma] of [[3, 0.05, 0.01], [3, 0.02, 0.02], [3, 0.005, 0.03], [5, 0.03, 0.01]] as const) {
  test(`the interval over ${k} training seeds covers the seed-population difference at about 95% (between-seed sd ${tau}, sampling sd ${sigma})`, () => {
    const cov = coverage(k, tau, sigma, 300, 10 * k + Math.round(100 * tau));
    // Binomial sd over 300 runs at 95% is 1.3 points; the bootstrap's discreteness over k seeds costs some.
    assert.ok(cov >= 0.9 && cov <= 0.995, `coverage ${cov}`);
  });
}

test('a seed-level contrast says how many seeds it rests on and names each seed', () => {
  const rows = [row('a', 0, 1.3, 0.01), row('a', 1, 1.31, 0.01), row('a', 2, 1.29, 0.01), row('b', 0, 1.0, 0.01), row('b', 1, 1.02, 0.01), row('b', 2, 0.99, 0.01)];
  const c = computeContrasts([{ name: 'x', metric: 'bits_per_dim', statistic: 'difference', a: { backend: 'a' }, b: { backend: 'b' }, predicts: 'above' }], rows)[0];
  assert.is(c.verdict, 'reproduces');
  assert.match(c.basis, /3 training seeds resampled .*paired by seed.*; rests on 3 training seeds/);
  assert.match(c.detail, /a: seed 0 1\.30, seed 1 1\.31, seed 2 1\.29/);
  assert.ok(Math.abs(t975(2) - 4.303) < 1e-3 && Math.abs(t975(60) - 2.0003) < 2e-3, `${t975(60)}`);
});

test('charts draw a model\'s training seeds as one series at their mean, with the t interval across seeds', () => {
  const rows = [row('a', 0, 1.0, 0.01), row('a', 1, 1.2, 0.01), row('a', 2, 1.1, 0.01), { ...row('b', 0, 2, 0.01), model: undefined, train_seed: undefined, backend: 'b' }];
  const c = collapseSeeds(rows);
  assert.is(c.length, 2);
  assert.is(c[0].backend, 'a');
  assert.ok(Math.abs(c[0].value - 1.1) < 1e-12);
  // sd 0.1, t(2) = 4.303: 1.1 ± 0.2484.
  assert.ok(Math.abs(c[0].ci_low! - (1.1 - 4.303 * 0.1 / Math.sqrt(3))) < 1e-3 && Math.abs(c[0].ci_high! - (1.1 + 4.303 * 0.1 / Math.sqrt(3))) < 1e-3, `${c[0].ci_low} ${c[0].ci_high}`);
  assert.match(c[0].notes![0], /mean over 3 training seed\(s\) \(0, 1, 2\)/);
  assert.is(c[1], rows[3]);
});

test.run();
