// Rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022; SD3, Esser et al. 2024):
// x_t = (1−t)·x0 + t·ε, the network predicts the velocity ε − x0. In σ space σ = t/(1−t) and
// x = x_t/(1−t), so x_t = x/(1+σ), t = σ/(1+σ) and x0 = x_t − t·F: D = x/(1+σ) − σ/(1+σ)·F.
import type { Objective } from './types.js';

/** t is kept inside [T_MIN, T_MAX]: t = 1 would be σ = ∞. */
const T_MIN = 1e-4, T_MAX = 1 - 1e-3;

export const flow: Objective = {
  name: 'flow',
  describe: 'rectified flow: velocity ε − x0 on x_t = (1−t)·x0 + t·ε',
  cite: 'Liu et al. 2022; Esser et al. 2024',
  usesSchedule: false,
  precond: (sigma) => ({ cSkip: 1 / (1 + sigma), cOut: -sigma / (1 + sigma), cIn: 1 / (1 + sigma), cNoise: (1000 * sigma) / (1 + sigma) }),
  target: () => ({ x0: -1, eps: 1 }),
  sigmaRange: () => [T_MIN / (1 - T_MIN), T_MAX / (1 - T_MAX)],
  timeMap: () => ({ sigma: (t) => t / (1 - t), t: (sigma) => sigma / (1 + sigma) }),
  nativeGrid: 'uniform-t',
  defaultNoise: { distribution: 'logit-normal', m: 0, s: 1 },
  defaultWeighting: 'simple',
};
