import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import type { Backbone } from '../../src/backends/diffusion-model.js';
import { latestCheckpoint, loadCheckpoint } from '../../src/train/checkpoint.js';
import { train, TrainingDivergedError, type TrainOptions, type TrainTask } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { diffusionModel } from '../helpers/models.js';

test.before(async () => { await selectBackend('wasm'); });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-train-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const MODEL = { channels: 8, channelMult: [1, 2], numResBlocks: 1, attentionResolutions: [4], dropout: 0.1 };

test('the denoiser turns the network output into x0 as each objective says', () => {
  // A fresh UNet outputs exactly 0 (zero-initialised output conv), so D(x, σ) = c_skip·x has a closed
  // form: eps → x (x0 = x_t/α); x0 → 0; v → x/(1 + σ²) (x0 = α·x_t); edm → σ_d²/(σ² + σ_d²)·x;
  // flow → x/(1 + σ) (x0 = x_t at velocity 0).
  const x = tf.tensor4d(new Rng(2).normals(2 * 64), [2, 8, 8, 1]), sigma = 1.7, sd = 0.5;
  const xv = x.dataSync();
  const expect: Record<string, (v: number) => number> = {
    eps: (v) => v, x0: () => 0, v: (v) => v / (1 + sigma * sigma), edm: (v) => (v * sd * sd) / (sigma * sigma + sd * sd), flow: (v) => v / (1 + sigma),
  };
  for (const objective of Object.keys(expect)) {
    const m = diffusionModel({ objective, model: MODEL }, { size: 8, channels: 1 }, 1);
    // Per-sample σ ([B] tensor) and one σ for the batch agree.
    const d = m.D(x, sigma), d2 = m.D(x, tf.tensor1d([sigma, sigma]));
    const dv = d.dataSync(), dv2 = d2.dataSync();
    for (let i = 0; i < dv.length; i++) {
      assert.ok(Math.abs(dv[i] - expect[objective](xv[i])) < 1e-5, `${objective}: ${dv[i]} vs ${expect[objective](xv[i])}`);
      assert.ok(Math.abs(dv2[i] - dv[i]) < 1e-6, `${objective}: per-sample σ`);
    }
    tf.dispose([d, d2]);
    m.dispose();
  }
  x.dispose();
});

function task(seed: number, nanAt?: number): { t: TrainTask; dispose: () => void; model: Backbone } {
  const dm = diffusionModel({ objective: 'v', schedule: { name: 'linear', T: 100 }, weighting: { name: 'min-snr', gamma: 5 }, model: MODEL }, { size: 8, channels: 1 }, seed);
  const model = dm.net;
  const data = tf.tensor4d(new Rng(9).normals(12 * 64).map((v) => Math.tanh(v)), [12, 8, 8, 1]);
  let calls = 0;
  const t: TrainTask = {
    params: model.params.vars,
    datasetSize: 12,
    loss: (idx, rng, s) => {
      const l = dm.loss(tf.gather(data, Array.from(idx)) as tf.Tensor4D, rng, s);
      // A diverged loss is still connected to the parameters: multiply, don't replace.
      return nanAt !== undefined && ++calls > nanAt ? (l.mul(NaN) as tf.Scalar) : l;
    },
  };
  return { t, model, dispose: () => { model.dispose(); data.dispose(); } };
}

const OPTS = (outDir: string): TrainOptions => ({
  steps: 6, batchSize: 4, seed: 3, lr: { base: 2e-3, warmupSteps: 2, totalSteps: 6, decay: 'cosine' }, adam: { weightDecay: 0.01 },
  clipNorm: 1, emaDecay: 0.9, checkpointEvery: 3, outDir, config: { test: true }, label: 'test',
});

