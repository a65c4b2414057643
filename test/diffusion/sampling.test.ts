import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { analyticSampling } from '../../src/backends/analytic.js';
import type { SamplingModel } from '../../src/backends/types.js';
import { OBJECTIVES } from '../../src/diffusion/objectives/index.js';
import { DEFAULT_SPACING, isStochastic, parseSamplerSetting, planSampling } from '../../src/diffusion/sampling.js';
import { discreteSchedule, karrasSigmas, samplingTimesteps } from '../../src/diffusion/schedules.js';

test('sampler settings: a name or {name, ...options}; defaults filled; the label lists what was given', () => {
  const d = parseSamplerSetting('ddim');
  assert.is(d.label, 'ddim');
  assert.equal(d.options, { eta: 0 });
  assert.not.ok(isStochastic(d));
  const e = parseSamplerSetting({ name: 'ddim', eta: 1, spacing: 'leading' });
  assert.is(e.label, 'ddim(eta=1,spacing=leading)');
  assert.ok(isStochastic(e));
  assert.equal(e.grid, { spacing: 'leading' });
  assert.is(parseSamplerSetting({ name: 'heun', churn: 40 }).label, 'heun(churn=40)');
  assert.ok(isStochastic(parseSamplerSetting({ name: 'heun', churn: 40 })));
  assert.is(parseSamplerSetting({ name: 'euler-ancestral' }).options.eta, 1);
  assert.throws(() => parseSamplerSetting({ name: 'heun', eta: 1 }, 'grid.samplers.0'), /grid\.samplers\.0: unknown option 'eta' for heun; accepted: churn, sTmin, sTmax, sNoise, grid, spacing/);
  assert.throws(() => parseSamplerSetting({ name: 'ddim', eta: -1 }), /sampler\.eta: Too small/);
  assert.throws(() => parseSamplerSetting({ name: 'ddim', spacing: 'middle' }), /sampler\.spacing: Invalid option/);
  assert.throws(() => parseSamplerSetting('dpm-solver-9'), /unknown sampler 'dpm-solver-9'; expected one of ddpm, ddim/);
});

test('the planner: one default spacing (trailing), native grids for ddpm/ddim/plms, Karras over the model\'s range otherwise', () => {
  assert.is(DEFAULT_SPACING, 'trailing');
  const linear = discreteSchedule('linear'), m = analyticSampling(linear);
  const p = planSampling(m, parseSamplerSetting('ddim'), 10);
  const ts = samplingTimesteps(1000, 10, 'trailing');
  assert.equal(Array.from(p.sigmas.slice(0, 10)), ts.map((t) => linear.sigmas[t]));
  assert.is(p.sigmas[10], 0);
  assert.ok(Math.abs(p.initScale - Math.sqrt(1 + p.sigmas[0] ** 2)) < 1e-12);
  const leading = planSampling(m, parseSamplerSetting({ name: 'ddim', spacing: 'leading' }), 10);
  assert.is(leading.sigmas[0], linear.sigmas[samplingTimesteps(1000, 10, 'leading')[0]]);
  const k = planSampling(m, parseSamplerSetting('dpm-solver++-2m'), 10);
  assert.equal(Array.from(k.sigmas), Array.from(karrasSigmas(10, 0.002, 80, 7)));
  assert.is(k.initScale, 80);
  // An EDM model: Karras over its own range, and no discrete grid to offer.
  const ctx = { sigmaData: 0.5 };
  const edm: SamplingModel = {
    objective: 'edm', sigmaRange: OBJECTIVES.edm.sigmaRange(ctx), nativeGrid: OBJECTIVES.edm.nativeGrid, timeMap: OBJECTIVES.edm.timeMap(ctx), shift: 1,
    priorScale: (s) => 1 / OBJECTIVES.edm.precond(s, ctx).cIn,
  };
  assert.is(planSampling(edm, parseSamplerSetting('ddim'), 5).grid, 'karras');
  assert.throws(() => planSampling(edm, parseSamplerSetting({ name: 'ddim', grid: 'discrete' }), 5), /grid: 'discrete' needs a discrete schedule and the edm model has none/);
  // A VP model samples Karras grids over its own schedule's σ range.
  const vp: SamplingModel = { ...analyticSampling(linear), objective: 'eps', sigmaRange: [linear.sigmas[0], linear.sigmas[999]] };
  const kv = planSampling(vp, parseSamplerSetting('heun'), 4);
  assert.ok(Math.abs(kv.sigmas[0] - linear.sigmas[999]) < 1e-9 && Math.abs(kv.sigmas[3] - linear.sigmas[0]) < 1e-12);
});

test.run();
