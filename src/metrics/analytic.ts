// Sampler error on the exact Gaussian-mixture backend, where no model error exists: distance to the
// exact probability-flow solution from the same noise, and sliced W₂ to exact samples.
import { analyticBackend } from '../backends/analytic.js';
import { tf } from '../compute/backend.js';
import { getSampler } from '../diffusion/samplers/index.js';
import { isStochastic, parseSamplerSetting, planSampling, sampleLatents, type SamplerSetting } from '../diffusion/sampling.js';
import { gmmSample, type Gmm } from '../models/gmm.js';
import { Rng } from '../util/rng.js';
import { slicedWasserstein2 } from './sliced-wasserstein.js';

export interface AnalyticPoint {
  nfe: number;
  /** RMS distance to the exact ODE solution from the same noise; null for stochastic samplers */
  pathRms: number | null;
  sw2: number;
  /** SW₂ between two independent exact sample sets of the same size: the metric's noise floor */
  sw2Floor: number;
  seconds: number;
  n: number;
}

/**
 * One sampler setting on the mixture from standard-normal noise `z` ([n, dim]), on the grid the
 * planner gives it; for deterministic samplers also the RMS distance to the exact probability-flow
 * solution (RK45 at 1e-8) over the same σ range from the same start.
 */
export function runAnalyticSampler(gmm: Gmm, sampler: SamplerSetting | string, steps: number, z: Float32Array, rng: Rng): { x: Float64Array; nfe: number; pathRms: number | null; seconds: number } {
  const backend = analyticBackend(gmm);
  const setting = typeof sampler === 'string' ? parseSamplerSetting(sampler) : sampler;
  const r = sampleLatents(backend, { setting, steps, z, rng });
  const x = Float64Array.from(r.x.dataSync());
  r.x.dispose();
  let pathRms: number | null = null;
  if (!isStochastic(setting)) {
    const plan = planSampling(backend.sampling, setting, steps);
    const xT = tf.tensor(z.map((v) => v * plan.initScale), [z.length / gmm.dim, gmm.dim]);
    const ref = getSampler('probability-flow').sampler(backend.denoiser, xT, { sigmas: plan.sigmas, rtol: 1e-8, atol: 1e-8 });
    const v = ref.x.dataSync();
    pathRms = Math.sqrt(x.reduce((s, xi, i) => s + (xi - v[i]) ** 2, 0) / x.length);
    tf.dispose([xT, ref.x]);
  }
  return { x, nfe: r.nfe, pathRms, seconds: r.seconds };
}

/** Runs one sampler setting on the mixture from seeded noise and measures its error. */
export function analyticPoint(gmm: Gmm, opts: { sampler: SamplerSetting | string; steps: number; n: number; seed: number }): AnalyticPoint {
  const rng = new Rng(opts.seed);
  const z = rng.fork().normals(opts.n * gmm.dim);
  const { x, nfe, pathRms, seconds } = runAnalyticSampler(gmm, opts.sampler, opts.steps, z, rng.fork());
  const truth = gmmSample(gmm, opts.n, new Rng(opts.seed + 1000));
  const sw2 = slicedWasserstein2(x, truth, gmm.dim, new Rng(7));
  const sw2Floor = slicedWasserstein2(gmmSample(gmm, opts.n, new Rng(opts.seed + 2000)), truth, gmm.dim, new Rng(7));
  return { nfe, pathRms, sw2, sw2Floor, seconds, n: opts.n };
}
