// UniPC and DEIS against closed forms: on one Gaussian N(μ, s²) the probability-flow ODE has the exact
// solution x(σ) = μ + (x(σ_0) − μ)·√(s² + σ²)/√(s² + σ_0²), so each solver's order of convergence is
// measured with no reference-solver error; plus the identities with DDIM and DPM-Solver++(2M).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tf } from '../../src/compute/backend.js';
import { getSampler, samplingSigmas, type Denoiser, type SamplerOptions } from '../../src/diffusion/samplers/index.js';
import { logRhoIntegral } from '../../src/diffusion/samplers/multistep.js';
import { solveLinear } from '../../src/util/linalg.js';
import { parseSamplerSetting, planSampling } from '../../src/diffusion/sampling.js';
import { analyticSampling } from '../../src/backends/analytic.js';
import { gmmDenoiser, gmmFromSpec } from '../../src/models/gmm.js';
import { Rng } from '../../src/util/rng.js';

const MU = 0.7, S = 0.4;
/** The exact denoiser of N(μ, s²) in float64 (one sample per row, 1-D). */
const gaussD: Denoiser = (x, sigma) => {
  const s2 = (sigma as number) ** 2;
  return tf.tensor(Float32Array.from(x.dataSync(), (v) => MU + (S * S / (S * S + s2)) * (v - MU)), x.shape, 'float32');
};

const SIGMA_MAX = 20, SIGMA_MIN = 0.02;
function run(name: string, steps: number, opts: Partial<SamplerOptions> = {}, D: Denoiser = gaussD, xs = [-2, -0.5, 0.3, 1.1, 2.4]) {
  // Geometric σ grid (uniform in λ) ending at σ_min; the solution is compared at σ_min, before the step to 0.
  const sigmas = samplingSigmas({ kind: 'exponential', steps, sigmaMin: SIGMA_MIN, sigmaMax: SIGMA_MAX }).slice(0, steps);
  const x0 = xs.map((z) => z * SIGMA_MAX);
  const xT = tf.tensor2d(x0, [x0.length, 1]);
  const e = getSampler(name);
  const r = e.sampler(D, xT, { ...e.preset, ...opts, sigmas: Float64Array.from(sigmas) });
  const v = Array.from(r.x.dataSync());
  tf.dispose([xT, r.x]);
  const last = sigmas[sigmas.length - 1];
  const exact = x0.map((x) => MU + (x - MU) * Math.sqrt(S * S + last * last) / Math.sqrt(S * S + SIGMA_MAX * SIGMA_MAX));
  return { err: Math.sqrt(v.reduce((a, vi, i) => a + (vi - exact[i]) ** 2, 0) / v.length), nfe: r.nfe, v };
}

const observedOrder = (name: string, o: Partial<SamplerOptions>) => Math.log2(run(name, 12, o).err / run(name, 24, o).err);

test('UniPC: observed order p without the corrector and p + 1 with it (bh1 and bh2)', () => {
  for (const variant of ['bh1', 'bh2'] as const) {
    for (const [p, corrector, nominal] of [[1, false, 1], [2, false, 2], [1, true, 2], [2, true, 3], [3, false, 3]] as const) {
      const q = observedOrder('unipc', { order: p, variant, corrector, lowerOrderFinal: false });
      assert.ok(q > nominal - 0.35, `unipc ${variant} p=${p} corrector=${corrector}: observed ${q.toFixed(2)}, nominal ${nominal}`);
    }
    const q3 = observedOrder('unipc', { order: 3, variant, corrector: true, lowerOrderFinal: false });
    assert.ok(q3 > 3, `unipc ${variant} p=3 + corrector: observed ${q3.toFixed(2)}`);
  }
});

test('DEIS: observed order 1, 2 and 3', () => {
  for (const p of [1, 2, 3]) {
    const q = observedOrder('deis', { order: p, lowerOrderFinal: false });
    assert.ok(q > p - 0.35, `deis order ${p}: observed ${q.toFixed(2)}`);
  }
});

