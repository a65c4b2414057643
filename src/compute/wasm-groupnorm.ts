// GroupNorm as one wasm-backend kernel with an analytic gradient.
//
// Composed from tfjs ops (moments, sub, mul, rsqrt, broadcasts), one GroupNorm and its gradient
// cost about 40 kernel calls, several of them broadcasting or reducing over non-trailing axes, which
// tfjs-backend-wasm runs as scalar index loops: in a training step of the mnist16 pixel UNet the
// GroupNorm ops took about a third of the time. Here the forward pass is three sweeps over the
// tensor (mean, variance about the mean, affine write) and the gradient two, each a WebAssembly
// SIMD loop over the heap (plain JS loops where C is not a multiple of 4).
//
// With x̂ = (x − μ_g)·r_g, r_g = 1/√(σ²_g + ε), y = γ_c·x̂ + β_c, and M elements per (sample, group):
//   dβ_c = Σ dy,  dγ_c = Σ dy·x̂,
//   dx = r_g·(γ_c·dy − mean_g(γ·dy) − x̂·mean_g(γ·dy·x̂)).
import { getKernel, registerKernel, unregisterKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs';
import { heapOffsets, sweeps } from './wasm-sweeps.js';
import type { WasmBackendLike } from './wasm-util.js';

const FORWARD = 'DifflabGroupNorm', BACKWARD = 'DifflabGroupNormGrad';

/** Per-channel group index and group size for NHWC data with C channels in G groups. */
function groupsOf(c: number, g: number): { cg: number; gi: Int32Array } {
  if (c % g !== 0) throw new Error(`GroupNorm: ${g} groups do not divide ${c} channels`);
  const cg = c / g, gi = new Int32Array(c);
  for (let k = 0; k < c; k++) gi[k] = Math.floor(k / cg);
  return { cg, gi };
}

function forwardKernel(args: { inputs: { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo[] {
  const { inputs: { x, gamma, beta }, backend, attrs } = args;
  const groups = attrs.groups as number, eps = attrs.eps as number;
  const [n, h, w, c] = x.shape;
  const p = h * w, { cg, gi } = groupsOf(c, groups), m = p * cg;
  const y = backend.makeOutput(x.shape, 'float32'), stats = backend.makeOutput([n, groups, 2], 'float32');
  const scratch = backend.makeOutput([4 * c], 'float32'); // sums | per-channel mean | scale | shift
  // Offsets after the allocations, which may have grown (and so moved) the heap.
  const { H, at: [ox, oy, oS, os, og, ob] } = heapOffsets(backend, x, y, stats, scratch, gamma, beta);
  const sw = sweeps(H, c);
  const mean = new Float64Array(groups), rstd = new Float64Array(groups);
  for (let s = 0; s < n; s++) {
    const base = s * p * c;
    sw.sum(ox + base, p, c, os);
    mean.fill(0);
    for (let k = 0; k < c; k++) mean[gi[k]] += H[os + k];
    for (let g = 0; g < groups; g++) mean[g] /= m;
    for (let k = 0; k < c; k++) H[os + c + k] = mean[gi[k]];
    // Variance about the mean (two passes), not E[x²] − μ², which cancels for large offsets.
    sw.sqdev(ox + base, p, c, os + c, os);
    rstd.fill(0);
    for (let k = 0; k < c; k++) rstd[gi[k]] += H[os + k];
    for (let g = 0; g < groups; g++) {
      rstd[g] = 1 / Math.sqrt(rstd[g] / m + eps);
      H[oS + (s * groups + g) * 2] = mean[g];
      H[oS + (s * groups + g) * 2 + 1] = rstd[g];
    }
    for (let k = 0; k < c; k++) {
      const scale = rstd[gi[k]] * H[og + k];
      H[os + 2 * c + k] = scale;
      H[os + 3 * c + k] = H[ob + k] - mean[gi[k]] * scale;
    }
    sw.affine(ox + base, oy + base, p, c, os + 2 * c, os + 3 * c);
  }
  backend.disposeData(scratch.dataId);
  return [y, stats];
}

function backwardKernel(args: { inputs: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; stats: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo[] {
  const { inputs: { dy, x, gamma, stats }, backend, attrs } = args;
  const groups = attrs.groups as number;
  const [n, h, w, c] = x.shape;
  const p = h * w, { cg, gi } = groupsOf(c, groups), m = p * cg;
  const dx = backend.makeOutput(x.shape, 'float32'), dgamma = backend.makeOutput([c], 'float32'), dbeta = backend.makeOutput([c], 'float32');
  const scratch = backend.makeOutput([5 * c], 'float32'); // Σdy | Σdy·x | A | B | E
  const { H, at: [ody, ox, odx, og, oS, os] } = heapOffsets(backend, dy, x, dx, gamma, stats, scratch);
  const sw = sweeps(H, c);
  const dg = new Float64Array(c), db = new Float64Array(c);
  const m1 = new Float64Array(groups), m2 = new Float64Array(groups);
  for (let s = 0; s < n; s++) {
    const base = s * p * c;
    sw.sum2(ody + base, ox + base, p, c, os, os + c);
    m1.fill(0);
    m2.fill(0);
    for (let k = 0; k < c; k++) {
      const g = gi[k], mu = H[oS + (s * groups + g) * 2], r = H[oS + (s * groups + g) * 2 + 1];
      const sdy = H[os + k], sxh = r * (H[os + c + k] - mu * sdy); // Σ dy and Σ dy·x̂ over this sample
      db[k] += sdy;
      dg[k] += sxh;
      m1[g] += H[og + k] * sdy;
      m2[g] += H[og + k] * sxh;
    }
    for (let k = 0; k < c; k++) {
      const g = gi[k], mu = H[oS + (s * groups + g) * 2], r = H[oS + (s * groups + g) * 2 + 1];
      const a1 = m1[g] / m, a2 = m2[g] / m;
      // dx = r·γ·dy − r·a1 − r²·a2·(x − μ) = A·dy + B·x + E
      H[os + 2 * c + k] = r * H[og + k];
      H[os + 3 * c + k] = -r * r * a2;
      H[os + 4 * c + k] = -r * a1 + r * r * a2 * mu;
    }
    sw.affine2(ody + base, ox + base, odx + base, p, c, os + 2 * c, os + 3 * c, os + 4 * c);
  }
  const { H: H2, at: [ogr, obr] } = heapOffsets(backend, dgamma, dbeta);
  H2.set(dg, ogr);
  H2.set(db, obr);
  backend.disposeData(scratch.dataId);
  return [dx, dgamma, dbeta];
}

/** Registers the kernels on wasm (idempotent). */
export function installWasmGroupNorm(): void {
  if (!getKernel(FORWARD, 'wasm')) registerKernel({ kernelName: FORWARD, backendName: 'wasm', kernelFunc: forwardKernel as never });
  if (!getKernel(BACKWARD, 'wasm')) registerKernel({ kernelName: BACKWARD, backendName: 'wasm', kernelFunc: backwardKernel as never });
}

/** Removes them again (benchmarks of tfjs-backend-wasm as shipped). */
export function uninstallWasmGroupNorm(): void {
  for (const name of [FORWARD, BACKWARD]) if (getKernel(name, 'wasm')) unregisterKernel(name, 'wasm');
}

/** Whether the fused GroupNorm runs on the active backend. */
export function fusedGroupNormAvailable(): boolean {
  return tf.getBackend() === 'wasm' && getKernel(FORWARD, 'wasm') != null;
}

/** GroupNorm over NHWC (statistics per sample and group, biased variance), fused on wasm. */
export function fusedGroupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number): tf.Tensor4D {
  // customGrad's type lists inputs and the save function as one union; the call passes them in order.
  const f = tf.customGrad(((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, stats] = tf.engine().runKernel(FORWARD, { x: xi, gamma: gi, beta: bi }, { groups, eps }) as tf.Tensor[];
    save([xi, gi, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, st] = saved;
        return tf.engine().runKernel(BACKWARD, { dy, x: xs, gamma: gs, stats: st }, { groups }) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma, beta) as tf.Tensor4D;
}
