import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analyticBackend } from '../../src/backends/analytic.js';
import { selectBackend, tf } from '../../src/compute/backend.js';
import { PreconditionedDenoiser } from '../../src/diffusion/denoiser.js';
import { noiseLevels, sd3ShiftT, shiftFactor, shiftLogSnr, type NoiseLevels } from '../../src/diffusion/noise-levels.js';
import { posterior, vpTarget } from '../../src/diffusion/noise.js';
import { OBJECTIVES, type Objective, type ObjectiveContext } from '../../src/diffusion/objectives/index.js';
import { parseSamplerSetting, planSampling } from '../../src/diffusion/sampling.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { x0Weight, type WeightingSpec } from '../../src/diffusion/weighting.js';
import { gmmDenoiser, gmmFromSpec, gmmSample } from '../../src/models/gmm.js';
import { Rng } from '../../src/util/rng.js';

test.before(async () => { await selectBackend('wasm'); });

const linear = discreteSchedule('linear');
const ctx: ObjectiveContext = { schedule: linear, sigmaData: 0.5 };
const SIGMAS = [0.01, 0.05, 0.3, 1, 2.5, 20, 150];

test('every objective: F = its target reproduces x0 exactly, and the target is (x0 − c_skip·x)/c_out', () => {
  for (const o of Object.values(OBJECTIVES) as Objective[]) {
    for (const sigma of SIGMAS) {
      const p = o.precond(sigma, ctx), t = o.target(sigma, ctx);
      // D = c_skip·(x0 + σε) + c_out·(a·x0 + b·ε) = x0 for all x0, ε:
      assert.ok(Math.abs(p.cSkip + p.cOut * t.x0 - 1) < 1e-12, `${o.name} σ=${sigma}: x0 coefficient`);
      assert.ok(Math.abs(p.cSkip * sigma + p.cOut * t.eps) < 1e-12 * (1 + sigma), `${o.name} σ=${sigma}: ε coefficient`);
    }
  }
});

test('eps/x0/v targets equal the VP closed forms; edm matches Karras et al. Table 1', () => {
  const rng = new Rng(1);
  const x0 = tf.tensor(rng.normals(32)), eps = tf.tensor(rng.normals(32));
  for (const sigma of SIGMAS) {
    const alpha = 1 / Math.sqrt(1 + sigma * sigma), s = sigma * alpha;
    for (const name of ['eps', 'x0', 'v'] as const) {
      const c = OBJECTIVES[name].target(sigma, ctx);
      const ours = x0.mul(c.x0).add(eps.mul(c.eps)), ref = vpTarget(name, x0, eps, alpha, s);
      const d = ours.sub(ref).abs().max().dataSync()[0];
      assert.ok(d < 1e-5, `${name} σ=${sigma}: ${d}`);
      tf.dispose([ours, ref]);
    }
    const e = OBJECTIVES.edm.precond(sigma, ctx), sd = 0.5;
    assert.ok(Math.abs(e.cSkip - sd * sd / (sigma * sigma + sd * sd)) < 1e-15);
    assert.ok(Math.abs(e.cOut - sigma * sd / Math.sqrt(sigma * sigma + sd * sd)) < 1e-15);
    assert.ok(Math.abs(e.cIn - 1 / Math.sqrt(sigma * sigma + sd * sd)) < 1e-15);
    assert.ok(Math.abs(e.cNoise - Math.log(sigma) / 4) < 1e-15);
  }
  // On the schedule's own σ_t the VP objectives feed the integer timestep t to the network.
  for (const t of [0, 1, 17, 500, 999]) assert.ok(Math.abs(OBJECTIVES.eps.precond(linear.sigmas[t], ctx).cNoise - t) < 1e-9, `t=${t}`);
  tf.dispose([x0, eps]);
});

test('shifts multiply σ: simple diffusion\'s log-SNR shift, shifted EDM levels draw for draw, shifted Karras grids', () => {
  for (const sigma of [0.01, 0.5, 7]) {
    const shifted = shiftLogSnr(-2 * Math.log(sigma), 64, 256);
    assert.ok(Math.abs(shifted - -2 * Math.log(sigma * shiftFactor({ base: 64, resolution: 256 }))) < 1e-12);
  }
  assert.is(shiftFactor({ base: 64, resolution: 256 }), 4);
  assert.ok(Math.abs(sd3ShiftT(0.5, 3) - 0.75) < 1e-15);
  const spec = { distribution: 'log-normal', pMean: -1.2, pStd: 1.2 } as const;
  const plain = noiseLevels(spec, OBJECTIVES.edm, ctx).sample(new Rng(10), 50);
  const shifted = noiseLevels({ ...spec, shift: 3 }, OBJECTIVES.edm, ctx).sample(new Rng(10), 50);
  plain.forEach((v, i) => assert.ok(Math.abs(shifted[i] - 3 * v) < 1e-12 * shifted[i], `draw ${i}`));
  const b = analyticBackend(gmmFromSpec({ weights: [1], means: [[0]], stds: 1 }));
  const a = planSampling(b.sampling, parseSamplerSetting('euler'), 6), c = planSampling(b.sampling, parseSamplerSetting({ name: 'euler', shift: 2 }), 6);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(c.sigmas[i] - 2 * a.sigmas[i]) < 1e-12 * c.sigmas[i]);
  assert.is(c.initScale, c.sigmas[0]);
});