test('UniP-1 and DEIS-1 are DDIM; UniP-2 (bh2) is DPM-Solver++(2M); one evaluation per step', () => {
  const ddim = run('dpm-solver++-1s', 10);
  const u1 = run('unipc', 10, { order: 1, corrector: false });
  const d1 = run('deis', 10, { order: 1 });
  const u2 = run('unipc', 10, { order: 2, variant: 'bh2', corrector: false, lowerOrderFinal: false });
  const dpm2 = run('dpm-solver++-2m', 10, { lowerOrderFinal: false });
  ddim.v.forEach((v, i) => {
    assert.ok(Math.abs(u1.v[i] - v) < 1e-5 * (1 + Math.abs(v)), `unip-1 vs ddim: ${u1.v[i]} ${v}`);
    assert.ok(Math.abs(d1.v[i] - v) < 1e-5 * (1 + Math.abs(v)), `deis-1 vs ddim: ${d1.v[i]} ${v}`);
  });
  dpm2.v.forEach((v, i) => assert.ok(Math.abs(u2.v[i] - v) < 1e-5 * (1 + Math.abs(v)), `unip-2 vs dpm-solver++(2m): ${u2.v[i]} ${v}`));
  for (const r of [u1, d1, u2, run('unipc', 10)]) assert.is(r.nfe, 9); // 10 grid points before σ = 0: 9 steps
});

test('the log-ρ integral and the small solver against direct computation', () => {
  // ∫_a^b ℓ_j(log τ) dτ by Simpson's rule on 20 000 panels.
  const nodes = [Math.log(2), Math.log(1.3), Math.log(0.8)], a = 2, b = 1.1;
  for (let j = 0; j < 3; j++) {
    const ell = (u: number) => nodes.reduce((p, t, k) => (k === j ? p : (p * (u - t)) / (nodes[j] - t)), 1);
    const n = 20000, hstep = (b - a) / n;
    let sum = 0;
    for (let i = 0; i <= n; i++) sum += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * ell(Math.log(a + i * hstep));
    assert.ok(Math.abs(logRhoIntegral(nodes, j, a, b) - (sum * hstep) / 3) < 1e-9);
  }
  const x = solveLinear([[2, 1, 0], [1, 3, 1], [0, 1, 4]], [3, 5, 5]);
  [1, 1, 1].forEach((v, i) => assert.ok(Math.abs(x[i] - v) < 1e-12));
});

test('lowerOrderFinal lowers only the last steps and only below 15 steps (DEIS, DPM-Solver++(3M))', () => {
  for (const name of ['deis', 'dpm-solver++-3m']) {
    const o = name === 'deis' ? { order: 3 } : {};
    const a = run(name, 10, { ...o, lowerOrderFinal: true }), b = run(name, 10, { ...o, lowerOrderFinal: false });
    assert.ok(a.v.some((v, i) => v !== b.v[i]), `${name}: 10 steps differ`);
    const c = run(name, 20, { ...o, lowerOrderFinal: true }), d = run(name, 20, { ...o, lowerOrderFinal: false });
    assert.equal(c.v, d.v, `${name}: 20 steps are the same`);
  }
});

test('unipc and deis on the 2-D mixture: finite, and closer to the exact ODE than Euler at the same NFE', () => {
  const g = gmmFromSpec({ weights: [0.25, 0.25, 0.5], means: [[-2, 0], [2, 1], [0, -2]], stds: [0.2, 0.4, [0.3, 0.6]] });
  const D = gmmDenoiser(g);
  const model = analyticSampling();
  const z = new Rng(3).normals(400);
  const errOf = (label: string, steps: number) => {
    const plan = planSampling(model, parseSamplerSetting(label), steps);
    const xT = tf.tensor2d(z.map((v) => v * plan.initScale), [200, 2]);
    const r = plan.entry.sampler(D, xT, { ...plan.samplerOptions, sigmas: plan.sigmas });
    const ref = getSampler('probability-flow').sampler(D, xT, { sigmas: plan.sigmas, rtol: 1e-8, atol: 1e-8 });
    const a = r.x.dataSync(), b = ref.x.dataSync();
    const e = Math.sqrt(Array.from(a).reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length);
    tf.dispose([xT, r.x, ref.x]);
    return e;
  };
  const euler = errOf('euler', 20);
  for (const label of ['unipc', 'deis']) {
    const e = errOf(label, 20);
    assert.ok(Number.isFinite(e) && e < euler, `${label}: ${e} vs euler ${euler}`);
  }
});

test.run();
