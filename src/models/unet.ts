// A DDPM/ADM-style UNet: residual blocks with GroupNorm and SiLU, a timestep-embedding MLP,
// self-attention at chosen resolutions, skip connections between the down and up paths.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import {
  conv, dense, FlopCounter, groupNorm, normGroups, ParamStore, registerConv, registerDense, registerGroupNorm, silu, timestepEmbedding,
} from './layers.js';

export interface UNetConfig {
  imageSize: number;
  inChannels: number;
  outChannels: number;
  /** Channels at the first level (DDPM's ch). */
  channels: number;
  /** Channel multiplier per level; the image is halved between levels. */
  channelMult: number[];
  numResBlocks: number;
  /** Resolutions (image side lengths) that get a self-attention block after each residual block. */
  attentionResolutions: number[];
  dropout: number;
  /** Attention heads (channels must divide evenly). */
  heads?: number;
}

export const UNET_DEFAULTS: Omit<UNetConfig, 'imageSize' | 'inChannels' | 'outChannels'> = {
  channels: 32, channelMult: [1, 2, 2], numResBlocks: 1, attentionResolutions: [7], dropout: 0, heads: 1,
};

interface Block {
  kind: 'res' | 'attn' | 'down' | 'up';
  name: string;
  cin: number;
  cout: number;
  /** Side length of the block's input. */
  res: number;
  /** res blocks on the up path: channels taken from the skip stack */
  skip?: number;
}

export interface ForwardOptions {
  /** Dropout is applied only when training; its masks come from this seed. */
  training?: boolean;
  seed?: number;
}

/** Side after a stride-2 'same' conv. */
const half = (n: number) => Math.ceil(n / 2);

export class UNet {
  readonly params: ParamStore;
  readonly tembDim: number;
  private readonly down: Block[] = [];
  private readonly mid: Block[] = [];
  private readonly up: Block[] = [];
  /** Side lengths of the levels, e.g. [28, 14, 7]. */
  readonly levelSizes: number[];

  constructor(readonly config: UNetConfig, seed: number) {
    const c = config;
    if (c.channelMult.length < 1) throw new Error('model.channelMult: expected at least one level');
    this.params = new ParamStore(new Rng(seed));
    const p = this.params, ch = c.channels;
    this.tembDim = 4 * ch;
    registerDense(p, 'temb.0', ch, this.tembDim);
    registerDense(p, 'temb.1', this.tembDim, this.tembDim);
    registerConv(p, 'in', 3, c.inChannels, ch);

    this.levelSizes = [c.imageSize];
    for (let l = 1; l < c.channelMult.length; l++) this.levelSizes.push(half(this.levelSizes[l - 1]));
    const skips: number[] = [ch];
    let cur = ch;
    c.channelMult.forEach((m, level) => {
      const res = this.levelSizes[level];
      for (let i = 0; i < c.numResBlocks; i++) {
        this.addRes(this.down, `down.${level}.res.${i}`, cur, ch * m, res);
        cur = ch * m;
        if (c.attentionResolutions.includes(res)) this.addAttn(this.down, `down.${level}.attn.${i}`, cur, res);
        skips.push(cur);
      }
      if (level < c.channelMult.length - 1) {
        registerConv(p, `down.${level}.downsample`, 3, cur, cur);
        this.down.push({ kind: 'down', name: `down.${level}.downsample`, cin: cur, cout: cur, res });
        skips.push(cur);
      }
    });
    const lastRes = this.levelSizes[this.levelSizes.length - 1];
    this.addRes(this.mid, 'mid.res.0', cur, cur, lastRes);
    this.addAttn(this.mid, 'mid.attn', cur, lastRes);
    this.addRes(this.mid, 'mid.res.1', cur, cur, lastRes);
    for (let level = c.channelMult.length - 1; level >= 0; level--) {
      const res = this.levelSizes[level];
      for (let i = 0; i <= c.numResBlocks; i++) {
        const skip = skips.pop()!;
        this.addRes(this.up, `up.${level}.res.${i}`, cur + skip, ch * c.channelMult[level], res, skip);
        cur = ch * c.channelMult[level];
        if (c.attentionResolutions.includes(res)) this.addAttn(this.up, `up.${level}.attn.${i}`, cur, res);
      }
      if (level > 0) {
        registerConv(p, `up.${level}.upsample`, 3, cur, cur);
        this.up.push({ kind: 'up', name: `up.${level}.upsample`, cin: cur, cout: cur, res });
      }
    }
    registerGroupNorm(p, 'out.norm', cur);
    // Zero-initialised output, so the untrained model predicts 0 (DDPM/ADM).
    registerConv(p, 'out.conv', 3, cur, c.outChannels, 'zeros');
  }

  private addRes(list: Block[], name: string, cin: number, cout: number, res: number, skip?: number): void {
    const p = this.params;
    registerGroupNorm(p, `${name}.norm1`, cin);
    registerConv(p, `${name}.conv1`, 3, cin, cout);
    registerDense(p, `${name}.temb`, this.tembDim, cout);
    registerGroupNorm(p, `${name}.norm2`, cout);
    registerConv(p, `${name}.conv2`, 3, cout, cout, 'zeros');
    if (cin !== cout) registerConv(p, `${name}.skip`, 1, cin, cout);
    list.push({ kind: 'res', name, cin, cout, res, skip });
  }

  private addAttn(list: Block[], name: string, c: number, res: number): void {
    const p = this.params;
    if (c % (this.config.heads ?? 1) !== 0) throw new Error(`model.heads: ${this.config.heads} does not divide ${c} channels`);
    registerGroupNorm(p, `${name}.norm`, c);
    registerDense(p, `${name}.qkv`, c, 3 * c);
    registerDense(p, `${name}.proj`, c, c, 'zeros');
    list.push({ kind: 'attn', name, cin: c, cout: c, res });
  }

