// Helpers for tests that run one computation on two tfjs backends and compare the results.
import { selectBackend, tf, type ComputeBackend } from '../../src/compute/backend.js';

/** ‖a − b‖∞ / ‖b‖∞: the relative error of `a` against the reference `b`. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

/** Runs `fn` on a backend and returns its outputs as plain arrays, disposing every tensor it made. */
export async function onBackend(backend: ComputeBackend, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend(backend);
  const outs = tf.tidy(fn);
  const vals = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return vals;
}