test('weightings mean one thing in x0 space; the discrete vlb weight is the bound\'s T·½(SNR_{t−1} − SNR_t)', () => {
  const levels = noiseLevels({ distribution: 'uniform-discrete' }, OBJECTIVES.eps, ctx);
  for (const t of [0, 1, 50, 400, 999]) {
    const sigma = linear.sigmas[t];
    const w = (spec: WeightingSpec, o: Objective = OBJECTIVES.eps) => x0Weight(spec, sigma, { precond: o.precond(sigma, ctx), sigmaData: 0.5, levels });
    const snr = Math.exp(linear.logSnr[t]);
    const expectVlb = t > 0 ? 1000 * 0.5 * (Math.exp(linear.logSnr[t - 1]) - snr) : 1000 / (2 * linear.betas[0]);
    assert.ok(Math.abs(w({ name: 'vlb' }) - expectVlb) < 1e-6 * expectVlb, `vlb t=${t}: ${w({ name: 'vlb' })} vs ${expectVlb}`);
    if (t > 0) {
      // The bound's term KL(q(x_{t−1}|x_t,x0) ‖ p_θ) with σ_t² = β̃_t is coefX0²·‖x0 − x̂0‖²/(2β̃_t).
      const p = posterior(linear, t);
      const kl = (p.coefX0 * p.coefX0) / (2 * p.variance);
      assert.ok(Math.abs(expectVlb / 1000 - kl) < 1e-9 * kl, `KL weight t=${t}`);
    }
    assert.ok(Math.abs(w({ name: 'min-snr', gamma: 5 }) - Math.min(snr, 5)) < 1e-9 * snr);
    // 'simple' is the objective's own MSE: the ε-MSE is SNR·x0-MSE, the v-MSE (SNR + 1)·x0-MSE.
    assert.ok(Math.abs(w({ name: 'simple' }) - snr) < 1e-9 * snr);
    assert.ok(Math.abs(w({ name: 'simple' }, OBJECTIVES.v) - (snr + 1)) < 1e-9 * snr);
    assert.ok(Math.abs(w({ name: 'simple' }, OBJECTIVES.x0) - 1) < 1e-12);
    assert.ok(Math.abs(w({ name: 'simple' }, OBJECTIVES.edm) - w({ name: 'edm' })) < 1e-9 * w({ name: 'edm' }));
    // sigmoid with b = ∞ is the bound; with the bias it is the bound × sigmoid(b − λ).
    const lambda = -2 * Math.log(sigma);
    assert.ok(Math.abs(w({ name: 'sigmoid', bias: 2 }) - expectVlb / (1 + Math.exp(lambda - 2))) < 1e-6 * expectVlb);
  }
});

test('the loss through the denoiser at the exact denoiser equals its closed-form minimum at a fixed σ', () => {
  // x0 ~ N(μ, s²I): E‖D*(x0 + σε) − x0‖²/d = s²σ²/(s² + σ²), the posterior variance.
  const s = 0.7, mu = 0.4, dim = 2, n = 20000;
  const gmm = gmmFromSpec({ weights: [1], means: [[mu, mu]], stds: s });
  const exact = gmmDenoiser(gmm);
  const x0 = tf.tensor4d(Float32Array.from(gmmSample(gmm, n, new Rng(11))), [n, 1, 1, dim]);
  for (const sigma of [0.1, 0.8, 3]) {
    const fixed: NoiseLevels = { spec: { distribution: 'uniform' }, alpha: 1, sample: (_r, k) => new Float64Array(k).fill(sigma), lambdaDensity: () => 1, describe: 'fixed' };
    const mmse = (s * s * sigma * sigma) / (s * s + sigma * sigma);
    for (const o of Object.values(OBJECTIVES) as Objective[]) {
      const p = o.precond(sigma, ctx);
      // The network that makes D exact: F = (D*(x) − c_skip·x)/c_out with x = xIn/c_in.
      const net = (xIn: tf.Tensor4D) => tf.tidy(() => {
        const x = xIn.div(p.cIn).reshape([n, dim]);
        return exact(x, sigma).sub(x.mul(p.cSkip)).div(p.cOut).reshape([n, 1, 1, dim]) as tf.Tensor4D;
      });
      const pd = new PreconditionedDenoiser(net, o, ctx);
      for (const w of [{ name: 'simple' }, { name: 'min-snr', gamma: 5 }, { name: 'edm' }] as WeightingSpec[]) {
        const loss = pd.loss(x0, new Rng(12), { levels: fixed, weighting: w, offsetNoise: 0 }, { training: false, seed: 0 });
        const got = loss.dataSync()[0];
        loss.dispose();
        const want = x0Weight(w, sigma, { precond: p, sigmaData: 0.5, levels: fixed }) * mmse;
        assert.ok(Math.abs(got / want - 1) < 0.04, `${o.name} ${w.name} σ=${sigma}: ${got} vs closed form ${want}`);
      }
    }
  }
  x0.dispose();
});

test.run();
