// x-prediction (Li & He 2025, "Back to Basics"; also DDPM's x0 variant): the network predicts the
// clean image itself; D = F.
import type { Objective } from './types.js';
import { vpCommon, vpInput } from './vp-common.js';

export const x0: Objective = {
  name: 'x0',
  describe: 'x-prediction (the clean data) on a DDPM schedule',
  cite: 'Ho et al. 2020; Li & He 2025',
  ...vpCommon,
  precond: (sigma, ctx) => ({ cSkip: 0, cOut: 1, ...vpInput(sigma, ctx) }),
  target: () => ({ x0: 1, eps: 0 }),
};
