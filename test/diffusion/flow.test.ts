import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analyticBackend } from '../../src/backends/analytic.js';
import type { SamplingModel } from '../../src/backends/types.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { noiseLevels, sd3ShiftT, shiftFactor, shiftLogSnr, type NoiseLevels } from '../../src/diffusion/noise-levels.js';
import { OBJECTIVES, type Objective, type ObjectiveContext } from '../../src/diffusion/objectives/index.js';
import { parseSamplerSetting, planSampling, sampleLatents } from '../../src/diffusion/sampling.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { x0Weight } from '../../src/diffusion/weighting.js';
import { slicedWasserstein2 } from '../../src/metrics/sliced-wasserstein.js';
import { gmmFromSpec, gmmSample } from '../../src/models/gmm.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('wasm'); });

const linear = discreteSchedule('linear');
const ctx: ObjectiveContext = { schedule: linear, sigmaData: 0.5 };

test('flow predicts the velocity ε − x0', () => {
  for (const sigma of [0.01, 1, 150]) assert.equal(OBJECTIVES.flow.target(sigma, ctx), { x0: -1, eps: 1 });
});

test('flow ↔ σ space: x_t = (1−t)·x0 + t·ε is x = x0 + σε scaled by 1−t, and D is x_t − t·F', () => {
  const rng = new Rng(2);
  for (const t of [0.001, 0.2, 0.5, 0.9, 0.999]) {
    const sigma = OBJECTIVES.flow.timeMap(ctx).sigma(t);
    assert.ok(Math.abs(sigma - t / (1 - t)) < 1e-12 * sigma);
    assert.ok(Math.abs(OBJECTIVES.flow.timeMap(ctx).t(sigma) - t) < 1e-12);
    const x0 = rng.normal(), e = rng.normal(), F = rng.normal();
    const xt = (1 - t) * x0 + t * e, x = x0 + sigma * e;
    assert.ok(Math.abs(x * (1 - t) - xt) < 1e-12);
    const p = OBJECTIVES.flow.precond(sigma, ctx);
    assert.ok(Math.abs(p.cIn * x - xt) < 1e-12, 'the network sees x_t');
    assert.ok(Math.abs(p.cSkip * x + p.cOut * F - (xt - t * F)) < 1e-12, 'D = x_t − t·F');
    assert.ok(Math.abs(p.cNoise - 1000 * t) < 1e-9);
  }
});

/** The flow objective's sampling model on the mixture: native grid uniform in t, start x_1 = z. */
function flowOnMixture(gmmSpec: unknown) {
  const base = analyticBackend(gmmFromSpec(gmmSpec));
  const o = OBJECTIVES.flow;
  const sampling: SamplingModel = {
    objective: 'flow', sigmaRange: o.sigmaRange(ctx), nativeGrid: o.nativeGrid, timeMap: o.timeMap(ctx), shift: 1,
    priorScale: (s) => 1 / o.precond(s, ctx).cIn,
  };
  return { ...base, sampling };
}

test('on the exact mixture, flow-Euler in t equals Euler in σ on the uniform-t grid, and 200 steps draw the mixture', () => {
  const spec = { weights: [0.3, 0.7], means: [[-2, 0.5], [1.5, -1]], stds: [0.3, 0.5] };
  const b = flowOnMixture(spec), n = 400, steps = 12;
  const z = new Rng(3).normals(n * 2);
  const setting = parseSamplerSetting({ name: 'euler', grid: 'uniform-t' });
  const viaSigma = sampleLatents(b, { setting, steps, z, rng: new Rng(4) });
  // Flow Euler written in t: x_1 = z, v = (x_t − x̂0)/t, x_{t'} = x_t + (t' − t)·v, from t_max to 0.
  const plan = planSampling(b.sampling, setting, steps);
  const tMax = b.sampling.timeMap.t(b.sampling.sigmaRange[1]);
  assert.ok(Math.abs(plan.initScale - (1 + plan.sigmas[0])) < 1e-9);
  let xt = tf.tensor(z, [n, 2]);
  for (let i = 0; i < steps; i++) {
    const t = tMax * (1 - i / steps), tNext = tMax * (1 - (i + 1) / steps), sigma = t / (1 - t);
    const den = b.denoiser(xt.div(1 - t), sigma);
    const next = tf.tidy(() => xt.add(xt.sub(den).div(t).mul(tNext - t)));
    tf.dispose([den, xt]);
    xt = next;
  }
  const a = viaSigma.x.dataSync(), c = xt.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - c[i]));
  // Equal up to float32 rounding: the σ-space state starts at (1 + σ_max)·z ≈ 1000·z.
  assert.ok(worst < 2e-3, `max |Δ| ${worst}`);
  tf.dispose([viaSigma.x, xt]);
  // A fine grid samples the mixture itself: sliced W2 within the metric's own floor (two exact sets).
  const fine = sampleLatents(b, { setting, steps: 200, z: new Rng(5).normals(2000 * 2), rng: new Rng(6) });
  const truth = gmmSample(b.gmm, 2000, new Rng(7)), other = gmmSample(b.gmm, 2000, new Rng(8));
  const sw = slicedWasserstein2(Float64Array.from(fine.x.dataSync()), truth, 2, new Rng(9));
  const floor = slicedWasserstein2(other, truth, 2, new Rng(9));
  assert.ok(sw < 2 * floor + 0.02, `SW2 ${sw} vs floor ${floor}`);
  fine.x.dispose();
});

