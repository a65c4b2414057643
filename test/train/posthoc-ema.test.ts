// Post-hoc EMA (EDM2) against direct computation: power-function EMAs of a known synthetic trajectory,
// reconstructed from snapshots of two other lengths; and the training loop's snapshots and resume.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { loadWeights, parseWeights } from '../../src/train/checkpoint.js';
import { gammaToSigmaRel, listSnapshots, posthocCoefficients, profileDot, reconstructPosthoc, sigmaRelToGamma } from '../../src/train/posthoc-ema.js';
import { train, type TrainTask } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-phema-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('σ_rel ↔ γ: EDM2’s values (σ_rel 0.05 → γ = 16.97, 0.10 → γ = 6.94) and the profile width by quadrature', () => {
  assert.ok(Math.abs(sigmaRelToGamma(0.05) - 16.97) < 0.005, String(sigmaRelToGamma(0.05)));
  assert.ok(Math.abs(sigmaRelToGamma(0.1) - 6.94) < 0.005, String(sigmaRelToGamma(0.1)));
  for (const s of [0.02, 0.05, 0.1, 0.2]) {
    const g = sigmaRelToGamma(s);
    assert.ok(Math.abs(gammaToSigmaRel(g) - s) < 1e-9);
    // The standard deviation of p(τ) = (γ+1)τ^γ on [0, 1] (the profile relative to the training time), by the midpoint rule.
    let m1 = 0, m2 = 0;
    const n = 200000;
    for (let i = 0; i < n; i++) { const t = (i + 0.5) / n, p = (g + 1) * t ** g / n; m1 += p * t; m2 += p * t * t; }
    assert.ok(Math.abs(Math.sqrt(m2 - m1 * m1) - s) < 1e-4, `σ_rel ${s}`);
  }
  assert.throws(() => sigmaRelToGamma(0.3), /σ_rel must lie/);
  // ⟨p_a, p_b⟩ by quadrature.
  const [ta, ga, tb, gb] = [600, 3.5, 1000, 7];
  let q = 0;
  const n = 100000;
  for (let i = 0; i < n; i++) { const t = ((i + 0.5) / n) * ta; q += ((ga + 1) * t ** ga / ta ** (ga + 1)) * ((gb + 1) * t ** gb / tb ** (gb + 1)) * (ta / n); }
  assert.ok(Math.abs(q / profileDot(ta, ga, tb, gb) - 1) < 1e-6);
  assert.ok(Math.abs(profileDot(tb, gb, ta, ga) / profileDot(ta, ga, tb, gb) - 1) < 1e-12, 'symmetric');
  // Short EMAs late in training: γ ≈ 100 at t = 2000 stays finite (t^γ alone would overflow).
  const g = sigmaRelToGamma(0.01);
  assert.ok(Math.abs(profileDot(2000, g, 2000, g) - (g + 1) ** 2 / ((2 * g + 1) * 2000)) < 1e-12);
  const fit = posthocCoefficients([250, 500, 1000, 2000].flatMap((t) => [{ t, gamma: 16.97 }, { t, gamma: 6.94 }]), { t: 2000, gamma: g });
  assert.ok(fit.x.every(Number.isFinite) && Number.isFinite(fit.relError), JSON.stringify(fit));
});

test('a known EMA of a synthetic trajectory is reconstructed from snapshots of two other lengths', () => {
  const T = 2000, every = 100, tracked = [0.05, 0.1], targets = [0.03, 0.07, 0.15];
  const theta = (t: number) => [Math.sin(t / 300), (t / T) ** 2, Math.cos(t / 170) * Math.exp(-t / 1500)];
  const run = (sr: number) => {
    const g = sigmaRelToGamma(sr), snaps: number[][] = [];
    let avg = [0, 0, 0];
    for (let t = 1; t <= T; t++) {
      const b = (1 - 1 / t) ** (g + 1), th = theta(t);
      avg = avg.map((a, j) => b * a + (1 - b) * th[j]);
      if (t % every === 0) snaps.push(avg);
    }
    return snaps;
  };
  const snapshots = tracked.map(run);
  const profiles = [], values: number[][] = [];
  for (let k = 0; k < T / every; k++) for (let i = 0; i < tracked.length; i++) { profiles.push({ t: (k + 1) * every, gamma: sigmaRelToGamma(tracked[i]) }); values.push(snapshots[i][k]); }
  for (const sr of targets) {
    const want = run(sr)[T / every - 1];
    const { x, relError } = posthocCoefficients(profiles, { t: T, gamma: sigmaRelToGamma(sr) });
    const got = [0, 1, 2].map((j) => x.reduce((s, xi, i) => s + xi * values[i][j], 0));
    got.forEach((v, j) => assert.ok(Math.abs(v - want[j]) < 0.01, `σ_rel ${sr} component ${j}: ${v} vs ${want[j]} (profile fit error ${relError})`));
    assert.ok(relError < 0.2, `σ_rel ${sr}: profile fit error ${relError}`);
    // The direct EMA of another length is clearly different: the test can tell lengths apart.
    const other = run(sr === 0.15 ? 0.03 : 0.15)[T / every - 1];
    assert.ok(other.some((v, j) => Math.abs(v - want[j]) > 0.05));
  }
  // A tracked length at the last snapshot is reproduced by (nearly) that snapshot alone.
  const { x } = posthocCoefficients(profiles, { t: T, gamma: sigmaRelToGamma(0.1) });
  assert.ok(Math.abs(x[x.length - 1] - 1) < 1e-3, `coefficient ${x[x.length - 1]}`);
});

