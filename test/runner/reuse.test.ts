// Training once for many experiments: latent models with the same seed, data and vae block share one
// autoencoder; a model referenced from another experiment's file (FILE#/models/NAME) is found under
// results/ by its config hash and not trained again. On the same tiny run: the autoencoders'
// reconstruction metrics, the out-of-distribution metrics, and the charts of the paper experiments
// (training steps, likelihood vs quality, shift, autoencoders, OOD), each compiled against the
// Vega-Lite schema.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import { FASHION_MNIST_DIR } from '../../src/data/sources.js';
import { packageFile } from '../../src/plots/report.js';
import { loadExperiment } from '../../src/runner/config.js';
import { shareAutoencoder } from '../../src/runner/models.js';
import { autoencoderGroups, resolveModelDir, runExperiment } from '../../src/runner/run.js';
import '../helpers/cache.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-reuse-'));
const results = path.join(dir, 'results');
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.before(async () => { await selectBackend('wasm'); });

// Fashion-MNIST comes from Debian's dataset-fashion-mnist (.ci/run installs it).
const haveFashion = fs.existsSync(FASHION_MNIST_DIR);
if (!haveFashion) console.log(`note: ${FASHION_MNIST_DIR} is missing (apt-get install dataset-fashion-mnist): the ood metric is not tested here`);

const model = (name: string, weighting: string) => `
    name: ${name}
    seed: 1
    backend: latent
    data: { name: mnist, limit: 32, resize: [16, 16] }
    vae: { model: { channels: 8, channelMult: [1, 2], latentChannels: 2 }, loss: { reconstruction: l1, klWeight: 1.0e-6 }, train: { steps: 3, batchSize: 8, lr: 1.0e-3, checkpointEvery: 2 } }
    diffusion:
      model: { channels: 8, channelMult: [1, 2], attentionResolutions: [] }
      objective: flow
      schedule: null
      weighting: ${weighting}
      train: { steps: 3, batchSize: 8, lr: 1.0e-3, checkpointEvery: 2 }`;

const fileA = path.join(dir, 'reuse-a.yaml');
fs.writeFileSync(fileA, `name: reuse-a
models:
  a:${model('reuse-lat-a', 'simple')}
  b:${model('reuse-lat-b', 'min-snr')}
grid:
  backends: [a, b]
  samplers: [{ name: euler, shift: 0.5 }, { name: euler, shift: 2 }]
  steps: [2]
  checkpoints: [2, 3]
  metrics: [fid, nll, recon, ${haveFashion ? 'ood, ' : ''}cost]
eval: { n: 16, realN: 64, nllN: 8, nllTerms: 2, bootstrap: 10, kidSubsets: 2, kidSubsetSize: 8${haveFashion ? ', ood: { name: fashion-mnist }' : ''} }
charts: [quality-vs-training-steps, likelihood-vs-quality, quality-vs-shift, autoencoders${haveFashion ? ', ood-likelihood' : ''}]
`);

let lines: string[] = [];
const log = (l: string) => { lines.push(l); };

