// The update tail of a training step over flat buffers: the average of the threads' gradients,
// global-norm clipping, AdamW, the EMA and the post-hoc power EMAs, in a few WebAssembly SIMD passes
// instead of ~10 tfjs kernels per parameter tensor and EMA (the mnist16 UNets have 128 tensors: well
// over a thousand kernel calls a step). The state lives in one shared memory, laid out parameter by
// parameter: gradient slots (one per thread), parameters, moments, averages. The tfjs variables that
// checkpoints read are written from it when a checkpoint or snapshot is due (syncState), the model's
// variables after every step (pushParams). Without the wasm backend's assembler the same passes run
// as JavaScript loops.
import { tf } from '../compute/backend.js';
import { instantiateOwn } from '../compute/wasm-simd.js';
import type { AdamW, Ema } from './optim.js';
import type { PowerEma } from './posthoc-ema.js';

export interface FlatLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  sizes: number[];
  trainable: boolean[];
  total: number;
}

export function flatLayout(params: Map<string, tf.Variable>): FlatLayout {
  const l: FlatLayout = { names: [], shapes: [], offsets: [], sizes: [], trainable: [], total: 0 };
  for (const [name, p] of params) {
    l.names.push(name);
    l.shapes.push(p.shape.slice());
    l.offsets.push(l.total);
    l.sizes.push(p.size);
    l.trainable.push(p.trainable);
    l.total += p.size;
  }
  return l;
}

/** Assigns each variable of `vars` (in layout order; undefined: skipped) its part of `src`. */
export function writeFlat(vars: Iterable<tf.Variable | undefined>, l: FlatLayout, src: Float32Array): void {
  let i = 0;
  for (const v of vars) {
    if (v) {
      const t = tf.tensor(src.subarray(l.offsets[i], l.offsets[i] + l.sizes[i]), l.shapes[i]);
      v.assign(t);
      t.dispose();
    }
    i++;
  }
}

/** Copies the values of `vars` (in layout order) into `out`. */
export function readFlat(vars: Iterable<tf.Tensor>, l: FlatLayout, out: Float32Array): Float32Array {
  let i = 0;
  for (const v of vars) out.set(v.dataSync() as Float32Array, l.offsets[i++]);
  return out;
}

/** Σ g² in double precision (the global gradient norm is its square root). */
export function sumSquares(g: Float32Array): number {
  let s0 = 0, s1 = 0;
  const n = g.length, n2 = n - (n % 2);
  for (let j = 0; j < n2; j += 2) { s0 += g[j] * g[j]; s1 += g[j + 1] * g[j + 1]; }
  if (n2 < n) s0 += g[n - 1] * g[n - 1];
  return s0 + s1;
}

/** The SIMD passes; every length is a multiple of 4 (regions are padded) and every pointer 16-byte aligned. */
const KERNELS = `(module
  (import "env" "memory" (memory 1 65536 shared))
  ;; dst ← w·dst
  (func (export "scale") (param $dst i32) (param $n i32) (param $w f32)
    (local $end i32) (local $W v128)
    (local.set $W (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (f32x4.mul (v128.load (local.get $dst)) (local.get $W)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $l))))
  ;; dst ← dst + w·src
  (func (export "axpy") (param $dst i32) (param $src i32) (param $n i32) (param $w f32)
    (local $end i32) (local $W v128)
    (local.set $W (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (f32x4.mul (v128.load (local.get $src)) (local.get $W))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l))))
  ;; Σ x² with the squares summed in float64
  (func (export "sumsq") (param $x i32) (param $n i32) (result f64)
    (local $end i32) (local $s v128) (local $acc v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $s (v128.load (local.get $x)))
      (local.set $s (f32x4.mul (local.get $s) (local.get $s)))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.promote_low_f32x4 (local.get $s))))
      (local.set $acc (f64x2.add (local.get $acc) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $s) (local.get $s)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $l)))
    (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
  ;; AdamW on g·gs: m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; p ← p − lr·(m·ibc1/(√(v·ibc2) + eps) + wd·p)
  (func (export "adamw") (param $p i32) (param $m i32) (param $v i32) (param $g i32) (param $n i32)
    (param $gs f32) (param $lr f32) (param $b1 f32) (param $b2 f32) (param $ibc1 f32) (param $ibc2 f32) (param $eps f32) (param $wd f32)
    (local $end i32) (local $G v128) (local $M v128) (local $V v128) (local $P v128)
    (local $GS v128) (local $LR v128) (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128) (local $I1 v128) (local $I2 v128) (local $E v128) (local $WD v128)
    (local.set $GS (f32x4.splat (local.get $gs)))
    (local.set $LR (f32x4.splat (local.get $lr)))
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $I1 (f32x4.splat (local.get $ibc1)))
    (local.set $I2 (f32x4.splat (local.get $ibc2)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $WD (f32x4.splat (local.get $wd)))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $G (f32x4.mul (v128.load (local.get $g)) (local.get $GS)))
      (local.set $M (f32x4.add (f32x4.mul (v128.load (local.get $m)) (local.get $B1)) (f32x4.mul (local.get $G) (local.get $C1))))
      (local.set $V (f32x4.add (f32x4.mul (v128.load (local.get $v)) (local.get $B2)) (f32x4.mul (f32x4.mul (local.get $G) (local.get $G)) (local.get $C2))))
      (local.set $P (v128.load (local.get $p)))
      (v128.store (local.get $m) (local.get $M))
      (v128.store (local.get $v) (local.get $V))
      (v128.store (local.get $p) (f32x4.sub (local.get $P) (f32x4.mul (local.get $LR)
        (f32x4.add
          (f32x4.div (f32x4.mul (local.get $M) (local.get $I1)) (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $V) (local.get $I2))) (local.get $E)))
          (f32x4.mul (local.get $WD) (local.get $P))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $m (i32.add (local.get $m) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $l))))
  ;; s ← d·s + (1 − d)·p
  (func (export "lerp") (param $s i32) (param $p i32) (param $n i32) (param $d f32)
    (local $end i32) (local $D v128) (local $C v128)
    (local.set $D (f32x4.splat (local.get $d)))
    (local.set $C (f32x4.splat (f32.sub (f32.const 1) (local.get $d))))
    (local.set $end (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $s) (local.get $end)))
      (v128.store (local.get $s) (f32x4.add (f32x4.mul (v128.load (local.get $s)) (local.get $D)) (f32x4.mul (v128.load (local.get $p)) (local.get $C))))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))
)`;

