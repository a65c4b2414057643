import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { difflab } from '../helpers/cli.js';
import { discreteSchedule, samplingTimesteps } from '../../src/diffusion/schedules.js';
import { readNpy, writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-cli-'));
const gaussFile = path.join(dir, 'gauss.json');
const MU = 0.7, S = 0.4;
fs.writeFileSync(gaussFile, JSON.stringify({ weights: [1], means: [[MU]], stds: S }));

test('sample --init-noise follows the documented scaling: the ODE output is the closed-form map of z', () => {
  const n = 64, z = new Rng(1).normals(n);
  const zFile = path.join(dir, 'z.npy');
  writeNpy(zFile, z, [n, 1]);
  // Gaussian data N(μ, s²): the probability-flow map from σ_T to 0 is x0 = μ + (x_T − μ)·s/√(s² + σ_T²).
  const cases: [string, string[], number, number][] = [
    ['probability-flow', ['--steps', '10', '--rtol', '1e-7', '--atol', '1e-7'], 80, 80], // karras: x_T = σ_max·z
    ['ddim', ['--steps', '500', '--spacing', 'trailing'], discreteSchedule('linear').sigmas[999], NaN], // discrete: x_T = √(1+σ²)·z
  ];
  for (const [sampler, extra, sigmaT] of cases) {
    const out = path.join(dir, `${sampler}.npy`);
    const r = difflab('sample', '--gmm', gaussFile, '--sampler', sampler, '--n', String(n), '--init-noise', zFile, '--out', out, ...extra);
    assert.is(r.code, 0, r.err);
    const x = readNpy(out);
    assert.equal(x.shape, [n, 1]);
    const xT = (i: number) => (sampler === 'ddim' ? Math.sqrt(1 + sigmaT ** 2) : sigmaT) * z[i];
    const worst = Math.max(...Array.from(x.data, (v, i) => Math.abs(v - (MU + ((xT(i) - MU) * S) / Math.sqrt(S * S + sigmaT ** 2)))));
    // ddim is first order: at 500 steps its error against the exact map is ~7e-3. At σ_T ≈ 157 the
    // factors √(1+σ_T²) and σ_T differ by 2e-5, so this case guards the order of the scale (an unscaled
    // x_T = z would miss by O(1)); the karras case pins x_T = σ_max·z to 1e-4.
    assert.ok(worst < (sampler === 'ddim' ? 1e-2 : 1e-4), `${sampler}: worst deviation ${worst}`);
  }
  assert.is(samplingTimesteps(1000, 500, 'trailing')[0], 999); // the ddim case starts at σ_999
});

test('sample is reproducible from its seed and writes float32 [n, dim]', () => {
  const a = path.join(dir, 'a.npy'), b = path.join(dir, 'b.npy');
  for (const f of [a, b]) assert.is(difflab('sample', '--gmm', 'configs/gmm/8-gaussians.json', '--sampler', 'euler-ancestral', '--steps', '8', '--n', '50', '--seed', '3', '--out', f).code, 0);
  const [x, y] = [readNpy(a), readNpy(b)];
  assert.is(x.dtype, 'float32');
  assert.equal(x.shape, [50, 2]);
  assert.equal(Array.from(x.data), Array.from(y.data));
});

test('nll --json: the ODE estimate matches the exact NLL of Gaussian data; the bound lies above it', () => {
  const data = path.join(dir, 'data.npy');
  const r = new Rng(2);
  writeNpy(data, Float64Array.from({ length: 200 }, () => MU + S * r.normal()), [200, 1]);
  const ode = JSON.parse(difflab('nll', '--gmm', gaussFile, '--data', data, '--method', 'ode', '--json').out);
  assert.ok(Math.abs(ode.gapNats) < 0.01 * Math.abs(ode.exact.nats), `gap ${ode.gapNats}`);
  assert.ok(Math.abs(ode.exact.bitsPerDim - ode.exact.nats / Math.LN2) < 1e-12);
  const vlb = JSON.parse(difflab('nll', '--gmm', gaussFile, '--data', data, '--method', 'vlb', '--steps', '100', '--json').out);
  assert.ok(vlb.gapNats > 0, `bound below the exact NLL: gap ${vlb.gapNats}`);
});

test('bad input names the file or flag and what was expected', () => {
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ weights: [1], means: [[0]], stds: 1, colour: 'red' }));
  let r = difflab('sample', '--gmm', bad, '--sampler', 'euler', '--out', path.join(dir, 'x.npy'));
  assert.is(r.code, 1);
  assert.match(r.err, new RegExp(`${bad}: colour: unknown key; expected weights, means, stds`));
  const z = path.join(dir, 'z3.npy');
  writeNpy(z, new Float32Array(6), [3, 2]);
  r = difflab('sample', '--gmm', gaussFile, '--sampler', 'euler', '--n', '3', '--init-noise', z, '--out', path.join(dir, 'x.npy'));
  assert.match(r.err, /--init-noise .*z3.npy: expected shape \[3, 1\]/);
  r = difflab('sample', '--gmm', gaussFile, '--sampler', 'nope', '--out', path.join(dir, 'x.npy'));
  assert.is(r.code, 2);
  assert.match(r.err, /Choices: "ddpm", "ddim"/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();
