// Rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022; SD3, Esser et al. 2024):
// x_t = (1−t)·x0 + t·ε, the network predicts the velocity ε − x0. In σ space σ = t/(1−t) and
// x = x_t/(1−t), so x_t = x/(1+σ), t = σ/(1+σ) and x0 = x_t − t·F: D = x/(1+σ) − σ/(1+σ)·F.
import type { Objective } from './types.js';

/** t is kept inside [T_MIN, T_MAX]: t = 1 would be σ = ∞. */
const T_MIN = 1e-4, T_MAX = 1 - 1e-3;

/** What every objective on the rectified-flow path shares: the input x_t, the time 1000·t, the t range and grid. */
export const flowPath = {
  usesSchedule: false,
  /** x_t = x/(1+σ) and the network's time input 1000·t */
  input: (sigma: number) => ({ cIn: 1 / (1 + sigma), cNoise: (1000 * sigma) / (1 + sigma) }),
  sigmaRange: (): [number, number] => [T_MIN / (1 - T_MIN), T_MAX / (1 - T_MAX)],
  timeMap: () => ({ sigma: (t: number) => t / (1 - t), t: (sigma: number) => sigma / (1 + sigma) }),
  nativeGrid: 'uniform-t' as const,
  defaultNoise: { distribution: 'logit-normal' as const, m: 0, s: 1 },
};

export const flow: Objective = {
  name: 'flow',
  describe: 'rectified flow: velocity ε − x0 on x_t = (1−t)·x0 + t·ε',
  cite: 'Liu et al. 2022; Esser et al. 2024',
  ...flowPath,
  precond: (sigma) => ({ cSkip: 1 / (1 + sigma), cOut: -sigma / (1 + sigma), ...flowPath.input(sigma) }),
  target: () => ({ x0: -1, eps: 1 }),
  defaultWeighting: 'simple',
};

/**
 * x-prediction on the rectified-flow path (Li & He 2025, "Back to Basics", JiT): the network predicts
 * x0 from x_t, D = F. Trained by default with JiT's velocity loss (weighting 'velocity'), so that it
 * differs from `flow` only in what the network outputs.
 */
export const flowX0: Objective = {
  name: 'flow-x0',
  describe: 'x-prediction (the clean data) on the rectified-flow path x_t = (1−t)·x0 + t·ε',
  cite: 'Li & He 2025',
  ...flowPath,
  precond: (sigma) => ({ cSkip: 0, cOut: 1, ...flowPath.input(sigma) }),
  target: () => ({ x0: 1, eps: 0 }),
  defaultWeighting: 'velocity',
};

/**
 * ε-prediction on the rectified-flow path (JiT's ablation): x0 = (x_t − t·ε)/(1 − t), i.e. in σ space
 * D = x − σ·F. Trained by default with the velocity loss.
 */
export const flowEps: Objective = {
  name: 'flow-eps',
  describe: 'ε-prediction (the noise) on the rectified-flow path x_t = (1−t)·x0 + t·ε',
  cite: 'Li & He 2025',
  ...flowPath,
  precond: (sigma) => ({ cSkip: 1, cOut: -sigma, ...flowPath.input(sigma) }),
  target: () => ({ x0: 0, eps: 1 }),
  defaultWeighting: 'velocity',
};
