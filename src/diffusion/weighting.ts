// Loss weightings on the one x0-space loss w(σ)·‖D(x0 + σε, σ) − x0‖². Each is defined in x0 space,
// so it means the same thing whatever the objective (the network's own-space error is c_out²·w times
// smaller or larger, and the loss is computed there: k-diffusion's Denoiser.loss).
import type { NoiseLevels } from './noise-levels.js';
import type { Preconditioning } from './objectives/index.js';

export const WEIGHTINGS = ['simple', 'snr', 'min-snr', 'sigmoid', 'edm', 'vlb', 'velocity'] as const;
export type WeightingName = (typeof WEIGHTINGS)[number];

export interface WeightingSpec {
  name: WeightingName;
  /** min-snr: γ (Hang et al. 2023 use 5) */
  gamma?: number;
  /** sigmoid: the bias b of sigmoid(b − λ) (Kingma & Gao 2023; SiD2) */
  bias?: number;
  /** velocity: the smallest t the loss divides by (JiT clips 1 − t at 0.05 in its own time) */
  tMin?: number;
}

export interface WeightingContext {
  precond: Preconditioning;
  sigmaData: number;
  levels: NoiseLevels;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The weight w(σ) on ‖D − x0‖² (per dimension, averaged):
 *  - simple: 1/c_out², i.e. plain MSE on the objective's own output (DDPM's L_simple for eps, the
 *    velocity MSE for flow, EDM's λ(σ) for edm);
 *  - snr: SNR = 1/σ² (the ε-MSE, whatever the objective predicts);
 *  - min-snr: min(SNR, γ) (Hang et al. 2023);
 *  - edm: (σ² + σ_data²)/(σ·σ_data)² (Karras et al. 2022, Table 1);
 *  - vlb: ½·e^λ/p(λ), λ = log SNR: the diffusion part of the ELBO per dimension (Kingma et al. 2021,
 *    eq. 17), divided by the density p(λ) of the training levels so that it estimates the bound
 *    whatever they are; on a discrete schedule, T·½·(SNR_{t−1} − SNR_t), the discrete bound;
 *  - sigmoid: ½·e^λ·sigmoid(b − λ)/p(λ): Kingma & Gao's sigmoid weighting w(λ) = sigmoid(b − λ) of the
 *    ε-loss, as a weighting over λ (independent of p(λ) like vlb);
 *  - velocity: 1/max(t, t_min)² with t = σ/(1+σ), the velocity MSE ‖v̂ − v‖² on the rectified-flow
 *    path whatever the network predicts (v̂ − v = (x0 − D)/t): JiT's v-loss (Li & He 2025), whose
 *    t_min = 0.05 keeps an x- or ε-predicting network's weight finite near the data. On the flow
 *    objective it is 'simple' wherever t ≥ t_min.
 */
export function x0Weight(w: WeightingSpec, sigma: number, ctx: WeightingContext): number {
  const snr = 1 / (sigma * sigma), lambda = -2 * Math.log(sigma);
  switch (w.name) {
    case 'simple': return 1 / (ctx.precond.cOut * ctx.precond.cOut);
    case 'snr': return snr;
    case 'min-snr': return Math.min(snr, w.gamma ?? 5);
    case 'edm': {
      const sd = ctx.sigmaData;
      return (sigma * sigma + sd * sd) / (sigma * sd) ** 2;
    }
    case 'vlb': return (0.5 * snr) / ctx.levels.lambdaDensity(sigma);
    case 'sigmoid': return (0.5 * snr * sigmoid((w.bias ?? 0) - lambda)) / ctx.levels.lambdaDensity(sigma);
    case 'velocity': {
      const t = Math.max(sigma / (1 + sigma), w.tMin ?? 0.05);
      return 1 / (t * t);
    }
  }
}

/** The same weight on the network-output error ‖F − target‖² = ‖D − x0‖²/c_out²; 'simple' is exactly 1. */
export function outputWeight(w: WeightingSpec, sigma: number, ctx: WeightingContext): number {
  if (w.name === 'simple') return 1;
  return x0Weight(w, sigma, ctx) * ctx.precond.cOut * ctx.precond.cOut;
}

export function describeWeighting(w: WeightingSpec): string {
  if (w.name === 'min-snr') return `min-snr (γ = ${w.gamma ?? 5})`;
  if (w.name === 'sigmoid') return `sigmoid (b = ${w.bias ?? 0})`;
  if (w.name === 'velocity') return `velocity (t ≥ ${w.tMin ?? 0.05})`;
  return w.name;
}
