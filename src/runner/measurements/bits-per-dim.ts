// Likelihood of a trained model: bits/dim of the test images by the variational bound ('nll') and the
// probability-flow ODE ('nll-ode'), once per checkpoint, EMA length and seed.
import { evaluateBitsPerDim } from '../../backends/evaluate.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { bitsPerDim, bitsPerDimVsTrainingSteps, likelihoodVsQuality } from '../../plots/charts/likelihood.js';
import { modelBackends } from '../models.js';
import { wanted } from './common.js';
import type { Measurement } from './types.js';

const METHODS = ['nll', 'nll-ode'] as const;

export const bitsPerDimMeasurement: Measurement = {
  kind: 'nll',
  metrics: METHODS,
  points(exp, backend, slot) {
    if (slot.scope !== 'checkpoint' || !modelBackends(exp).includes(backend) || !wanted(exp, this)) return [];
    return [{ key: `${slot.model}|-|-|${slot.seed}`, kind: 'nll', backend, checkpoint: slot.checkpoint, ema: slot.ema, sampler: null, steps: null, seed: slot.seed }];
  },
  describe: () => 'bits/dim',
  evaluate(p, ctx, base) {
    const { exp } = ctx;
    const rows: ResultRow[] = [];
    const methods = METHODS.filter((m) => exp.grid!.metrics.includes(m));
    const run = ctx.run(p.backend, p.checkpoint, p.ema);
    Object.assign(base, { train_step: run.step, train_gflop: run.trainGflop });
    for (const { value: v, result: r } of evaluateBitsPerDim(run, methods, { nllN: exp.eval.nllN, terms: exp.eval.nllTerms, seed: p.seed })) {
      rows.push({ ...base, nfe: r.nfe, metric: v.metric, value: v.value, std: v.std ?? null, n: v.n, seconds: r.seconds, gflop: null, unit: v.unit, notes: v.notes });
    }
    return rows;
  },
  charts: [
    { name: 'bits-per-dim', byDefault: true, draw: (c) => bitsPerDim(c.rows) },
    { name: 'quality-vs-training-steps', byDefault: false, draw: (c) => bitsPerDimVsTrainingSteps(c.allRows) },
    { name: 'likelihood-vs-quality', byDefault: false, draw: (c) => likelihoodVsQuality(c.rows, (b) => c.exp.models[b]?.backend ?? b, c.floors) },
  ],
};
