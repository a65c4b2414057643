import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import {
  discretizedGaussianLogLik, discretizeVp, divergenceFromDenoiserDivergence, exactDivergence, hutchinsonDivergence, odeNll, variationalBound,
} from '../../src/diffusion/likelihood.js';
import { gmmDenoiser, gmmDenoiserDivergence, gmmDenoiserTf, gmmFromSpec, gmmLogDensity, gmmSample } from '../../src/models/gmm.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';

test.before(async () => { await selectBackend('wasm'); });

// A single Gaussian: its exact NLL is known in closed form (gmmLogDensity with K = 1 is log N).
const gauss = gmmFromSpec({ weights: [1], means: [[0.5, -1]], stds: [[0.5, 0.8]] });
const mix = gmmFromSpec({ weights: [0.4, 0.6], means: [[-1, 0.5], [1, -0.5]], stds: [0.3, [0.5, 0.2]] });

function exactMeanNll(g: typeof gauss, x: Float64Array): number {
  const lp = gmmLogDensity(g, x);
  return -lp.reduce((a, b) => a + b, 0) / lp.length;
}

test('closed-form ∇·E[x0|x] of a GMM equals the autodiff trace of its tfjs twin', () => {
  const x = gmmSample(mix, 64, new Rng(1)).map((v) => v * 1.3);
  for (const sigma of [0.05, 0.4, 3]) {
    const xs = tf.tensor(Float32Array.from(x), [64, 2]);
    const closed = divergenceFromDenoiserDivergence((a, s) => gmmDenoiserDivergence(mix, a, s))(xs, sigma);
    const auto = exactDivergence(gmmDenoiserTf(mix))(xs, sigma);
    assert.ok(relErr(auto, closed) < 2e-4, `σ=${sigma}: rel err ${relErr(auto, closed)}`);
    xs.dispose();
  }
});

test('probability-flow ODE NLL matches the exact NLL of Gaussian data within 1%', () => {
  const x = gmmSample(gauss, 200, new Rng(2));
  const xs = tf.tensor(Float32Array.from(x), [200, 2]);
  const div = divergenceFromDenoiserDivergence((a, s) => gmmDenoiserDivergence(gauss, a, s));
  // σ_max = 1000: the N(0, σ_max²) prior differs from the true p_σmax = N(μ, s² + σ_max²) by about
  // |x·μ|/σ_max² ≲ 3√2·|μ|/σ_max ≈ 0.005 nats here (0.06 at the sampling default σ_max = 80).
  const r = odeNll(gmmDenoiser(gauss), div, xs, { rtol: 1e-6, atol: 1e-6, sigmaMax: 1000 });
  const exact = exactMeanNll(gauss, x);
  assert.ok(Math.abs(r.meanNats - exact) < 0.01 * Math.abs(exact), `ODE ${r.meanNats} vs exact ${exact}`);
  // Per sample too, not only on average.
  const lp = gmmLogDensity(gauss, x);
  const worst = Math.max(...Array.from(r.nats, (v, i) => Math.abs(v + lp[i])));
  assert.ok(worst < 0.02, `worst per-sample gap ${worst} nats`);
  assert.ok(Math.abs(r.bitsPerDim - r.meanNats / (2 * Math.LN2)) < 1e-12);
  xs.dispose();
});

test('Hutchinson estimates (Rademacher and Gaussian probes) agree with the exact-divergence NLL', () => {
  const x = gmmSample(mix, 300, new Rng(3));
  const xs = tf.tensor(Float32Array.from(x), [300, 2]);
  const Dtf = gmmDenoiserTf(mix);
  const exact = odeNll(Dtf, exactDivergence(Dtf), xs, { sigmaMax: 1000 });
  for (const probe of ['rademacher', 'gaussian'] as const) {
    const before = tf.memory().numTensors;
    const est = odeNll(Dtf, hutchinsonDivergence(Dtf, probe, new Rng(4)), xs, { sigmaMax: 1000 });
    assert.is(tf.memory().numTensors, before, `${probe}: tensors left behind by the solve`);
    // The estimator is unbiased per sample: the mean paired difference must be within 4 standard errors.
    const diffs = est.nats.map((v, i) => v - exact.nats[i]);
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const se = Math.sqrt(diffs.reduce((a, b) => a + (b - mean) ** 2, 0) / (diffs.length - 1) / diffs.length);
    assert.ok(Math.abs(mean) < 4 * se + 1e-3, `${probe}: mean difference ${mean} with standard error ${se}`);
    assert.ok(se > 0, `${probe}: the estimate has no noise at all, so it is not a Hutchinson estimate`);
  }
  const truth = exactMeanNll(mix, x);
  assert.ok(Math.abs(exact.meanNats - truth) < 0.01 * Math.abs(truth), `exact-divergence ODE ${exact.meanNats} vs exact ${truth}`);
  xs.dispose();
});

test('the variational bound upper-bounds the exact NLL and tightens as T grows', () => {
  const x = gmmSample(gauss, 400, new Rng(5));
  const xs = tf.tensor(Float32Array.from(x), [400, 2]);
  const exact = exactMeanNll(gauss, x);
  // Nested grids (20, 40, 160 intervals) over the same t ∈ [1e-3, 1], where refinement must tighten the bound.
  const bounds = [21, 41, 161].map((T) =>
    variationalBound(gmmDenoiser(gauss), discretizeVp(T, 0.1, 20, 1e-3), xs, { decoder: 'gaussian', rng: new Rng(6) }).meanNats);
  for (const b of bounds) assert.ok(b > exact, `bound ${b} below exact NLL ${exact}`);
  assert.ok(bounds[0] > bounds[1] && bounds[1] > bounds[2], `bounds ${bounds.join(' → ')} do not tighten`);
  xs.dispose();
});

test('the discretized Gaussian decoder is a probability over the 256 levels', () => {
  for (const [mean, logStd] of [[0, Math.log(0.05)], [0.93, Math.log(0.2)], [-1.2, Math.log(0.01)]]) {
    let total = 0;
    for (let k = 0; k < 256; k++) total += Math.exp(discretizedGaussianLogLik((k / 255) * 2 - 1, mean, logStd));
    assert.ok(Math.abs(total - 1) < 1e-9, `sums to ${total}`);
  }
});

test.run();
