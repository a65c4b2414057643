// The update tail of a training step in one pass over flat buffers: global-norm clipping, AdamW, the
// EMA and the post-hoc power EMAs, instead of ~10 tfjs kernels per parameter tensor and EMA (for the
// mnist16 UNets: 128 tensors, so well over a thousand kernel calls a step). The state lives in
// Float32Arrays laid out parameter by parameter; the tfjs variables that checkpoints read are written
// from them when a checkpoint or snapshot is due (syncState), and the model's variables after every
// step (pushParams).
import { tf } from '../compute/backend.js';
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

export class FlatUpdate {
  readonly layout: FlatLayout;
  readonly p: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** The EMA's shadow, then each power EMA's. */
  readonly shadows: Float32Array[];
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  /**
   * Takes the current state of the parameters, the optimizer's moments (zero where it has none yet),
   * the EMA and the power EMAs. `p`: where the parameters live (a shared buffer other threads read).
   */
  constructor(readonly params: Map<string, tf.Variable>, readonly opt: AdamW, readonly ema: Ema, readonly powerEma?: PowerEma, p?: Float32Array) {
    const l = (this.layout = flatLayout(params));
    if (p && p.length !== l.total) throw new Error(`FlatUpdate: parameter buffer of ${p.length} floats, expected ${l.total}`);
    this.p = readFlat(params.values(), l, p ?? new Float32Array(l.total));
    this.m = new Float32Array(l.total);
    this.v = new Float32Array(l.total);
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
    this.shadows = maps.map((s) => readFlat(l.names.map((n) => s.get(n)!), l, new Float32Array(l.total)));
    this.b1 = opt.cfg.beta1 ?? 0.9;
    this.b2 = opt.cfg.beta2 ?? 0.999;
    this.eps = opt.cfg.eps ?? 1e-8;
    this.wd = opt.cfg.weightDecay ?? 0;
  }

  /** The decays of the EMA and the power EMAs for optimizer step `t` (1-based), as their update methods use. */
  decays(t: number): number[] {
    return [this.ema.decayAt(t), ...(this.powerEma?.gammas.map((g) => (1 - 1 / t) ** (g + 1)) ?? [])];
  }

  /**
   * One optimizer step with gradient `g` scaled by `gScale` (clipping), learning rate `lr`, then the
   * averages: the same arithmetic as clipByGlobalNorm, AdamW.apply, Ema.update and PowerEma.update.
   */
  apply(g: Float32Array, gScale: number, lr: number): void {
    const t = ++this.opt.step;
    const bc1 = 1 - this.b1 ** t, bc2 = 1 - this.b2 ** t;
    const { b1, b2, eps, wd } = this, c1 = 1 - b1, c2 = 1 - b2;
    const { p, m, v, layout: l } = this;
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
    const d = this.decays(t);
    for (let k = 0; k < this.shadows.length; k++) {
      const s = this.shadows[k], dk = d[k], ck = 1 - dk;
      for (let j = 0; j < s.length; j++) s[j] = dk * s[j] + ck * p[j];
    }
  }

  /** Writes the parameters into the model's variables. */
  pushParams(): void {
    const l = this.layout;
    let i = 0;
    for (const v of this.params.values()) {
      const t = tf.tensor(this.p.subarray(l.offsets[i], l.offsets[i] + l.sizes[i]), l.shapes[i]);
      v.assign(t);
      t.dispose();
      i++;
    }
  }

  /** Writes the moments and averages into the tfjs variables a checkpoint or snapshot reads. */
  syncState(): void {
    const l = this.layout;
    const put = (store: Map<string, tf.Variable>, src: Float32Array, i: number) => {
      const t = tf.tensor(src.subarray(l.offsets[i], l.offsets[i] + l.sizes[i]), l.shapes[i]);
      store.get(l.names[i])!.assign(t);
      t.dispose();
    };
    const averages = [this.ema.shadow, ...(this.powerEma?.shadows ?? [])];
    for (let i = 0; i < l.names.length; i++) {
      if (l.trainable[i]) { put(this.opt.m, this.m, i); put(this.opt.v, this.v, i); }
      averages.forEach((store, k) => put(store, this.shadows[k], i));
    }
  }
}
