// The analytic backend: data from a Gaussian mixture with its exact denoiser, so that experiments
// measure sampler and likelihood-estimator error with no model error at all.
import { tf } from '../compute/backend.js';
import { gmmDenoiser, gmmDenoiserDivergence, gmmLogDensity, type Gmm } from '../models/gmm.js';
import { divergenceFromDenoiserDivergence, type DivergenceFn } from '../diffusion/likelihood.js';
import type { DiffusionBackend } from './types.js';

export interface AnalyticBackend extends DiffusionBackend {
  name: 'analytic';
  gmm: Gmm;
  /** ∇·f of the probability-flow ODE in closed form. */
  exactDivergence: DivergenceFn;
}

export function analyticBackend(gmm: Gmm): AnalyticBackend {
  return {
    name: 'analytic',
    gmm,
    dataShape: [gmm.dim],
    latentShape: [gmm.dim],
    encode: (x) => x.clone(),
    decode: (z) => z.clone(),
    denoiser: gmmDenoiser(gmm),
    exactNll: (x) => gmmLogDensity(gmm, Float64Array.from(x.dataSync())).map((v) => -v),
    exactDivergence: divergenceFromDenoiserDivergence((x, s) => gmmDenoiserDivergence(gmm, x, s)),
  };
}

export { tf };