test('shifts: SD3 time shift and simple diffusion log-SNR shift are σ × α, on training levels and grids', () => {
  for (const t of [0.05, 0.3, 0.5, 0.8, 0.99]) {
    for (const alpha of [0.5, 2, 3]) {
      const sigma = t / (1 - t), ts = sd3ShiftT(t, alpha);
      assert.ok(Math.abs(ts / (1 - ts) - alpha * sigma) < 1e-12 * alpha * sigma, `SD3 t=${t} α=${alpha}`);
    }
    const sigma = t / (1 - t), logSnr = -2 * Math.log(sigma);
    const shifted = shiftLogSnr(logSnr, 64, 256);
    assert.ok(Math.abs(shifted - -2 * Math.log(sigma * shiftFactor({ base: 64, resolution: 256 }))) < 1e-12);
  }
  assert.is(shiftFactor({ base: 64, resolution: 256 }), 4);
  // Shifted training levels are the unshifted ones × α, draw for draw.
  for (const spec of [{ distribution: 'log-normal', pMean: -1.2, pStd: 1.2 }, { distribution: 'logit-normal', m: 0, s: 1 }, { distribution: 'uniform' }] as const) {
    const plain = noiseLevels(spec, OBJECTIVES.flow, ctx).sample(new Rng(10), 50);
    const shifted = noiseLevels({ ...spec, shift: 3 }, OBJECTIVES.flow, ctx).sample(new Rng(10), 50);
    plain.forEach((v, i) => assert.ok(Math.abs(shifted[i] - 3 * v) < 1e-12 * shifted[i], `${spec.distribution} draw ${i}`));
  }
  // The flow grid with shift α is SD3's: t'_i = α·t_i/(1 + (α−1)·t_i) on t_i = t_max·(1 − i/N).
  const b = flowOnMixture({ weights: [1], means: [[0]], stds: 1 });
  const plan = planSampling(b.sampling, parseSamplerSetting({ name: 'euler', grid: 'uniform-t', shift: 3 }), 10);
  const tMax = b.sampling.timeMap.t(b.sampling.sigmaRange[1]);
  for (let i = 0; i < 10; i++) {
    const ts = sd3ShiftT(tMax * (1 - i / 10), 3);
    assert.ok(Math.abs(plan.sigmas[i] - ts / (1 - ts)) < 1e-9 * plan.sigmas[i], `grid ${i}`);
  }
  assert.is(plan.sigmas[10], 0);
});

/** ∫ p(λ) dλ over the range the draws cover, by the trapezoid rule on a fine σ grid. */
function integrateDensity(levels: NoiseLevels, sigmaLo: number, sigmaHi: number): number {
  const K = 20000;
  let total = 0, prevL = 0, prevP = 0;
  for (let k = 0; k <= K; k++) {
    const sigma = Math.exp(Math.log(sigmaLo) + (k / K) * (Math.log(sigmaHi) - Math.log(sigmaLo)));
    const l = -2 * Math.log(sigma), p = levels.lambdaDensity(sigma);
    if (k > 0) total += 0.5 * (p + prevP) * Math.abs(l - prevL);
    prevL = l; prevP = p;
  }
  return total;
}

