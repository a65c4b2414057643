// SiLU, x·σ(x) (Elfwing et al. 2018; "swish"), as one kernel and its gradient as another where the
// active backend registers them (oneDNN's eltwise swish), else as tfjs's Sigmoid and Multiply. The
// gradient of the composition runs about six elementwise kernels on the tape; the fused one a single
// pass: d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x))).
import { getKernel, registerGradient, getGradient } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs';

export const SILU = 'DifflabSilu', SILU_GRAD = 'DifflabSiluGrad';

if (!getGradient(SILU)) {
  registerGradient({
    kernelName: SILU,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => tf.engine().runKernel(SILU_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor };
    },
  });
}

/** x·σ(x) elementwise, differentiable. */
export function silu<T extends tf.Tensor>(x: T): T {
  if (x.dtype === 'float32' && getKernel(SILU, tf.getBackend()) != null) return tf.engine().runKernel(SILU, { x }) as T;
  return x.mul(tf.sigmoid(x)) as T;
}
