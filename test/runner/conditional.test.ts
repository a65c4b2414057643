// A class-conditional model through the experiment runner: guidance scales and post-hoc EMA lengths as
// grid axes, class agreement against the network's accuracy on real images, and samples that do not
// depend on the batch size.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import { packageFile } from '../../src/plots/report.js';
import { readRows } from '../../src/runner/results.js';
import { runExperiment } from '../../src/runner/run.js';
import { readNpy } from '../../src/util/npy.js';
import '../helpers/cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-cond-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const model = {
  name: 'tiny-cond', seed: 5, backend: 'pixel', data: { name: 'mnist', limit: 64, resize: [16, 16] },
  diffusion: {
    model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] },
    objective: 'flow', schedule: null, noise: { distribution: 'logit-normal' },
    conditioning: { classes: 10, condDrop: 0.2 },
    train: { steps: 4, batchSize: 8, lr: 1e-3, checkpointEvery: 2, posthocEma: { every: 2 } },
  },
};

function experiment(name: string, evalExtra: Record<string, unknown> = {}) {
  const f = path.join(dir, `${name}.json`);
  fs.writeFileSync(f, JSON.stringify({
    name, models: { c: model },
    grid: { backends: ['c'], samplers: [{ name: 'euler', guidance: 1 }, { name: 'euler', guidance: 3 }, { name: 'euler', guidance: 3, guidanceInterval: [1, 20] }], steps: [3], ema: [0.05, 0.15], metrics: ['fid', 'class', 'cost'] },
    eval: { n: 40, realN: 100, bootstrap: 20, ...evalExtra }, charts: ['quality-vs-guidance', 'quality-vs-ema', 'samples'],
  }));
  return f;
}

test('guidance and post-hoc EMA as grid axes: rows, NFE, class agreement with its real-data value, charts', async () => {
  await selectBackend('wasm');
  const r = await runExperiment({ file: experiment('cond'), resultsRoot: path.join(dir, 'a'), log: () => {} });
  const rows = readRows(path.join(r.dir, 'metrics.jsonl'));
  assert.equal([...new Set(rows.map((x) => x.point))].sort(), [
    'c~ema:0.05|euler(guidance=1)|3|0', 'c~ema:0.05|euler(guidance=3)|3|0', 'c~ema:0.05|euler(guidance=3,guidanceInterval=[1;20])|3|0',
    'c~ema:0.15|euler(guidance=1)|3|0', 'c~ema:0.15|euler(guidance=3)|3|0', 'c~ema:0.15|euler(guidance=3,guidanceInterval=[1;20])|3|0',
  ].sort());
  const nfe = (s: string) => rows.find((x) => x.sampler === s && x.metric === 'nfe')!.value;
  assert.is(nfe('euler(guidance=1)'), 3);
  assert.is(nfe('euler(guidance=3)'), 6);
  const inInterval = nfe('euler(guidance=3,guidanceInterval=[1;20])');
  assert.ok(inInterval > 3 && inInterval < 6, `interval NFE ${inInterval}`);
  for (const x of rows) {
    assert.ok(x.ema === 0.05 || x.ema === 0.15);
    assert.ok([1, 3].includes(x.guidance!));
  }
  const acc = rows.filter((x) => x.metric === 'class_acc@lenet-mnist');
  assert.is(acc.length, 6);
  for (const a of acc) assert.ok(a.ci_low! <= a.value && a.value <= a.ci_high! && a.n === 40, JSON.stringify(a));
  assert.is(rows.filter((x) => x.metric === 'fid_class@lenet-mnist').length, 6);
  // The two EMA lengths are different weights: their samples differ.
  const fidOf = (ema: number) => rows.find((x) => x.ema === ema && x.sampler === 'euler(guidance=3)' && x.metric === 'fid@lenet-mnist')!.value;
  assert.not.equal(fidOf(0.05), fidOf(0.15));
  // The network on real training images (true labels) is the class metric's reference line.
  const floors = JSON.parse(fs.readFileSync(path.join(r.dir, 'floors.json'), 'utf8'));
  assert.ok(floors['class_acc@lenet-mnist'].value > 0.9, JSON.stringify(floors['class_acc@lenet-mnist']));
  const charts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json')).sort();
  for (const c of ['quality-vs-guidance-class_acc.vl.json', 'quality-vs-guidance-fid.vl.json', 'quality-vs-guidance-fid_class.vl.json', 'quality-vs-ema-fid.vl.json', 'quality-vs-guidance-fid-mlp-mnist.vl.json']) assert.ok(charts.includes(c), charts.join(', '));
  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  for (const c of charts) assert.ok(validate(JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', c), 'utf8'))), `${c}: ${JSON.stringify(validate.errors?.slice(0, 2))}`);

  // Batch size 16 instead of all 40 at once: every sample, hence every feature row, is the same.
  const b = await runExperiment({ file: experiment('cond', { batchSize: 16 }), resultsRoot: path.join(dir, 'b'), log: () => {} });
  const feats = fs.readdirSync(path.join(r.dir, 'features')).filter((f) => !f.startsWith('real'));
  // Six points, each in both feature spaces (the LeNet and the MLP).
  assert.is(feats.length, 12);
  assert.is(feats.filter((f) => f.endsWith('@mlp-mnist.npy')).length, 6);
  for (const f of feats) assert.equal(Array.from(readNpy(path.join(b.dir, 'features', f)).data), Array.from(readNpy(path.join(r.dir, 'features', f)).data), f);
});

test.run();