test('λ densities of the noise distributions integrate to 1; logit-normal flow t is log-normal σ', () => {
  const cases: [Objective, Parameters<typeof noiseLevels>[0], number, number][] = [
    [OBJECTIVES.edm, { distribution: 'log-normal', pMean: -1.2, pStd: 1.2 }, 1e-5, 1e5],
    [OBJECTIVES.flow, { distribution: 'logit-normal', m: 0.3, s: 0.8, shift: 2 }, 1e-6, 1e6],
    [OBJECTIVES.flow, { distribution: 'uniform' }, 1e-4 / (1 - 1e-4), 999],
    [OBJECTIVES.edm, { distribution: 'uniform' }, 0.002, 80],
    [OBJECTIVES.v, { distribution: 'logit-normal', m: 0, s: 1 }, linear.sigmas[0], linear.sigmas[999]],
  ];
  for (const [o, spec, lo, hi] of cases) {
    const mass = integrateDensity(noiseLevels(spec, o, ctx), lo, hi);
    assert.ok(Math.abs(mass - 1) < 0.01, `${o.name} ${spec.distribution}: ${mass}`);
  }
  const ln = noiseLevels({ distribution: 'logit-normal', m: 0.3, s: 0.8 }, OBJECTIVES.flow, ctx);
  for (const sigma of [0.1, 1, 4]) {
    const l = -2 * Math.log(sigma), sd = 1.6, mu = -0.6;
    const closed = Math.exp(-0.5 * ((l - mu) / sd) ** 2) / (sd * Math.sqrt(2 * Math.PI));
    assert.ok(Math.abs(ln.lambdaDensity(sigma) - closed) < 1e-5 * closed, `σ=${sigma}`);
  }
});

test('flow-x0 and flow-eps: the network predicts x0 or ε from the flow path\'s x_t = (1−t)·x0 + t·ε', () => {
  const r = new Rng(4);
  for (const t of [0.02, 0.3, 0.9, 0.995]) {
    const sigma = t / (1 - t), x0 = r.normal(), e = r.normal();
    const xt = (1 - t) * x0 + t * e, x = x0 + sigma * e;
    for (const [o, F] of [[OBJECTIVES['flow-x0'], x0], [OBJECTIVES['flow-eps'], e], [OBJECTIVES.flow, e - x0]] as const) {
      const p = o.precond(sigma, ctx);
      // the network sees x_t itself and 1000·t, as flow does
      assert.ok(Math.abs(p.cIn * x - xt) < 1e-12 && Math.abs(p.cNoise - 1000 * t) < 1e-9, `${o.name} t=${t}: input`);
      // D from the true target is x0; flow-eps is x0 = (x_t − t·ε)/(1 − t)
      assert.ok(Math.abs(p.cSkip * x + p.cOut * F - x0) < 1e-9 * (1 + sigma), `${o.name} t=${t}: D`);
    }
    assert.ok(Math.abs((xt - t * e) / (1 - t) - x0) < 1e-12);
  }
});

test('the velocity weighting is JiT\'s v-loss ‖v̂ − v‖² for any prediction target, and the flow objective\'s simple loss', () => {
  const r = new Rng(5);
  const levels = noiseLevels({ distribution: 'logit-normal', m: 0.8, s: 0.8 }, OBJECTIVES.flow, ctx);
  for (const t of [0.05, 0.2, 0.5, 0.97]) {
    const sigma = t / (1 - t), x0 = r.normal(), e = r.normal(), D = r.normal();
    const xt = (1 - t) * x0 + t * e;
    // v = ε − x0 = (x_t − x0)/t; the velocity a denoiser output D implies is (x_t − D)/t
    const vHat = (xt - D) / t, v = e - x0;
    for (const o of [OBJECTIVES['flow-x0'], OBJECTIVES['flow-eps'], OBJECTIVES.flow]) {
      const w = x0Weight({ name: 'velocity' }, sigma, { precond: o.precond(sigma, ctx), sigmaData: 0.5, levels });
      assert.ok(Math.abs(w * (D - x0) ** 2 - (vHat - v) ** 2) < 1e-9 * (vHat - v) ** 2, `${o.name} t=${t}`);
    }
    const simple = x0Weight({ name: 'simple' }, sigma, { precond: OBJECTIVES.flow.precond(sigma, ctx), sigmaData: 0.5, levels });
    assert.ok(Math.abs(simple * t * t - 1) < 1e-9, `flow simple at t=${t}`);
  }
  // below t_min the weight stops growing (JiT clips the denominator at 0.05)
  const w = (t: number, tMin?: number) => x0Weight({ name: 'velocity', tMin }, t / (1 - t), { precond: OBJECTIVES['flow-x0'].precond(t / (1 - t), ctx), sigmaData: 0.5, levels });
  assert.ok(Math.abs(w(0.001) - 400) < 1e-9 && Math.abs(w(0.01, 0.02) - 2500) < 1e-6);
});

test.run();
