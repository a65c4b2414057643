// The analytic backend: data from a Gaussian mixture with its exact denoiser, so that experiments
// measure sampler and likelihood-estimator error with no model error at all.
import { tf } from '../compute/backend.js';
import { divergenceFromDenoiserDivergence, type DivergenceFn } from '../diffusion/likelihood.js';
import { vpTimeMap } from '../diffusion/objectives/vp-common.js';
import { discreteSchedule, type DiscreteSchedule } from '../diffusion/schedules.js';
import { gmmDenoiser, gmmDenoiserDivergence, gmmLogDensity, type Gmm } from '../models/gmm.js';
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