  private resBlock(b: Block, x: tf.Tensor4D, temb: tf.Tensor2D, opts: ForwardOptions, salt: number): tf.Tensor4D {
    const p = this.params;
    let h = conv(p, `${b.name}.conv1`, silu(groupNorm(p, `${b.name}.norm1`, x, normGroups(b.cin))));
    h = h.add(dense(p, `${b.name}.temb`, silu(temb)).reshape([-1, 1, 1, b.cout])) as tf.Tensor4D;
    h = silu(groupNorm(p, `${b.name}.norm2`, h, normGroups(b.cout)));
    if (opts.training && this.config.dropout > 0) h = tf.dropout(h, this.config.dropout, undefined, (opts.seed ?? 0) * 7919 + salt) as tf.Tensor4D;
    h = conv(p, `${b.name}.conv2`, h);
    const skip = b.cin !== b.cout ? conv(p, `${b.name}.skip`, x) : x;
    return skip.add(h) as tf.Tensor4D;
  }

  private attnBlock(b: Block, x: tf.Tensor4D): tf.Tensor4D {
    const p = this.params;
    const [n, h, w, c] = x.shape;
    const heads = this.config.heads ?? 1, d = c / heads;
    const flat = groupNorm(p, `${b.name}.norm`, x, normGroups(c)).reshape([n * h * w, c]) as tf.Tensor2D;
    const qkv = dense(p, `${b.name}.qkv`, flat).reshape([n, h * w, 3 * c]);
    // q, k, v are consecutive blocks of c channels; heads split each block.
    const pick = (i: number) => qkv.slice([0, 0, i * c], [n, h * w, c]).reshape([n, h * w, heads, d]).transpose([0, 2, 1, 3]).reshape([n * heads, h * w, d]);
    const attn = tf.softmax(tf.matMul(pick(0), pick(1), false, true).mul(1 / Math.sqrt(d)));
    const out = tf.matMul(attn, pick(2)).reshape([n, heads, h * w, d]).transpose([0, 2, 1, 3]).reshape([n * h * w, c]) as tf.Tensor2D;
    return x.add(dense(p, `${b.name}.proj`, out).reshape([n, h, w, c])) as tf.Tensor4D;
  }

  /** x: [N, H, W, C]; t: [N] timesteps (integers or fractions, as trained). */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, opts: ForwardOptions = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.params;
      let temb = dense(p, 'temb.0', timestepEmbedding(t, this.config.channels));
      temb = dense(p, 'temb.1', silu(temb));
      let h = conv(p, 'in', x);
      const hs: tf.Tensor4D[] = [h];
      let salt = 0;
      for (const b of this.down) {
        if (b.kind === 'res') { h = this.resBlock(b, h, temb, opts, salt++); hs.push(h); }
        else if (b.kind === 'attn') { h = this.attnBlock(b, h); hs[hs.length - 1] = h; }
        else { h = conv(p, b.name, h, 2); hs.push(h); }
      }
      for (const b of this.mid) h = b.kind === 'res' ? this.resBlock(b, h, temb, opts, salt++) : this.attnBlock(b, h);
      for (const b of this.up) {
        if (b.kind === 'res') {
          const skip = hs.pop()!;
          h = this.resBlock(b, tf.concat([h, skip], 3) as tf.Tensor4D, temb, opts, salt++);
        } else if (b.kind === 'attn') {
          h = this.attnBlock(b, h);
        } else {
          const target = this.levelSizes[this.levelSizes.indexOf(b.res) - 1];
          let upsampled = tf.image.resizeNearestNeighbor(h, [2 * b.res, 2 * b.res]);
          // An odd level (e.g. 7 from 13) was rounded up on the way down: crop back.
          if (target !== 2 * b.res) upsampled = upsampled.slice([0, 0, 0, 0], [-1, target, target, -1]);
          h = conv(p, b.name, upsampled);
        }
      }
      return conv(p, 'out.conv', silu(groupNorm(p, 'out.norm', h, normGroups(h.shape[3]))));
    });
  }

  paramCount(): number {
    return this.params.count();
  }

  /** Forward FLOPs per image: convolutions, dense layers and attention matmuls (2 per multiply-add). */
  flopsPerImage(): number {
    const c = this.config, f = new FlopCounter(), ch = c.channels;
    f.dense(1, ch, this.tembDim);
    f.dense(1, this.tembDim, this.tembDim);
    f.conv(c.imageSize, c.imageSize, 3, c.inChannels, ch);
    const countBlock = (b: Block) => {
      const r = b.res;
      if (b.kind === 'res') {
        f.conv(r, r, 3, b.cin, b.cout);
        f.dense(1, this.tembDim, b.cout);
        f.conv(r, r, 3, b.cout, b.cout);
        if (b.cin !== b.cout) f.conv(r, r, 1, b.cin, b.cout);
      } else if (b.kind === 'attn') {
        const l = r * r;
        f.dense(l, b.cin, 3 * b.cin);
        f.matmul(l, b.cin, l); // q·kᵀ over all heads
        f.matmul(l, l, b.cin); // attention · v
        f.dense(l, b.cin, b.cin);
      } else if (b.kind === 'down') {
        f.conv(half(r), half(r), 3, b.cin, b.cout);
      } else {
        const target = this.levelSizes[this.levelSizes.indexOf(r) - 1];
        f.conv(target, target, 3, b.cin, b.cout);
      }
    };
    [...this.down, ...this.mid, ...this.up].forEach(countBlock);
    f.conv(c.imageSize, c.imageSize, 3, this.up[this.up.length - 1]?.cout ?? ch, c.outChannels);
    return f.total;
  }

  dispose(): void {
    this.params.dispose();
  }
}
