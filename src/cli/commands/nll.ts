// `difflab nll`: estimate −log p(x) of data under a model and compare with the exact value where known.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { analyticBackend } from '../../backends/analytic.js';
import { selectBackend, tf, type BackendRequest } from '../../compute/backend.js';
import { discretizeVp, odeNll, variationalBound, type NllResult } from '../../diffusion/likelihood.js';
import { DISCRETE_SCHEDULES, discreteSchedule, type DiscreteScheduleName } from '../../diffusion/schedules.js';
import { loadGmm } from '../../models/gmm.js';
import { readNpy, requireFiniteRows } from '../../util/npy.js';
import { Rng } from '../../util/rng.js';
import { computeFor, withModelBackend } from './sample.js';

interface NllArgs {
  backend: string;
  compute: BackendRequest;
  gmm?: string;
  data: string;
  method: 'ode' | 'vlb';
  schedule: 'vp' | DiscreteScheduleName;
  steps: number;
  sigmaMin: number;
  sigmaMax: number;
  rtol: number;
  atol: number;
  seed: number;
  json: boolean;
}

export const nllCommand: CommandModule<object, NllArgs> = {
  command: 'nll',
  builder: (y: Argv) => withModelBackend(y)
    .option('data', { type: 'string', demandOption: true, describe: 'data points, .npy [n, dim] (float32 or float64)' })
    .option('method', { choices: ['ode', 'vlb'] as const, default: 'ode' as const, describe: 'probability-flow ODE likelihood, or the discrete-time variational bound' })
    .option('schedule', { choices: ['vp', ...DISCRETE_SCHEDULES] as const, default: 'vp' as const, describe: 'vlb: discrete schedule (vp = the continuous VP SDE, β 0.1→20, discretized)' })
    .option('steps', { type: 'number', default: 1000, describe: 'vlb: number of steps T' })
    .option('sigma-min', { type: 'number', default: 1e-3, describe: 'ode: σ where the data end of the ODE starts' })
    .option('sigma-max', { type: 'number', default: 1000, describe: 'ode: σ of the N(0, σ_max²) prior' })
    .option('rtol', { type: 'number', default: 1e-5, describe: 'ode: relative tolerance' })
    .option('atol', { type: 'number', default: 1e-5, describe: 'ode: absolute tolerance' })
    .option('seed', { type: 'number', default: 0, describe: 'vlb: seed of the x_t draws' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<NllArgs>,
  handler: async (a: ArgumentsCamelCase<NllArgs>) => {
    await selectBackend(computeFor(a));
    if (!a.gmm) throw new Error('--gmm: required (difflab nll evaluates the analytic backend; trained models follow with difflab eval)');
    const gmm = loadGmm(a.gmm);
    const backend = analyticBackend(gmm);
    const arr = readNpy(a.data);
    requireFiniteRows(arr, `--data ${a.data}`);
    if (arr.shape.length !== 2 || arr.shape[1] !== gmm.dim) {
      throw new Error(`--data ${a.data}: expected shape [n, ${gmm.dim}] (the GMM's dimension), got [${arr.shape.join(', ')}]`);
    }
    const x = tf.tensor(Float32Array.from(arr.data), arr.shape);
    const t0 = performance.now();
    let r: NllResult;
    if (a.method === 'ode') {
      r = odeNll(backend.denoiser, backend.exactDivergence, x, { sigmaMin: a.sigmaMin, sigmaMax: a.sigmaMax, rtol: a.rtol, atol: a.atol });
    } else {
      const s = a.schedule === 'vp' ? discretizeVp(a.steps) : discreteSchedule(a.schedule, { T: a.steps });
      r = variationalBound(backend.denoiser, s, x, { decoder: 'gaussian', rng: new Rng(a.seed) });
    }
    const seconds = (performance.now() - t0) / 1000;
    const exact = backend.exactNll!(x);
    x.dispose();
    const exactMean = exact.reduce((p, q) => p + q, 0) / exact.length;
    const d = gmm.dim;
    const report = {
      method: a.method, n: arr.shape[0], dims: d,
      estimate: { nats: r.meanNats, bitsPerDim: r.bitsPerDim },
      exact: { nats: exactMean, bitsPerDim: exactMean / (d * Math.LN2) },
      gapNats: r.meanNats - exactMean, nfe: r.nfe, seconds, dequantization: r.dequantization.note,
    };
    if (a.json) { console.log(JSON.stringify(report, null, 2)); return; }
    console.log(`${a.method === 'ode' ? 'probability-flow ODE' : `variational bound (T = ${a.steps}, ${a.schedule})`} on ${report.n} points, ${d} dims (${r.dequantization.note})`);
    console.log(`  estimate  ${r.meanNats.toFixed(5)} nats per sample  ${r.bitsPerDim.toFixed(5)} bits/dim`);
    console.log(`  exact     ${exactMean.toFixed(5)} nats per sample  ${report.exact.bitsPerDim.toFixed(5)} bits/dim`);
    console.log(`  gap       ${report.gapNats.toFixed(5)} nats; NFE ${r.nfe}; ${seconds.toFixed(2)} s`);
  },
};
