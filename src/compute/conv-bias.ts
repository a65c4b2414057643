// A 2-D convolution with its bias added, as one kernel where the active backend registers it
// (oneDNN's convolution with a bias argument), else as tfjs's Conv2D and Add. The gradient is the
// usual three: Conv2DBackpropInput for x, Conv2DBackpropFilter for the filter and a sum of dy over
// every axis but the channels for the bias.
import { getGradient, getKernel, registerGradient } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs';

export const CONV_BIAS = 'DifflabConv2DBias';

/** Attributes of the fused kernel: NHWC, no dilation. */
export interface ConvBiasAttrs { strides: [number, number]; pad: 'same' | 'valid' }

if (!getGradient(CONV_BIAS)) {
  registerGradient({
    kernelName: CONV_BIAS,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved;
      const d = dy as tf.Tensor4D;
      const { strides, pad } = attrs as unknown as ConvBiasAttrs;
      return {
        x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: d, filter }, { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: x.shape } as never) as tf.Tensor,
        filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: d }, { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: filter.shape } as never) as tf.Tensor,
        bias: () => tf.sum(d, [0, 1, 2]),
      };
    },
  });
}

/** conv2d(x, filter) + bias over NHWC data, differentiable. */
export function conv2dBias(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor, stride: number, pad: 'same' | 'valid'): tf.Tensor4D {
  if (x.dtype === 'float32' && getKernel(CONV_BIAS, tf.getBackend()) != null) {
    return tf.engine().runKernel(CONV_BIAS, { x, filter, bias }, { strides: [stride, stride], pad } as never) as tf.Tensor4D;
  }
  return tf.conv2d(x, filter, stride, pad).add(bias) as tf.Tensor4D;
}