test('coefficients sum to 1: a constant parameter is reconstructed exactly, a tracked length equals its direct EMA, and any other stays within the profile-fit bound', () => {
  const T = 1000, tracked = [0.05, 0.1];
  const theta = (t: number) => [Math.sin(t / 300), (t / T) ** 2, Math.cos(t / 170) * Math.exp(-t / 1500), 0.8];
  const direct = (sr: number, every: number) => {
    const g = sigmaRelToGamma(sr), snaps: number[][] = [];
    let avg = [0, 0, 0, 0];
    for (let t = 1; t <= T; t++) {
      const b = (1 - 1 / t) ** (g + 1), th = theta(t);
      avg = avg.map((a, j) => b * a + (1 - b) * th[j]);
      if (t % every === 0) snaps.push(avg);
    }
    return snaps;
  };
  // ‖θ_j‖ over the run, for the Cauchy–Schwarz bound |∫(p̂ − p)θ| ≤ ‖p̂ − p‖·‖θ‖ = relError·‖p‖·‖θ‖.
  const norms = [0, 1, 2].map((j) => { let s = 0; for (let t = 1; t <= T; t++) s += theta(t)[j] ** 2; return Math.sqrt(s); });
  for (const every of [100, 250]) {
    const snaps = tracked.map((s) => direct(s, every));
    const profiles: { t: number; gamma: number }[] = [], values: number[][] = [];
    for (let k = 0; k < T / every; k++) for (let i = 0; i < tracked.length; i++) { profiles.push({ t: (k + 1) * every, gamma: sigmaRelToGamma(tracked[i]) }); values.push(snaps[i][k]); }
    for (const sr of [0.03, 0.05, 0.07, 0.1, 0.15, 0.2]) {
      const g = sigmaRelToGamma(sr), want = direct(sr, every)[T / every - 1];
      const { x, relError } = posthocCoefficients(profiles, { t: T, gamma: g });
      const got = [0, 1, 2, 3].map((j) => x.reduce((s, xi, i) => s + xi * values[i][j], 0));
      assert.ok(Math.abs(x.reduce((a, b) => a + b, 0) - 1) < 1e-12, 'coefficients sum to 1');
      assert.ok(Math.abs(got[3] - 0.8) <= 1e-6, `every ${every}, σ_rel ${sr}: a constant 0.8 comes back as ${got[3]}`);
      if (tracked.includes(sr)) for (let j = 0; j < 3; j++) assert.ok(Math.abs(got[j] - want[j]) <= 1e-4, `every ${every}, tracked σ_rel ${sr}: ${got[j]} vs ${want[j]}`);
      const pn = Math.sqrt(profileDot(T, g, T, g));
      for (let j = 0; j < 3; j++) assert.ok(Math.abs(got[j] - want[j]) <= relError * pn * norms[j] + 1e-9, `every ${every}, σ_rel ${sr}, component ${j}`);
    }
  }
});

/** A linear model y = w·x trained on a fixed problem: the weights move smoothly, so EMAs differ. */
function linearTask(): { t: TrainTask; w: tf.Variable } {
  const w = tf.variable(tf.zeros([4, 1]), true);
  const X = tf.tensor2d(new Rng(1).normals(32 * 4), [32, 4]), Y = tf.tensor2d(new Rng(2).normals(32), [32, 1]);
  return {
    w,
    t: { params: new Map([['w', w]]), datasetSize: 32, loss: (idx) => tf.tidy(() => tf.gather(X, Array.from(idx)).matMul(w).sub(tf.gather(Y, Array.from(idx))).square().mean() as tf.Scalar) },
  };
}

const OPTS = { steps: 40, batchSize: 8, seed: 3, lr: { base: 0.05, warmupSteps: 0, totalSteps: 40, decay: 'constant' as const, minFactor: 1 }, adam: { weightDecay: 0 }, emaDecay: 0.9, checkpointEvery: 10, config: {}, posthoc: { sigmaRels: [0.05, 0.1], every: 10 } };

