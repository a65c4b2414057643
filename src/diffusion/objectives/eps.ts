// ε-prediction (Ho et al. 2020): the network predicts the noise; D = x − σ·F.
import type { Objective } from './types.js';
import { vpCommon, vpInput } from './vp-common.js';

export const eps: Objective = {
  name: 'eps',
  describe: 'ε-prediction on a DDPM schedule',
  cite: 'Ho et al. 2020',
  ...vpCommon,
  precond: (sigma, ctx) => ({ cSkip: 1, cOut: -sigma, ...vpInput(sigma, ctx) }),
  target: () => ({ x0: 0, eps: 1 }),
};
