import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DISCRETE_SCHEDULES, discreteSchedule, exponentialSigmas, karrasSigmas, samplingTimesteps, sigmaToT, tToSigma,
  veSchedule, veSigma, veSigmaToT, vpLogAlphaCumprod, vpSchedule, vpSigma, vpSigmaToT,
} from '../../src/diffusion/schedules.js';

const close = (a: number, b: number, rel: number, msg?: string) =>
  assert.ok(Math.abs(a - b) <= rel * Math.abs(b), msg ?? `${a} vs ${b} (rel ${rel})`);

test('published terminal values: DDPM linear and Stable Diffusion scaled-linear (Lin et al. 2024, §3.1)', () => {
  const lin = discreteSchedule('linear');
  close(lin.alphasCumprod[999], 4.0358e-5, 1e-4); // SNR(T) of DDPM's schedule
  const sd = discreteSchedule('scaled-linear');
  close(Math.sqrt(sd.alphasCumprod[999]), 0.068265, 1e-5);
  close(Math.exp(sd.logSnr[999]), 0.004682, 1e-3);
  close(lin.betas[0], 1e-4, 1e-12);
  close(lin.betas[999], 0.02, 1e-12);
});

test('cosine ᾱ near t = 0 equals the closed form f(t/T)/f(0) (Nichol & Dhariwal 2021, eq. 17)', () => {
  const s = 0.008, T = 1000, f = (u: number) => Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const c = discreteSchedule('cosine', { T });
  for (const t of [0, 1, 10, 100, 500]) close(c.alphasCumprod[t], f((t + 1) / T) / f(0), 1e-12, `t=${t}`);
  assert.ok(Math.max(...c.betas) <= 0.999);
  close(c.betas[T - 1], 0.999, 1e-12); // the last β hits the clip
});

test('σ and log-SNR follow from ᾱ; every schedule is monotone', () => {
  for (const name of DISCRETE_SCHEDULES) {
    const s = discreteSchedule(name, { T: 200 });
    for (let t = 0; t < s.T; t++) {
      const a = s.alphasCumprod[t];
      close(s.sigmas[t], Math.sqrt((1 - a) / a), 1e-12);
      close(s.logSnr[t], -2 * Math.log(s.sigmas[t]), 1e-10);
      if (t > 0) assert.ok(a < s.alphasCumprod[t - 1] && s.sigmas[t] > s.sigmas[t - 1], `${name} not monotone at ${t}`);
    }
  }
});

test('zero-terminal-SNR rescale: ᾱ_T = 0 exactly, ᾱ_0 unchanged, still monotone', () => {
  for (const name of DISCRETE_SCHEDULES) {
    const base = discreteSchedule(name), z = discreteSchedule(name, { zeroTerminalSnr: true });
    assert.is(z.alphasCumprod[z.T - 1], 0);
    assert.is(z.logSnr[z.T - 1], -Infinity);
    close(z.alphasCumprod[0], base.alphasCumprod[0], 1e-12);
    for (let t = 1; t < z.T; t++) assert.ok(z.alphasCumprod[t] < z.alphasCumprod[t - 1]);
    // Lin et al.: √ᾱ is an affine map of the original √ᾱ.
    const [a0, aT] = [Math.sqrt(base.alphasCumprod[0]), Math.sqrt(base.alphasCumprod[999])];
    close(Math.sqrt(z.alphasCumprod[500]), ((Math.sqrt(base.alphasCumprod[500]) - aT) * a0) / (a0 - aT), 1e-12);
  }
});

test('Karras sigmas: endpoints σ_max = 80, σ_min = 0.002, final 0, decreasing; ρ = 1 is linear', () => {
  const k = karrasSigmas(18);
  close(k[0], 80, 1e-12);
  close(k[17], 0.002, 1e-9);
  assert.is(k[18], 0);
  for (let i = 1; i < k.length; i++) assert.ok(k[i] < k[i - 1]);
  const lin = karrasSigmas(5, 1, 5, 1);
  assert.equal(Array.from(lin).map((v) => +v.toFixed(12)), [5, 4, 3, 2, 1, 0]);
  const e = exponentialSigmas(5, 0.01, 100);
  for (let i = 1; i < 5; i++) close(e[i] / e[i - 1], 10 ** -1, 1e-12); // log-linear: constant ratio
});

test('continuous VP: ᾱ(t) = exp(−½∫β) by numerical quadrature; σ ↔ t inverts', () => {
  const vp = vpSchedule();
  for (const t of [0.1, 0.5, 1]) {
    let integral = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) { const u = ((i + 0.5) / n) * t; integral += (0.1 + u * 19.9) * (t / n); }
    close(vpLogAlphaCumprod(vp, t), -0.5 * integral, 1e-8);
    close(vpSigmaToT(vp, vpSigma(vp, t)), t, 1e-10);
  }
  const ve = veSchedule(0.01, 50);
  close(veSigma(ve, 0), 0.01, 1e-12);
  close(veSigma(ve, 1), 50, 1e-12);
  close(veSigmaToT(ve, veSigma(ve, 0.3)), 0.3, 1e-12);
});

test('discrete t ↔ σ interpolation inverts and hits table values at integers', () => {
  const s = discreteSchedule('linear');
  for (const t of [0, 1, 17, 500, 998.25, 999]) close(sigmaToT(s, tToSigma(s, t)), t, 1e-9, `t=${t}`);
  close(tToSigma(s, 42), s.sigmas[42], 1e-12);
});

test('timestep spacing matches Lin et al. 2024, Table 2 (T = 1000, 10 steps, 0-based)', () => {
  assert.equal(samplingTimesteps(1000, 10, 'linspace'), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.equal(samplingTimesteps(1000, 10, 'leading'), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  assert.equal(samplingTimesteps(1000, 10, 'trailing'), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  assert.throws(() => samplingTimesteps(1000, 0), /steps: expected an integer in \[1, 1000\]/);
  // Halves round to even as np.round does (diffusers): 1000 − 62.5k at 16 steps ends in .5 every other k.
  const npRound = (x: number) => { const f = Math.floor(x), d = x - f; return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f; };
  assert.equal(samplingTimesteps(1000, 16, 'trailing'), Array.from({ length: 16 }, (_, k) => npRound(1000 - 62.5 * k) - 1));
  assert.equal(samplingTimesteps(1000, 16, 'trailing').filter((_, k) => k % 4 === 3), [811, 561, 311, 61]);
});

test('bad schedule input names the field and the accepted values', () => {
  assert.throws(() => discreteSchedule('quadratic' as never), /schedule.name: unknown schedule 'quadratic'; expected one of linear, scaled-linear, cosine, sigmoid/);
  assert.throws(() => discreteSchedule('linear', { T: 1 }), /T: expected an integer ≥ 2/);
  assert.throws(() => discreteSchedule('linear', { betaEnd: 1.5 }), /betas\[\d+\]: β must lie in \(0, 1\]/);
});

test.run();
