// EDM preconditioning (Karras et al. 2022, Table 1): unit-variance input and target at every σ,
// c_noise = ¼·ln σ, trained on log-normal σ with λ(σ) = 1/c_out², i.e. uniform weight on F's error.
import type { Objective } from './types.js';

const SIGMA_MIN = 0.002, SIGMA_MAX = 80;

export const edm: Objective = {
  name: 'edm',
  describe: 'EDM preconditioning (c_skip, c_out, c_in, c_noise with σ_data)',
  cite: 'Karras et al. 2022',
  usesSchedule: false,
  precond: (sigma, { sigmaData: sd }) => {
    const r = sigma * sigma + sd * sd;
    return { cSkip: (sd * sd) / r, cOut: (sigma * sd) / Math.sqrt(r), cIn: 1 / Math.sqrt(r), cNoise: Math.log(sigma) / 4 };
  },
  // (x0 − c_skip·(x0 + σε))/c_out with r = σ² + σ_data²: a = σ/(σ_data·√r), b = −σ_data/√r.
  target: (sigma, { sigmaData: sd }) => {
    const q = Math.sqrt(sigma * sigma + sd * sd);
    return { x0: sigma / (sd * q), eps: -sd / q };
  },
  sigmaRange: () => [SIGMA_MIN, SIGMA_MAX],
  // σ log-linear in t over [σ_min, σ_max] (the VE SDE's map, Song et al. 2021).
  timeMap: () => ({
    sigma: (t) => SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN) ** t,
    t: (sigma) => Math.log(sigma / SIGMA_MIN) / Math.log(SIGMA_MAX / SIGMA_MIN),
  }),
  nativeGrid: 'karras',
  defaultNoise: { distribution: 'log-normal', pMean: -1.2, pStd: 1.2 },
  defaultWeighting: 'simple',
};