interface Kernels {
  scale(dst: number, n: number, w: number): void;
  axpy(dst: number, src: number, n: number, w: number): void;
  sumsq(x: number, n: number): number;
  adamw(p: number, m: number, v: number, g: number, n: number, gs: number, lr: number, b1: number, b2: number, ibc1: number, ibc2: number, eps: number, wd: number): void;
  lerp(s: number, p: number, n: number, d: number): void;
}

/** Where a thread finds the parameters and its gradient slot in the shared buffer. */
export interface ArenaView {
  buffer: SharedArrayBuffer;
  /** Floats per region (the parameter count rounded up to a multiple of 4). */
  stride: number;
  params: number;
  /** Byte offset of gradient slot k is slots + 4·stride·k. */
  slots: number;
}

export class FlatUpdate {
  readonly layout: FlatLayout;
  readonly p: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** The EMA's shadow, then each power EMA's. */
  readonly shadows: Float32Array[];
  /** Gradient slots, one per thread; slot 0 receives the average. */
  readonly slots: Float32Array[];
  readonly arena: ArenaView;
  /** Whether the passes run as WebAssembly SIMD (else JavaScript loops). */
  readonly simd: boolean;
  private readonly k: Kernels | undefined;
  private readonly stride: number;
  private readonly allTrainable: boolean;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  /**
   * Takes the current state of the parameters, the optimizer's moments (zero where it has none yet),
   * the EMA and the power EMAs; `slots`: the number of gradient slots (threads). `simd: false` forces
   * the JavaScript loops.
   */
  constructor(readonly params: Map<string, tf.Variable>, readonly opt: AdamW, readonly ema: Ema, readonly powerEma?: PowerEma, o: { slots?: number; simd?: boolean } = {}) {
    const l = (this.layout = flatLayout(params));
    const nSlots = o.slots ?? 1, nShadows = 1 + (powerEma?.shadows.length ?? 0);
    const stride = (this.stride = Math.ceil(l.total / 4) * 4);
    const bytes = 4 * stride * (nSlots + 3 + nShadows);
    let buffer: SharedArrayBuffer, k: Kernels | undefined;
    if (o.simd !== false) {
      const pages = Math.ceil(bytes / 65536);
      const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      k = instantiateOwn(KERNELS, memory) as unknown as Kernels | undefined;
      buffer = memory.buffer as unknown as SharedArrayBuffer;
    } else {
      buffer = new SharedArrayBuffer(bytes);
    }
    this.k = k;
    this.simd = k !== undefined;
    let next = 0;
    const region = () => new Float32Array(buffer, 4 * stride * next++, stride);
    this.slots = Array.from({ length: nSlots }, region);
    this.p = region();
    this.m = region();
    this.v = region();
    this.shadows = Array.from({ length: nShadows }, region);
    this.arena = { buffer, stride, params: this.p.byteOffset, slots: this.slots[0].byteOffset };
    this.allTrainable = l.trainable.every(Boolean);
    readFlat(params.values(), l, this.p);
    // The moments' variables exist from the start (zero for a fresh optimizer), so that writing them
    // back at a checkpoint allocates nothing.
    for (const [name, p] of params) {
      if (!p.trainable) continue;
      for (const store of [opt.m, opt.v]) if (!store.has(name)) store.set(name, tf.variable(tf.zerosLike(p), false));
    }
    l.names.forEach((name, i) => {
      if (!l.trainable[i]) return;
      this.m.set(opt.m.get(name)!.dataSync() as Float32Array, l.offsets[i]);
      this.v.set(opt.v.get(name)!.dataSync() as Float32Array, l.offsets[i]);
    });
    const maps = [ema.shadow, ...(powerEma?.shadows ?? [])];
    maps.forEach((s, k) => readFlat(l.names.map((n) => s.get(n)!), l, this.shadows[k]));
    this.b1 = opt.cfg.beta1 ?? 0.9;
    this.b2 = opt.cfg.beta2 ?? 0.999;
    this.eps = opt.cfg.eps ?? 1e-8;
    this.wd = opt.cfg.weightDecay ?? 0;
  }