test('training keeps snapshots; a resumed run continues its power EMAs exactly; --weights ema:σ loads the reconstruction', () => {
  const straight = path.join(dir, 'straight'), resumed = path.join(dir, 'resumed');
  const a = linearTask();
  train(a.t, { ...OPTS, outDir: straight }).ema.dispose();
  const b = linearTask();
  train(b.t, { ...OPTS, steps: 20, lr: { ...OPTS.lr, totalSteps: 40 }, outDir: resumed }).ema.dispose();
  const c = linearTask();
  train(c.t, { ...OPTS, outDir: resumed, resume: true }).ema.dispose();
  assert.equal(listSnapshots(straight).files.map((f) => f.step), [10, 20, 30, 40]);
  for (const sr of [0.05, 0.1, 0.07]) {
    const r1 = reconstructPosthoc(straight, sr), r2 = reconstructPosthoc(resumed, sr);
    assert.equal(Array.from(r1.weights.get('w')!.data), Array.from(r2.weights.get('w')!.data), `σ_rel ${sr}: resumed = straight`);
  }
  // The tracked σ_rel 0.1 at step 40 is that snapshot's EMA; 0.02 and 0.2 differ from each other.
  const w = tf.variable(tf.zeros([4, 1]));
  loadWeights(path.join(straight, 'step-000040'), new Map([['w', w]]), parseWeights('ema:0.1'));
  const snap = reconstructPosthoc(straight, 0.1).weights.get('w')!.data;
  const got = w.dataSync();
  snap.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-6));
  const lo = reconstructPosthoc(straight, 0.03).weights.get('w')!.data, hi = reconstructPosthoc(straight, 0.2).weights.get('w')!.data;
  assert.ok(Array.from(lo).some((v, i) => Math.abs(v - hi[i]) > 1e-3));
  // Lengths four snapshots cannot express, a step past the last snapshot, absurd lengths: refused,
  // naming the bound and the range that can be reconstructed, with nothing written.
  assert.throws(() => reconstructPosthoc(straight, 0.02), /σ_rel 0\.02 at step 40: the 4 snapshots \(σ_rel 0\.05, 0\.1\) fit its averaging profile with 36\.\d% error, above the 25% bound; with these snapshots σ_rel 0\.026–0\.21 reconstructs within it/);
  assert.throws(() => reconstructPosthoc(straight, 0.05, 1_000_000), /at step 1000000: the last snapshot is at step 40/);
  assert.throws(() => reconstructPosthoc(straight, 1e-300), /σ_rel 1e-300 .* (unbounded|\d+\.\d%) error/);
  assert.throws(() => reconstructPosthoc(straight, 0.05, 7), /no post-hoc EMA snapshots up to step 7/);
  assert.throws(() => parseWeights('ema:0.5'), /--weights: ema:<σ_rel> needs σ_rel in \(0, 0\.2887\)/);
  assert.throws(() => parseWeights('ema:x'), /expected model, ema or ema:<σ_rel>/);
  tf.dispose([a.w, b.w, c.w, w]);
});

test('difflab ema refuses a reconstruction past its bound and writes nothing; warns above 10%, and --strict refuses there', () => {
  const run = path.join(dir, 'cli-run');
  fs.mkdirSync(run, { recursive: true });
  fs.symlinkSync(path.join(dir, 'straight'), path.join(run, 'diffusion'));
  const written = () => fs.readdirSync(path.join(dir, 'straight', 'posthoc')).filter((f) => f.startsWith('ema-')).sort();
  const before = written();
  for (const args of [['--sigma-rel', '0.05', '--step', '1000000'], ['--sigma-rel', '0.05,0.02'], ['--sigma-rel', '1e-12']]) {
    const r = spawnSync('node', [BIN, 'ema', '--run', run, ...args], { encoding: 'utf8' });
    assert.is.not(r.status, 0, args.join(' '));
    assert.match(r.stderr, /difflab: post-hoc EMA/);
    assert.equal(written(), before, `${args.join(' ')} wrote nothing`);
  }
  // 0.03 fits with ~11% error here: written with a warning; refused under --strict.
  const warn = spawnSync('node', [BIN, 'ema', '--run', run, '--sigma-rel', '0.03'], { encoding: 'utf8' });
  assert.is(warn.status, 0, warn.stderr);
  assert.match(warn.stderr, /warning: σ_rel 0\.03: profile fit error \d+\.\d% is above 10%/);
  const strict = spawnSync('node', [BIN, 'ema', '--run', run, '--sigma-rel', '0.03', '--strict'], { encoding: 'utf8' });
  assert.is.not(strict.status, 0);
  assert.match(strict.stderr, /above the 10% bound/);
});

test.run();
