import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend, tf } from '../../src/compute/backend.js';
import {
  offsetNoise, posterior, qSample, randn, sigmaEpsFromX0, sigmaScoreFromX0, sigmaX0FromEps,
  vpCoefficients, vpScoreFromEps, vpTarget, vpToX0Eps, type Parameterization,
} from '../../src/diffusion/noise.js';
import { discreteSchedule } from '../../src/diffusion/schedules.js';
import { Rng } from '../../src/util/rng.js';
import { relErr } from '../helpers/compare.js';

const sched = discreteSchedule('linear');

test.before(async () => { await selectBackend('wasm'); });

test('q(x_t|x_0) samples have mean √ᾱ·x0 and variance 1−ᾱ', () => {
  const rng = new Rng(1), n = 100_000, t = 300;
  const x0 = tf.fill([n, 1], 1.7);
  const xt = qSample(sched, x0, t, randn(rng, [n, 1]));
  const { mean, variance } = tf.moments(xt);
  const a = sched.alphasCumprod[t];
  // Standard errors at n = 1e5: mean √((1−ᾱ)/n) ≈ 2.8e-3, variance (1−ᾱ)·√(2/n) ≈ 3.6e-3; bounds ~5σ.
  assert.ok(Math.abs(mean.dataSync()[0] - Math.sqrt(a) * 1.7) < 0.015);
  assert.ok(Math.abs(variance.dataSync()[0] - (1 - a)) < 0.02);
  tf.dispose([x0, xt, mean, variance]);
});

test('posterior q(x_{t−1}|x_t,x_0) equals the product q(x_t|x_{t−1})·q(x_{t−1}|x_0), normalised', () => {
  for (const t of [1, 10, 500, 999]) {
    const aPrev = sched.alphasCumprod[t - 1], alpha = sched.alphas[t], beta = sched.betas[t];
    // N(x_t; √α_t·y, β_t) · N(y; √ᾱ_{t−1}·x0, 1−ᾱ_{t−1}) as a Gaussian in y:
    const precision = alpha / beta + 1 / (1 - aPrev);
    const coefXt = Math.sqrt(alpha) / beta / precision, coefX0 = Math.sqrt(aPrev) / (1 - aPrev) / precision;
    const p = posterior(sched, t);
    assert.ok(Math.abs(p.variance - 1 / precision) <= 1e-12 * (1 / precision), `variance at t=${t}`);
    assert.ok(Math.abs(p.coefXt - coefXt) <= 1e-10 * coefXt, `coefXt at t=${t}`);
    assert.ok(Math.abs(p.coefX0 - coefX0) <= 1e-10 * Math.abs(coefX0), `coefX0 at t=${t}`);
    assert.is(posterior(sched, t, 'beta').variance, beta);
  }
  const p0 = posterior(sched, 0);
  assert.is(p0.coefX0, 1); // ᾱ_{−1} = 1: the posterior mean at t = 0 is x0 itself
  assert.is(p0.coefXt, 0);
});

test('eps / x0 / v conversions invert each other; scores agree in VP and σ form', () => {
  const rng = new Rng(3), t = 420;
  const { alpha, sigmaVp } = vpCoefficients(sched, t);
  const x0 = randn(rng, [64]), eps = randn(rng, [64]);
  const xt = qSample(sched, x0, t, eps);
  for (const p of ['eps', 'x0', 'v'] as Parameterization[]) {
    const target = vpTarget(p, x0, eps, alpha, sigmaVp);
    const r = vpToX0Eps(p, target, xt, alpha, sigmaVp);
    assert.ok(relErr(r.x0.dataSync(), x0.dataSync()) < 1e-5, `${p}: x0`);
    assert.ok(relErr(r.eps.dataSync(), eps.dataSync()) < 1e-5, `${p}: eps`);
    tf.dispose([target, r.x0, r.eps]);
  }
  // σ form: x = x_t/α, σ = s/α; score_σ(x) = α·score_VP(x_t) because x_t = α·x.
  const sigma = sigmaVp / alpha, x = xt.div(alpha);
  assert.ok(relErr(sigmaEpsFromX0(x, x0, sigma).dataSync(), eps.dataSync()) < 1e-5);
  assert.ok(relErr(sigmaX0FromEps(x, eps, sigma).dataSync(), x0.dataSync()) < 1e-5);
  assert.ok(relErr(sigmaScoreFromX0(x, x0, sigma).dataSync(), vpScoreFromEps(eps, sigmaVp).mul(alpha).dataSync()) < 1e-5);
});

test('offset noise adds one shared N(0, c²) shift per sample and channel', () => {
  const rng = new Rng(4), c = 0.5;
  const e = offsetNoise(rng, [4000, 4, 4, 2], c);
  const m = e.mean([1, 2]); // spatial means: variance 1/16 + c²
  const v = tf.moments(m).variance.dataSync()[0];
  assert.ok(Math.abs(v - (1 / 16 + c * c)) < 0.02, `var ${v}`);
  tf.dispose([e, m]);
});

test.run();
