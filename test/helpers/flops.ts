// FLOPs of the Conv2D and BatchMatMul kernels a computation actually runs, read from tf.profile:
// an independent count to check models' own FLOP accounting against.
import { tf } from '../../src/compute/backend.js';

export async function executedFlops(f: () => tf.TensorContainer, perItems = 1): Promise<number> {
  const info = await tf.profile(f);
  let flops = 0;
  for (const k of info.kernels) {
    if (k.name === 'Conv2D') {
      const [out, filt] = [k.outputShapes[0]!, k.inputShapes[1]!];
      flops += 2 * out.reduce((a, b) => a * b, 1) * filt[0] * filt[1] * filt[2];
    } else if (k.name === 'BatchMatMul') {
      // The inner dimension is whichever of a's last two dims is not the output's row count.
      const [out, a] = [k.outputShapes[0]!, k.inputShapes[0]!];
      const inner = a[a.length - 2] === out[out.length - 2] ? a[a.length - 1] : a[a.length - 2];
      flops += 2 * out.reduce((p, q) => p * q, 1) * inner;
    }
  }
  tf.dispose(info.result as tf.TensorContainer);
  return flops / perItems;
}
