// The analytic backend: data from a Gaussian mixture with its exact denoiser, so that experiments
// measure sampler and likelihood-estimator error with no model error at all; and one sampler setting
// run on it against the exact probability-flow solution.
import { tf } from '../compute/backend.js';
import { getSampler } from '../diffusion/samplers/index.js';
import { isStochastic, parseSamplerSetting, planSampling, sampleLatents, type SamplerSetting } from '../diffusion/sampling.js';
import { pathErrors, type PathErrors } from '../metrics/analytic.js';
import { slicedWasserstein2 } from '../metrics/sliced-wasserstein.js';
import { Rng } from '../util/rng.js';
import { divergenceFromDenoiserDivergence, type DivergenceFn } from '../diffusion/likelihood.js';
import { vpTimeMap } from '../diffusion/objectives/vp-common.js';
import { discreteSchedule, type DiscreteSchedule } from '../diffusion/schedules.js';
import { gmmDenoiser, gmmDenoiserDivergence, gmmLogDensity, gmmSample, type Gmm } from '../models/gmm.js';
import type { DiffusionBackend, SamplingModel } from './types.js';

export interface AnalyticBackend extends DiffusionBackend {
  name: 'analytic';
  gmm: Gmm;
  /** ∇·f of the probability-flow ODE in closed form. */
  exactDivergence: DivergenceFn;
}

/** The σ range of Karras grids on the mixture (Karras et al. 2022's defaults). */
export const ANALYTIC_SIGMA_RANGE: [number, number] = [0.002, 80];

/**
 * How grids are planned on the mixture: Karras grids over [0.002, 80]; discrete grids on the steps of
 * `schedule` (default: linear, T = 1000), starting from x = √(1+σ_T²)·z as a VP model would.
 */
export function analyticSampling(schedule: DiscreteSchedule = discreteSchedule('linear'), classes?: number): SamplingModel {
  return {
    objective: 'analytic',
    sigmaRange: ANALYTIC_SIGMA_RANGE,
    nativeGrid: 'discrete',
    schedule,
    timeMap: vpTimeMap({ schedule, sigmaData: 1 }),
    shift: 1,
    priorScale: (sigma) => Math.sqrt(1 + sigma * sigma),
    classes,
  };
}

export function analyticBackend(gmm: Gmm, schedule?: DiscreteSchedule): AnalyticBackend {
  return {
    name: 'analytic',
    gmm,
    dataShape: [gmm.dim],
    latentShape: [gmm.dim],
    encode: (x) => x.clone(),
    decode: (z) => z.clone(),
    denoiser: gmmDenoiser(gmm),
    // One class per component: --class k samples component k.
    sampling: analyticSampling(schedule, gmm.weights.length),
    exactNll: (x) => gmmLogDensity(gmm, Float64Array.from(x.dataSync())).map((v) => -v),
    exactDivergence: divergenceFromDenoiserDivergence((x, s) => gmmDenoiserDivergence(gmm, x, s)),
  };
}

export { tf };

export interface AnalyticPoint {
  nfe: number;
  /** RMS distance to the exact ODE solution from the same noise; null for stochastic samplers */
  pathRms: number | null;
  /** the per-sample distances' median, 90% quantile and mode switches; null for stochastic samplers */
  path: PathErrors | null;
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
export function runAnalyticSampler(gmm: Gmm, sampler: SamplerSetting | string, steps: number, z: Float32Array, rng: Rng): { x: Float64Array; nfe: number; pathRms: number | null; path: PathErrors | null; seconds: number } {
  const backend = analyticBackend(gmm);
  const setting = typeof sampler === 'string' ? parseSamplerSetting(sampler) : sampler;
  const r = sampleLatents(backend, { setting, steps, z, rng });
  const x = Float64Array.from(r.x.dataSync());
  r.x.dispose();
  let pathRms: number | null = null, path: PathErrors | null = null;
  if (!isStochastic(setting)) {
    const plan = planSampling(backend.sampling, setting, steps);
    const xT = tf.tensor(z.map((v) => v * plan.initScale), [z.length / gmm.dim, gmm.dim]);
    const ref = getSampler('probability-flow').sampler(backend.denoiser, xT, { sigmas: plan.sigmas, rtol: 1e-8, atol: 1e-8 });
    path = pathErrors(gmm, x, ref.x.dataSync());
    pathRms = path.rms;
    tf.dispose([xT, ref.x]);
  }
  return { x, nfe: r.nfe, pathRms, path, seconds: r.seconds };
}

/** Runs one sampler setting on the mixture from seeded noise and measures its error. */
export function analyticPoint(gmm: Gmm, opts: { sampler: SamplerSetting | string; steps: number; n: number; seed: number }): AnalyticPoint {
  const rng = new Rng(opts.seed);
  const z = rng.fork().normals(opts.n * gmm.dim);
  const { x, nfe, pathRms, path, seconds } = runAnalyticSampler(gmm, opts.sampler, opts.steps, z, rng.fork());
  const truth = gmmSample(gmm, opts.n, new Rng(opts.seed + 1000));
  const sw2 = slicedWasserstein2(x, truth, gmm.dim, new Rng(7));
  const sw2Floor = slicedWasserstein2(gmmSample(gmm, opts.n, new Rng(opts.seed + 2000)), truth, gmm.dim, new Rng(7));
  return { nfe, pathRms, path, sw2, sw2Floor, seconds, n: opts.n };
}
