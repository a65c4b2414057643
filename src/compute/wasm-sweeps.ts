// Memory-bound sweeps over [P, C] channel-last data in WebAssembly SIMD: per-channel sums, squared
// deviations and affine maps. GroupNorm and the bias-gradient reduction are built from them.
import { madd, simdRuntime } from './wasm-simd.js';
import type { WasmBackendLike } from './wasm-util.js';
import type { TensorInfo } from '@tensorflow/tfjs-core';

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

/**
 * The sweeps over one sample's P×C elements; arguments are element offsets into the wasm heap.
 * Accumulations are float32 over the P pixels of one channel; the group reductions (over channels)
 * are float64 in the callers.
 */
export interface Sweeps {
  sum(x: number, P: number, C: number, s: number): void;
  sqdev(x: number, P: number, C: number, mu: number, s: number): void;
  affine(x: number, y: number, P: number, C: number, a: number, b: number): void;
  sum2(dy: number, x: number, P: number, C: number, s: number, t: number): void;
  affine2(dy: number, x: number, dx: number, P: number, C: number, a: number, b: number, e: number): void;
}

let simdSweeps: Record<string, (...args: number[]) => void> | undefined;

/** The SIMD sweeps where C is a multiple of 4 and the kernel runtime is up, else plain loops. */
export function sweeps(H: Float32Array, c: number): Sweeps {
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
export function heapOffsets(backend: WasmBackendLike, ...ts: TensorInfo[]): { H: Float32Array; at: number[] } {
  const views = ts.map((t) => backend.typedArrayFromHeap(t));
  return { H: new Float32Array(views[0].buffer), at: views.map((v) => v.byteOffset / 4) };
}