test('latent models with the same seed, data and vae block train one autoencoder; the second copies it', async () => {
  // Before training, the two models form one group (run --jobs trains its autoencoder first).
  assert.equal(autoencoderGroups(loadExperiment(fileA), ['a', 'b'], results), [['a', 'b']]);
  lines = [];
  const r = await runExperiment({ file: fileA, resultsRoot: results, log });
  const exp = loadExperiment(fileA);
  const [da, db] = [resolveModelDir(exp, 'a', results), resolveModelDir(exp, 'b', results)];
  assert.ok(lines.some((l) => /\] b: autoencoder reused from .*reuse-a\/models\/a-/.test(l)), lines.filter((l) => l.includes('autoencoder')).join('\n'));
  assert.not.ok(lines.some((l) => /\] a: autoencoder reused/.test(l)));
  assert.equal(autoencoderGroups(exp, ['a', 'b'], results), []);
  const vae = (d: string) => fs.readFileSync(path.join(d, 'vae', 'step-000003.safetensors'));
  assert.ok(vae(da).equals(vae(db)), 'the same autoencoder weights');
  // The diffusion stages are each model's own.
  assert.not.ok(fs.readFileSync(path.join(da, 'diffusion', 'step-000003.safetensors')).equals(fs.readFileSync(path.join(db, 'diffusion', 'step-000003.safetensors'))));

  // Reconstructions: one point per model, rFID and its floor (the same test images unreconstructed).
  // One rFID per feature space (the LeNet and the MLP), each with the floor in that space.
  const rf = r.rows.filter((x) => x.metric.startsWith('rfid@'));
  assert.equal(rf.map((x) => `${x.backend} ${x.metric}`).sort(), ['a rfid@lenet-mnist', 'a rfid@mlp-mnist', 'b rfid@lenet-mnist', 'b rfid@mlp-mnist']);
  for (const x of rf) {
    const floor = r.rows.find((y) => y.backend === x.backend && y.metric === x.metric.replace('rfid@', 'rfid-floor@'))!;
    assert.ok(x.value > floor.value, `${x.backend}: rFID ${x.value} above its floor ${floor.value} for a 3-step autoencoder`);
  }
  const psnr = r.rows.filter((x) => x.metric === 'psnr');
  assert.is(psnr.length, 2);
  for (const x of psnr) assert.ok(Number.isFinite(x.value) && x.value > 0 && x.value < 40, String(x.value));
  // Shifted grids are recorded as such.
  assert.equal([...new Set(r.rows.filter((x) => x.metric.startsWith('fid@')).map((x) => x.shift))].sort(), [0.5, 2]);

  if (haveFashion) {
    for (const s of ['raw', 'typicality', 'complexity']) {
      const rows = r.rows.filter((x) => x.metric === `auroc-${s}`);
      assert.is(rows.length, 2, s);
      for (const x of rows) assert.ok(x.value >= 0 && x.value <= 1 && x.ci_low! <= x.value && x.value <= x.ci_high!, `${s}: ${x.value} [${x.ci_low}, ${x.ci_high}]`);
    }
    assert.ok(fs.existsSync(path.join(r.dir, 'ood')));
  }

  const schema = JSON.parse(fs.readFileSync(packageFile('vega-lite', 'build/vega-lite-schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false }).compile(schema);
  const charts = fs.readdirSync(path.join(r.dir, 'charts')).filter((c) => c.endsWith('.vl.json')).sort();
  const expected = ['autoencoders', 'bits-per-dim-vs-training-steps', 'likelihood-vs-quality-fid', 'quality-vs-shift-fid', 'quality-vs-training-steps-fid', ...(haveFashion ? ['ood-auroc', 'ood-histograms'] : [])];
  for (const e of expected) assert.ok(charts.includes(`${e}.vl.json`), `${e} in ${charts.join(', ')}`);
  for (const c of charts) {
    const spec = JSON.parse(fs.readFileSync(path.join(r.dir, 'charts', c), 'utf8'));
    assert.ok(validate(spec), `${c}: ${JSON.stringify(validate.errors?.slice(0, 2))}`);
    assert.ok(fs.existsSync(path.join(r.dir, 'charts', c.replace('.vl.json', '.svg'))), `${c}: rendered`);
  }
});

test('an autoencoder stage stopped before its first checkpoint is set aside, not overwritten, when a finished one is shared in', () => {
  const exp = loadExperiment(fileA);
  const out = path.join(dir, 'interrupted-model');
  const vaeDir = path.join(out, 'vae');
  fs.mkdirSync(vaeDir, { recursive: true });
  fs.writeFileSync(path.join(vaeDir, 'loss.jsonl'), '{"step":1,"loss":0.5}\n');
  // a half-made copy left by a process that died while copying
  fs.mkdirSync(path.join(out, `vae.copy-${2 ** 22 + 19}`));
  // the lock of a process that is gone
  fs.writeFileSync(path.join(vaeDir, '.lock'), JSON.stringify({ pid: 2 ** 22 + 17, host: os.hostname(), command: 'difflab run x', since: '2026-01-01T00:00:00.000Z' }) + '\n');
  const donor = shareAutoencoder({ ...exp.models.b, out } as never, results);
  assert.ok(donor, 'a finished autoencoder with the same seed, data and vae block is found');
  assert.ok(fs.existsSync(path.join(vaeDir, 'step-000003.safetensors')));
  const aside = fs.readdirSync(out).filter((f) => f.startsWith('vae.interrupted-'));
  assert.is(aside.length, 1);
  assert.equal(fs.readdirSync(out).filter((f) => f.startsWith('vae.copy-')), []);
  assert.is(fs.readFileSync(path.join(out, aside[0], 'loss.jsonl'), 'utf8'), '{"step":1,"loss":0.5}\n');
  // A stage whose process still runs is not touched.
  const out2 = path.join(dir, 'running-model');
  fs.mkdirSync(path.join(out2, 'vae'), { recursive: true });
  fs.writeFileSync(path.join(out2, 'vae', '.lock'), JSON.stringify({ pid: process.ppid, host: os.hostname(), command: 'difflab run y', since: new Date().toISOString() }) + '\n');
  assert.throws(() => shareAutoencoder({ ...exp.models.b, out: out2 } as never, results), /in use by process/);
  assert.not.ok(fs.existsSync(path.join(out2, 'vae', 'step-000003.safetensors')));
});

test('a model referenced from another experiment (FILE#/models/NAME) is reused, not trained again', async () => {
  const fileB = path.join(dir, 'reuse-b.yaml');
  fs.writeFileSync(fileB, `name: reuse-b
models:
  again: { $ref: reuse-a.yaml#/models/a }
grid: { backends: [again], metrics: [nll] }
eval: { nllN: 4, nllTerms: 2 }
`);
  const expA = loadExperiment(fileA), expB = loadExperiment(fileB);
  assert.is(expB.models.again.name, 'reuse-lat-a');
  assert.is(resolveModelDir(expB, 'again', results), resolveModelDir(expA, 'a', results));
  lines = [];
  await runExperiment({ file: fileB, resultsRoot: results, stage: 'train', log });
  assert.ok(lines.some((l) => /again: reusing .*reuse-a\/models\/a-/.test(l)), lines.join('\n'));
  assert.not.ok(fs.existsSync(path.join(results, 'reuse-b', 'models')));

  fs.writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nmodels:\n  x: { $ref: reuse-a.yaml#/models/nope }\n');
  assert.throws(() => loadExperiment(path.join(dir, 'bad.yaml')), /bad\.yaml: models\.x\.\$ref: reuse-a\.yaml has nothing at \/models\/nope \('nope' not found\)/);
});

test.run();
