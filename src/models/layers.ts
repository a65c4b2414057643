// Building blocks of the UNet and the autoencoder: named parameters and the layers that use them.
//
// Parameters live in a flat, named store (e.g. "down.1.res.0.conv1.weight") so that a checkpoint is
// a plain safetensors file with the same names, and parameter counts come straight from the shapes.
import { tf } from '../compute/backend.js';
import { fusedGroupNorm, fusedGroupNormAvailable } from '../compute/wasm-groupnorm.js';
import { silu } from '../compute/silu.js';
import { conv2dBias } from '../compute/conv-bias.js';
import { Rng } from '../util/rng.js';

/** 'normal-0.02': N(0, 0.02²), the transformers' embedding init (DiT's label table and timestep MLP). */
export type Init = 'fan-avg' | 'zeros' | 'ones' | 'normal-0.02';

export class ParamStore {
  readonly vars = new Map<string, tf.Variable>();

  constructor(private readonly rng: Rng) {}

  /**
   * Registers a parameter. 'fan-avg' is DDPM's default_init: uniform with variance 1/fan_avg
   * (Glorot), fans taken from the kernel's receptive field × channels.
   */
  add(name: string, shape: number[], init: Init): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} registered twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (init === 'ones') v.fill(1);
    if (init === 'fan-avg') {
      const receptive = shape.length > 2 ? shape.slice(0, -2).reduce((a, b) => a * b, 1) : 1;
      const fanIn = shape[shape.length - 2] * receptive, fanOut = shape[shape.length - 1] * receptive;
      const limit = Math.sqrt(3 / ((fanIn + fanOut) / 2));
      for (let i = 0; i < size; i++) v[i] = (2 * this.rng.uniform() - 1) * limit;
    }
    if (init === 'normal-0.02') for (let i = 0; i < size; i++) v[i] = 0.02 * this.rng.normal();
    // Unnamed for tfjs: its variable names are global to the process, so two live models would clash.
    const init0 = tf.tensor(v, shape);
    const variable = tf.variable(init0, true);
    init0.dispose();
    this.vars.set(name, variable);
    return variable;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter named ${name}`);
    return v;
  }

  count(): number {
    let n = 0;
    for (const v of this.vars.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** Floating-point operations, counted as 2 per multiply-add, of the layers that dominate (conv, dense, attention matmuls). */
export class FlopCounter {
  total = 0;
  conv(hOut: number, wOut: number, k: number, cin: number, cout: number): void { this.total += 2 * hOut * wOut * k * k * cin * cout; }
  dense(rows: number, cin: number, cout: number): void { this.total += 2 * rows * cin * cout; }
  matmul(m: number, k: number, n: number): void { this.total += 2 * m * k * n; }
}

export function registerConv(p: ParamStore, name: string, k: number, cin: number, cout: number, init: Init = 'fan-avg'): void {
  p.add(`${name}.weight`, [k, k, cin, cout], init);
  p.add(`${name}.bias`, [cout], 'zeros');
}

export function conv(p: ParamStore, name: string, x: tf.Tensor4D, stride = 1): tf.Tensor4D {
  return conv2dBias(x, p.get(`${name}.weight`) as tf.Tensor4D, p.get(`${name}.bias`), stride, 'same');
}

export function registerDense(p: ParamStore, name: string, cin: number, cout: number, init: Init = 'fan-avg'): void {
  p.add(`${name}.weight`, [cin, cout], init);
  p.add(`${name}.bias`, [cout], 'zeros');
}

export function dense(p: ParamStore, name: string, x: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(x, p.get(`${name}.weight`) as tf.Tensor2D).add(p.get(`${name}.bias`)) as tf.Tensor2D;
}

export function registerGroupNorm(p: ParamStore, name: string, channels: number): void {
  p.add(`${name}.gamma`, [channels], 'ones');
  p.add(`${name}.beta`, [channels], 'zeros');
}

/** GroupNorm (Wu & He 2018) over NHWC: statistics per sample and group of channels. */
export function groupNorm(p: ParamStore, name: string, x: tf.Tensor4D, groups: number, eps = 1e-5): tf.Tensor4D {
  if (fusedGroupNormAvailable()) return fusedGroupNorm(x, p.get(`${name}.gamma`), p.get(`${name}.beta`), groups, eps);
  const [b, h, w, c] = x.shape;
  const g = x.reshape([b, h, w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 2, 4], true);
  const normed = g.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape([b, h, w, c]);
  return normed.mul(p.get(`${name}.gamma`)).add(p.get(`${name}.beta`)) as tf.Tensor4D;
}

export { silu };

/** Number of GroupNorm groups: 32 as in DDPM where the channels allow, fewer for narrow layers. */
export function normGroups(channels: number, preferred = 32): number {
  let g = Math.min(preferred, channels);
  while (channels % g !== 0) g--;
  return g;
}

/**
 * Sinusoidal embedding of (possibly fractional) timesteps, as in ADM: [cos(t·f), sin(t·f)] with
 * f_i = exp(−ln(10000)·i/half), i < half.
 */
export function timestepEmbedding(t: tf.Tensor1D, dim: number): tf.Tensor2D {
  const half = Math.floor(dim / 2);
  const freqs = tf.tensor1d(Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half)));
  const args = t.reshape([-1, 1]).mul(freqs.reshape([1, half]));
  const emb = tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
  return dim % 2 ? (tf.pad(emb, [[0, 0], [0, 1]]) as tf.Tensor2D) : emb;
}

// ---- residual and attention blocks shared by the UNet and the autoencoder ----

export interface BlockShape {
  name: string;
  cin: number;
  cout: number;
  /** Side length of the block's input. */
  res: number;
}

/**
 * Registers a residual block; `tembDim` adds the timestep projection (UNet) or not (autoencoder), of
 * 2·cout outputs (scale and shift) with `scaleShift`.
 */
export function registerResBlock(p: ParamStore, b: BlockShape, tembDim?: number, scaleShift = false): void {
  registerGroupNorm(p, `${b.name}.norm1`, b.cin);
  registerConv(p, `${b.name}.conv1`, 3, b.cin, b.cout);
  if (tembDim) registerDense(p, `${b.name}.temb`, tembDim, scaleShift ? 2 * b.cout : b.cout);
  registerGroupNorm(p, `${b.name}.norm2`, b.cout);
  // Zero-initialised last conv: the block starts as the identity (DDPM/ADM).
  registerConv(p, `${b.name}.conv2`, 3, b.cout, b.cout, 'zeros');
  if (b.cin !== b.cout) registerConv(p, `${b.name}.skip`, 1, b.cin, b.cout);
}

/**
 * GN → SiLU → conv → (+ dense(SiLU(temb))) → GN → SiLU → dropout → conv, plus the (projected) input.
 * With `scaleShift` (ADM's use_scale_shift_norm) the embedding acts after the second GroupNorm,
 * GN(h)·(1 + scale) + shift, instead of being added before it: where a group holds one channel (32
 * groups of 32 channels), GroupNorm removes an added per-channel constant entirely.
 */
export function resBlock(p: ParamStore, b: BlockShape, x: tf.Tensor4D, temb?: tf.Tensor2D, dropout?: { rate: number; seed: number }, scaleShift = false): tf.Tensor4D {
  let h = conv(p, `${b.name}.conv1`, silu(groupNorm(p, `${b.name}.norm1`, x, normGroups(b.cin))));
  if (temb && scaleShift) {
    const e = dense(p, `${b.name}.temb`, silu(temb));
    const scale = e.slice([0, 0], [-1, b.cout]).reshape([-1, 1, 1, b.cout]), shift = e.slice([0, b.cout], [-1, b.cout]).reshape([-1, 1, 1, b.cout]);
    h = silu(groupNorm(p, `${b.name}.norm2`, h, normGroups(b.cout)).mul(scale.add(1)).add(shift)) as tf.Tensor4D;
  } else {
    if (temb) h = h.add(dense(p, `${b.name}.temb`, silu(temb)).reshape([-1, 1, 1, b.cout])) as tf.Tensor4D;
    h = silu(groupNorm(p, `${b.name}.norm2`, h, normGroups(b.cout)));
  }
  if (dropout && dropout.rate > 0) h = tf.dropout(h, dropout.rate, undefined, dropout.seed) as tf.Tensor4D;
  h = conv(p, `${b.name}.conv2`, h);
  const skip = b.cin !== b.cout ? conv(p, `${b.name}.skip`, x) : x;
  return skip.add(h) as tf.Tensor4D;
}

export function resBlockFlops(f: FlopCounter, b: BlockShape, tembDim?: number, scaleShift = false): void {
  f.conv(b.res, b.res, 3, b.cin, b.cout);
  if (tembDim) f.dense(1, tembDim, scaleShift ? 2 * b.cout : b.cout);
  f.conv(b.res, b.res, 3, b.cout, b.cout);
  if (b.cin !== b.cout) f.conv(b.res, b.res, 1, b.cin, b.cout);
}

export function registerAttention(p: ParamStore, b: BlockShape, heads: number): void {
  if (b.cin % heads !== 0) throw new Error(`model.heads: ${heads} does not divide ${b.cin} channels`);
  registerGroupNorm(p, `${b.name}.norm`, b.cin);
  registerDense(p, `${b.name}.qkv`, b.cin, 3 * b.cin);
  registerDense(p, `${b.name}.proj`, b.cin, b.cin, 'zeros');
}

/** Multi-head self-attention over the spatial positions with a residual connection. */
export function attention(p: ParamStore, b: BlockShape, x: tf.Tensor4D, heads: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const d = c / heads;
  const flat = groupNorm(p, `${b.name}.norm`, x, normGroups(c)).reshape([n * h * w, c]) as tf.Tensor2D;
  const qkv = dense(p, `${b.name}.qkv`, flat).reshape([n, h * w, 3 * c]);
  // q, k, v are consecutive blocks of c channels; heads split each block. One split (whose gradient
  // is one concatenation) rather than three slices (three zero-padded copies of the gradient, added).
  const [q, k, v] = tf.split(qkv, 3, 2).map((t) => t.reshape([n, h * w, heads, d]).transpose([0, 2, 1, 3]).reshape([n * heads, h * w, d]));
  const attn = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(d)));
  const out = tf.matMul(attn, v).reshape([n, heads, h * w, d]).transpose([0, 2, 1, 3]).reshape([n * h * w, c]) as tf.Tensor2D;
  return x.add(dense(p, `${b.name}.proj`, out).reshape([n, h, w, c])) as tf.Tensor4D;
}

export function attentionFlops(f: FlopCounter, b: BlockShape): void {
  const l = b.res * b.res;
  f.dense(l, b.cin, 3 * b.cin);
  f.matmul(l, b.cin, l); // q·kᵀ over all heads
  f.matmul(l, l, b.cin); // attention · v
  f.dense(l, b.cin, b.cin);
}

/** Nearest-neighbour ×2, cropped to `target` when the level below was rounded up (odd sizes). */
export function upsample2x(x: tf.Tensor4D, target: number): tf.Tensor4D {
  const res = x.shape[1];
  const up = tf.image.resizeNearestNeighbor(x, [2 * res, 2 * res]);
  return target === 2 * res ? up : up.slice([0, 0, 0, 0], [-1, target, target, -1]);
}
