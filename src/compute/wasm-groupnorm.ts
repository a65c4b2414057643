// GroupNorm as one wasm-backend kernel with an analytic gradient.
//
// Composed from tfjs ops (moments, sub, mul, rsqrt, broadcasts), one GroupNorm and its gradient
// cost about 40 kernel calls, several of them broadcasting or reducing over non-trailing axes, which
// tfjs-backend-wasm runs as scalar index loops: in a training step of the mnist16 pixel UNet the
// GroupNorm ops took about a third of the time. Here the forward pass is three sweeps over the
// tensor (mean, variance about the mean, affine write) and the gradient two, in plain loops over
// the wasm heap with float64 accumulators.
//
// With x̂ = (x − μ_g)·r_g, r_g = 1/√(σ²_g + ε), y = γ_c·x̂ + β_c, and M elements per (sample, group):
//   dβ_c = Σ dy,  dγ_c = Σ dy·x̂,
//   dx = r_g·(γ_c·dy − mean_g(γ·dy) − x̂·mean_g(γ·dy·x̂)).
import { getKernel, registerKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs';
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
  // Views after the allocations, which may have grown (and so moved) the heap.
  const X = backend.typedArrayFromHeap(x), Y = backend.typedArrayFromHeap(y), S = backend.typedArrayFromHeap(stats);
  const gam = backend.typedArrayFromHeap(gamma), bet = backend.typedArrayFromHeap(beta);
  const acc = new Float64Array(c), meanC = new Float64Array(c), a = new Float32Array(c), b = new Float32Array(c);
  const mean = new Float64Array(groups), rstd = new Float64Array(groups);
  for (let s = 0; s < n; s++) {
    const start = s * p * c, end = start + p * c;
    acc.fill(0);
    for (let i = start; i < end; i += c) for (let k = 0; k < c; k++) acc[k] += X[i + k];
    mean.fill(0);
    for (let k = 0; k < c; k++) mean[gi[k]] += acc[k];
    for (let g = 0; g < groups; g++) mean[g] /= m;
    for (let k = 0; k < c; k++) meanC[k] = mean[gi[k]];
    // Variance about the mean (two-pass), not E[x²] − μ², which cancels for large offsets.
    acc.fill(0);
    for (let i = start; i < end; i += c) for (let k = 0; k < c; k++) { const d = X[i + k] - meanC[k]; acc[k] += d * d; }
    rstd.fill(0);
    for (let k = 0; k < c; k++) rstd[gi[k]] += acc[k];
    for (let g = 0; g < groups; g++) {
      rstd[g] = 1 / Math.sqrt(rstd[g] / m + eps);
      S[(s * groups + g) * 2] = mean[g];
      S[(s * groups + g) * 2 + 1] = rstd[g];
    }
    for (let k = 0; k < c; k++) { a[k] = rstd[gi[k]] * gam[k]; b[k] = bet[k] - meanC[k] * a[k]; }
    for (let i = start; i < end; i += c) for (let k = 0; k < c; k++) Y[i + k] = X[i + k] * a[k] + b[k];
  }
  return [y, stats];
}

function backwardKernel(args: { inputs: { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; stats: TensorInfo }; backend: WasmBackendLike; attrs: NamedAttrMap }): TensorInfo[] {
  const { inputs: { dy, x, gamma, stats }, backend, attrs } = args;
  const groups = attrs.groups as number;
  const [n, h, w, c] = x.shape;
  const p = h * w, { cg, gi } = groupsOf(c, groups), m = p * cg;
  const dx = backend.makeOutput(x.shape, 'float32'), dgamma = backend.makeOutput([c], 'float32'), dbeta = backend.makeOutput([c], 'float32');
  const DY = backend.typedArrayFromHeap(dy), X = backend.typedArrayFromHeap(x), DX = backend.typedArrayFromHeap(dx);
  const gam = backend.typedArrayFromHeap(gamma), S = backend.typedArrayFromHeap(stats);
  const sdy = new Float64Array(c), sdyx = new Float64Array(c), dg = new Float64Array(c), db = new Float64Array(c);
  const m1 = new Float64Array(groups), m2 = new Float64Array(groups);
  const A = new Float32Array(c), B = new Float32Array(c), C = new Float32Array(c);
  for (let s = 0; s < n; s++) {
    const start = s * p * c, end = start + p * c;
    sdy.fill(0);
    sdyx.fill(0);
    for (let i = start; i < end; i += c) for (let k = 0; k < c; k++) { const d = DY[i + k]; sdy[k] += d; sdyx[k] += d * X[i + k]; }
    m1.fill(0);
    m2.fill(0);
    for (let k = 0; k < c; k++) {
      const g = gi[k], mu = S[(s * groups + g) * 2], r = S[(s * groups + g) * 2 + 1];
      const sxh = r * (sdyx[k] - mu * sdy[k]); // Σ dy·x̂ over this sample
      db[k] += sdy[k];
      dg[k] += sxh;
      m1[g] += gam[k] * sdy[k];
      m2[g] += gam[k] * sxh;
    }
    for (let k = 0; k < c; k++) {
      const g = gi[k], mu = S[(s * groups + g) * 2], r = S[(s * groups + g) * 2 + 1];
      const a1 = m1[g] / m, a2 = m2[g] / m;
      // dx = r·γ·dy − r·a1 − r²·a2·(x − μ)
      A[k] = r * gam[k];
      B[k] = -r * r * a2;
      C[k] = -r * a1 + r * r * a2 * mu;
    }
    for (let i = start; i < end; i += c) for (let k = 0; k < c; k++) DX[i + k] = A[k] * DY[i + k] + B[k] * X[i + k] + C[k];
  }
  backend.typedArrayFromHeap(dgamma).set(dg);
  backend.typedArrayFromHeap(dbeta).set(db);
  return [dx, dgamma, dbeta];
}

/** Registers the kernels on wasm (idempotent). */
export function installWasmGroupNorm(): void {
  if (!getKernel(FORWARD, 'wasm')) registerKernel({ kernelName: FORWARD, backendName: 'wasm', kernelFunc: forwardKernel as never });
  if (!getKernel(BACKWARD, 'wasm')) registerKernel({ kernelName: BACKWARD, backendName: 'wasm', kernelFunc: backwardKernel as never });
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
