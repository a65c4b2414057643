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
import { getKernel, registerKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs';
import { madd, simdRuntime } from './wasm-simd.js';
import type { WasmBackendLike } from './wasm-util.js';

const FORWARD = 'DifflabGroupNorm', BACKWARD = 'DifflabGroupNormGrad';

/**
 * The per-element sweeps in WebAssembly SIMD, 4 channels per vector (C a multiple of 4); the
 * per-channel operands (sums, scales) sit in a scratch tensor. Each function covers P pixels × C.
 *   sum(x, P, C, s):             s[c] = Σ_p x[p, c]
 *   sqdev(x, P, C, mu, s):       s[c] = Σ_p (x[p, c] − mu[c])²
 *   affine(x, y, P, C, a, b):    y[p, c] = a[c]·x[p, c] + b[c]
 *   sum2(dy, x, P, C, s, t):     s[c] = Σ_p dy[p, c],  t[c] = Σ_p dy[p, c]·x[p, c]
 *   affine2(dy, x, dx, P, C, a, b, e): dx[p, c] = a[c]·dy[p, c] + b[c]·x[p, c] + e[c]
 */
function sweepsModule(fma: boolean): string {
  // A function over p (outer) and c in steps of 4 (inner); `body` sees $i (the element's byte
  // offset) and $k (the channel's byte offset).
  const fn = (signature: string, pre: string[], body: string[]) => {
    const [name, ...params] = signature.split(' ');
    return `(func (export "${name}") ${params.map((n) => `(param $${n} i32)`).join(' ')}
    (local $i i32) (local $k i32) (local $end i32) (local $rowEnd i32) (local $u v128)
    ${pre.join('\n')}
    (local.set $end (i32.shl (i32.mul (local.get $P) (local.get $C)) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $done (loop $lp
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $rowEnd (i32.add (local.get $i) (i32.shl (local.get $C) (i32.const 2))))
      (local.set $k (i32.const 0))
      (loop $lc
        ${body.join('\n')}
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br_if $lc (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 16))) (local.get $rowEnd))))
      (br $lp))))`;
  };
  const ld = (base: string, off = '$i') => `(v128.load (i32.add (local.get $${base}) (local.get ${off})))`;
  const st = (base: string, off: string, v: string) => `(v128.store (i32.add (local.get $${base}) (local.get ${off})) ${v})`;
  const zero = (base: string) => `(memory.fill (local.get $${base}) (i32.const 0) (i32.shl (local.get $C) (i32.const 2)))`;
  return ['(module (import "env" "memory" (memory 1))',
    fn('sum x P C s', [zero('s')], [st('s', '$k', `(f32x4.add ${ld('s', '$k')} ${ld('x')})`)]),
    fn('sqdev x P C mu s', [zero('s')], [
      `(local.set $u (f32x4.sub ${ld('x')} ${ld('mu', '$k')}))`,
      st('s', '$k', madd(fma, '(local.get $u)', '(local.get $u)', ld('s', '$k'))),
    ]),
    fn('affine x y P C a b', [], [st('y', '$i', madd(fma, ld('a', '$k'), ld('x'), ld('b', '$k')))]),
    fn('sum2 dy x P C s t', [zero('s'), zero('t')], [
      `(local.set $u ${ld('dy')})`,
      st('s', '$k', `(f32x4.add ${ld('s', '$k')} (local.get $u))`),
      st('t', '$k', madd(fma, '(local.get $u)', ld('x'), ld('t', '$k'))),
    ]),
    fn('affine2 dy x dx P C a b e', [], [
      st('dx', '$i', madd(fma, ld('a', '$k'), ld('dy'), madd(fma, ld('b', '$k'), ld('x'), ld('e', '$k')))),
    ]),
    ')'].join('\n');
}

/** Per-channel group index and group size for NHWC data with C channels in G groups. */
function groupsOf(c: number, g: number): { cg: number; gi: Int32Array } {
  if (c % g !== 0) throw new Error(`GroupNorm: ${g} groups do not divide ${c} channels`);
  const cg = c / g, gi = new Int32Array(c);
  for (let k = 0; k < c; k++) gi[k] = Math.floor(k / cg);
  return { cg, gi };
}

/**
 * The sweeps over one sample's P×C elements; arguments are element offsets into the wasm heap.
 * Accumulations are float32 over the P pixels of one channel; the group reductions (over channels)
 * are float64 in the callers.
 */
interface Sweeps {
  sum(x: number, P: number, C: number, s: number): void;
  sqdev(x: number, P: number, C: number, mu: number, s: number): void;
  affine(x: number, y: number, P: number, C: number, a: number, b: number): void;
  sum2(dy: number, x: number, P: number, C: number, s: number, t: number): void;
  affine2(dy: number, x: number, dx: number, P: number, C: number, a: number, b: number, e: number): void;
}

let simdSweeps: Record<string, (...args: number[]) => void> | undefined;

/** The SIMD sweeps where C is a multiple of 4 and the kernel runtime is up, else plain loops. */
function sweeps(H: Float32Array, c: number): Sweeps {
  const rt = simdRuntime();
  if (rt && c % 4 === 0) {
    const f = (simdSweeps ??= rt.instantiate(sweepsModule(rt.fma)) as Record<string, (...args: number[]) => void>);
    return {
      sum: (x, P, C, s) => f.sum(4 * x, P, C, 4 * s),
      sqdev: (x, P, C, mu, s) => f.sqdev(4 * x, P, C, 4 * mu, 4 * s),
      affine: (x, y, P, C, a, b) => f.affine(4 * x, 4 * y, P, C, 4 * a, 4 * b),
      sum2: (dy, x, P, C, s, t) => f.sum2(4 * dy, 4 * x, P, C, 4 * s, 4 * t),
      affine2: (dy, x, dx, P, C, a, b, e) => f.affine2(4 * dy, 4 * x, 4 * dx, P, C, 4 * a, 4 * b, 4 * e),
    };
  }
  return {
    sum(x, P, C, s) {
      H.fill(0, s, s + C);
      for (let i = x; i < x + P * C; i += C) for (let k = 0; k < C; k++) H[s + k] += H[i + k];
    },
    sqdev(x, P, C, mu, s) {
      H.fill(0, s, s + C);
      for (let i = x; i < x + P * C; i += C) for (let k = 0; k < C; k++) { const d = H[i + k] - H[mu + k]; H[s + k] += d * d; }
    },
    affine(x, y, P, C, a, b) {
      for (let j = 0; j < P * C; j += C) for (let k = 0; k < C; k++) H[y + j + k] = H[a + k] * H[x + j + k] + H[b + k];
    },
    sum2(dy, x, P, C, s, t) {
      H.fill(0, s, s + C);
      H.fill(0, t, t + C);
      for (let j = 0; j < P * C; j += C) for (let k = 0; k < C; k++) { const d = H[dy + j + k]; H[s + k] += d; H[t + k] += d * H[x + j + k]; }
    },
    affine2(dy, x, dx, P, C, a, b, e) {
      for (let j = 0; j < P * C; j += C) for (let k = 0; k < C; k++) H[dx + j + k] = H[a + k] * H[dy + j + k] + H[b + k] * H[x + j + k] + H[e + k];
    },
  };
}

/** The whole heap as float32 and the element offset of each tensor; call after the last allocation. */
function heapOffsets(backend: WasmBackendLike, ...ts: TensorInfo[]): { H: Float32Array; at: number[] } {
  const views = ts.map((t) => backend.typedArrayFromHeap(t));
  return { H: new Float32Array(views[0].buffer), at: views.map((v) => v.byteOffset / 4) };
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