test('interrupted + resumed training equals an uninterrupted run; memory is flat; the loss log has every step', () => {
  const a = task(1);
  const counts: number[] = [];
  const ra = train(a.t, { ...OPTS(path.join(dir, 'a')), onStep: () => counts.push(tf.memory().numTensors) });
  assert.is(ra.step, 6);
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor count drifts: ${counts.join(' ')}`);
  const log = fs.readFileSync(path.join(dir, 'a', 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.map((r) => r.step), [1, 2, 3, 4, 5, 6]);

  // Stop after 3 steps, then a fresh process-like start (other init seed) resumes from the checkpoint.
  const b1 = task(1);
  train(b1.t, { ...OPTS(path.join(dir, 'b')), steps: 3, lr: { ...OPTS('').lr } }).ema.dispose();
  b1.dispose();
  // A killed run may have logged steps past its last checkpoint; the resumed run must not repeat them.
  fs.appendFileSync(path.join(dir, 'b', 'loss.jsonl'), JSON.stringify({ step: 4, loss: 9 }) + '\n');
  const b2 = task(7);
  const rb = train(b2.t, { ...OPTS(path.join(dir, 'b')), resume: true });
  assert.is(rb.step, 6);
  const steps = fs.readFileSync(path.join(dir, 'b', 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(steps, [1, 2, 3, 4, 5, 6]);
  for (const [name, v] of a.model.params.vars) assert.equal(Array.from(b2.model.params.get(name).dataSync()), Array.from(v.dataSync()), name);
  for (const [name, v] of ra.ema.shadow) assert.equal(Array.from(rb.ema.shadow.get(name)!.dataSync()), Array.from(v.dataSync()), `EMA ${name}`);
  ra.ema.dispose(); rb.ema.dispose(); a.dispose(); b2.dispose();
});

test('resume survives a torn loss.jsonl line and a missing latest.json; checkpoints are never overwritten without --force', () => {
  const out = path.join(dir, 'robust');
  const a = task(2);
  train(a.t, { ...OPTS(out), steps: 6 }).ema.dispose();
  a.dispose();
  const before = { s3: fs.readFileSync(path.join(out, 'step-000003.safetensors')), s6: fs.readFileSync(path.join(out, 'step-000006.safetensors')) };
  // Killed mid-write: a torn last loss line; and latest.json lost.
  fs.appendFileSync(path.join(out, 'loss.jsonl'), '{"step": 7, "lo');
  fs.rmSync(path.join(out, 'latest.json'));
  const b = task(3);
  const notes: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  (process.stderr as { write: unknown }).write = (chunk: string) => { notes.push(String(chunk)); return true; };
  let r;
  try {
    r = train(b.t, { ...OPTS(out), steps: 9, resume: true });
  } finally {
    (process.stderr as { write: unknown }).write = write;
  }
  assert.is(r.step, 9);
  assert.ok(notes.some((n) => /latest\.json is missing; using the newest intact checkpoint on disk, .*step-000006/.test(n)), notes.join(''));
  assert.ok(notes.some((n) => /resuming from .*step-000006 at step 6/.test(n)), notes.join(''));
  assert.ok(notes.some((n) => /loss\.jsonl: dropped a torn last line \(15 bytes\)/.test(n)), notes.join(''));
  const steps = fs.readFileSync(path.join(out, 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(fs.readFileSync(path.join(out, 'step-000003.safetensors')).equals(before.s3), 'step 3 untouched');
  assert.ok(fs.readFileSync(path.join(out, 'step-000006.safetensors')).equals(before.s6), 'step 6 untouched');
  r.ema.dispose();
  // Starting over in a directory with checkpoints needs --force.
  assert.throws(() => train(b.t, { ...OPTS(out), steps: 3 }), /has checkpoints already \(steps 3, 6, 9\): pass --resume to continue that run, or --force to start it over/);
  const f = train(b.t, { ...OPTS(out), steps: 3, force: true });
  assert.is(f.step, 3);
  assert.not.ok(fs.existsSync(path.join(out, 'step-000006.safetensors')));
  f.ema.dispose();
  b.dispose();
});

test('a second process cannot train into a directory in use; a stale lock of a dead process is taken over', async () => {
  const out = path.join(dir, 'locked');
  fs.mkdirSync(out, { recursive: true });
  const holder = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(path.join(out, '.lock'), JSON.stringify({ pid: holder.pid, host: os.hostname(), command: '/x/bin/difflab.js train --config c.yaml', since: '2026-01-01T00:00:00Z' }));
    const c = task(4);
    assert.throws(() => train(c.t, { ...OPTS(out), steps: 3 }), new RegExp(`training directory .*locked is in use by process ${holder.pid} \\(difflab train --config c\\.yaml, since 2026-01-01`));
    holder.kill('SIGKILL');
    await new Promise((res) => holder.on('exit', res));
    const r = train(c.t, { ...OPTS(out), steps: 3 });
    assert.is(r.step, 3);
    assert.not.ok(fs.existsSync(path.join(out, '.lock')), 'released after training');
    r.ema.dispose();
    c.dispose();
  } finally {
    holder.kill('SIGKILL');
  }
});

test('a NaN loss stops training with the step named, and the last good checkpoint stays loadable', () => {
  const c = task(1, 4); // the 5th loss evaluation is NaN: step 5 as loss.jsonl numbers steps
  const out = path.join(dir, 'nan');
  try {
    train(c.t, OPTS(out)).ema.dispose();
    assert.unreachable('training should have stopped');
  } catch (e) {
    assert.instance(e, TrainingDivergedError);
    assert.match((e as Error).message, /training stopped at step 5: the loss is NaN\. The last good checkpoint, .*step-000003, is kept\./);
  }
  const logged = fs.readFileSync(path.join(out, 'loss.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(logged, [1, 2, 3, 4]);
  const base = latestCheckpoint(out)!;
  assert.match(base, /step-000003$/);
  const fresh = diffusionModel({ model: MODEL }, { size: 8, channels: 1 }, 5);
  assert.is(loadCheckpoint(base, { params: fresh.net.params.vars }).step, 3);
  fresh.dispose();
  c.dispose();
});

test.run();