  /** Slot 0 ← Σ_k w_k·slot_k, summed in slot order (float32); returns slot 0. */
  average(weights: number[]): Float32Array {
    const [g0] = this.slots, n = this.stride;
    if (this.k) {
      this.k.scale(g0.byteOffset, n, weights[0]);
      for (let s = 1; s < weights.length; s++) this.k.axpy(g0.byteOffset, this.slots[s].byteOffset, n, weights[s]);
    } else {
      const w0 = Math.fround(weights[0]);
      for (let j = 0; j < n; j++) g0[j] = Math.fround(w0 * g0[j]);
      for (let s = 1; s < weights.length; s++) {
        const g = this.slots[s], w = Math.fround(weights[s]);
        for (let j = 0; j < n; j++) g0[j] = g0[j] + Math.fround(w * g[j]);
      }
    }
    return g0;
  }

  /** Σ g² of a gradient slot (float64 accumulation). */
  sumSquares(g: Float32Array): number {
    return this.k ? this.k.sumsq(g.byteOffset, this.stride) : sumSquares(g);
  }

  /** The decays of the EMA and the power EMAs for optimizer step `t` (1-based), as their update methods use. */
  decays(t: number): number[] {
    return [this.ema.decayAt(t), ...(this.powerEma?.gammas.map((g) => (1 - 1 / t) ** (g + 1)) ?? [])];
  }

  /**
   * One optimizer step with gradient `g` (a slot) scaled by `gScale` (clipping), learning rate `lr`,
   * then the averages: the arithmetic of clipByGlobalNorm, AdamW.apply, Ema.update and PowerEma.update.
   */
  apply(g: Float32Array, gScale: number, lr: number): void {
    const t = ++this.opt.step;
    const bc1 = 1 - this.b1 ** t, bc2 = 1 - this.b2 ** t;
    const { b1, b2, eps, wd } = this, c1 = 1 - b1, c2 = 1 - b2;
    const { p, m, v, layout: l } = this;
    const d = this.decays(t);
    if (this.k && this.allTrainable && g.buffer === p.buffer) {
      this.k.adamw(p.byteOffset, m.byteOffset, v.byteOffset, g.byteOffset, this.stride, gScale, lr, b1, b2, 1 / bc1, 1 / bc2, eps, wd);
      this.shadows.forEach((s, k) => this.k!.lerp(s.byteOffset, p.byteOffset, this.stride, d[k]));
      return;
    }
    for (let i = 0; i < l.names.length; i++) {
      if (!l.trainable[i]) continue;
      const end = l.offsets[i] + l.sizes[i];
      for (let j = l.offsets[i]; j < end; j++) {
        const gj = g[j] * gScale;
        const mj = (m[j] = b1 * m[j] + c1 * gj);
        const vj = (v[j] = b2 * v[j] + c2 * gj * gj);
        const pj = p[j];
        p[j] = pj - lr * (mj / bc1 / (Math.sqrt(vj / bc2) + eps) + wd * pj);
      }
    }
    for (let k = 0; k < this.shadows.length; k++) {
      const s = this.shadows[k], dk = d[k], ck = 1 - dk;
      for (let j = 0; j < s.length; j++) s[j] = dk * s[j] + ck * p[j];
    }
  }

  /** Writes the parameters into the model's variables. */
  pushParams(): void {
    writeFlat(this.params.values(), this.layout, this.p);
  }

  /** Writes the moments and averages into the tfjs variables a checkpoint or snapshot reads. */
  syncState(): void {
    const l = this.layout;
    const moments = (store: Map<string, tf.Variable>) => l.names.map((n, i) => (l.trainable[i] ? store.get(n) : undefined));
    writeFlat(moments(this.opt.m), l, this.m);
    writeFlat(moments(this.opt.v), l, this.v);
    [this.ema.shadow, ...(this.powerEma?.shadows ?? [])].forEach((store, k) => writeFlat(l.names.map((n) => store.get(n)!), l, this.shadows[k]));
  }
}
