// v-prediction (Salimans & Ho 2022): v = α·ε − s·x0 in VP form, so x0 = α·x_t − s·v with x_t = α·x:
// D = α²·x − s·F.
import { vpOf, type Objective } from './types.js';
import { vpCommon, vpInput } from './vp-common.js';

export const v: Objective = {
  name: 'v',
  describe: 'v-prediction (α·ε − s·x0) on a DDPM schedule',
  cite: 'Salimans & Ho 2022',
  ...vpCommon,
  precond: (sigma, ctx) => {
    const { alpha, s } = vpOf(sigma);
    return { cSkip: alpha * alpha, cOut: -s, ...vpInput(sigma, ctx) };
  },
  target: (sigma) => {
    const { alpha, s } = vpOf(sigma);
    return { x0: -s, eps: alpha };
  },
};
