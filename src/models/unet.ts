// A DDPM/ADM-style UNet: residual blocks with GroupNorm and SiLU, a timestep-embedding MLP,
// self-attention at chosen resolutions, skip connections between the down and up paths.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import {
  attention, attentionFlops, conv, dense, FlopCounter, groupNorm, normGroups, ParamStore, registerAttention, registerConv, registerDense,
  registerGroupNorm, registerResBlock, resBlock, resBlockFlops, silu, timestepEmbedding, upsample2x,
} from './layers.js';

/** The most memory a network's float32 parameters may take (the wasm heap holds at most 4 GiB). */
export const MAX_MODEL_BYTES = 2 ** 30;

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
  /**
   * Class-conditional: labels 0…numClasses−1 and the null label numClasses (classifier-free
   * guidance's unconditional input) each have a learned embedding added to the timestep embedding
   * (ADM, Dhariwal & Nichol 2021).
   */
  numClasses?: number;
  /**
   * The embedding scales and shifts each residual block's second GroupNorm output (ADM's
   * use_scale_shift_norm) instead of being added before it. Without it, a GroupNorm with one channel
   * per group (32 channels, 32 groups) removes the time and class embedding from that block.
   */
  scaleShiftNorm?: boolean;
}

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
  /** class labels [N] of a class-conditional UNet (absent: the null label, i.e. unconditional) */
  cond?: tf.Tensor1D;
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
    // Each level's residual convolutions hold about 2·9·width² weights: refuse, naming the settings,
    // a network that cannot be allocated (float32 on a heap of at most 4 GiB).
    const est = c.channelMult.reduce((s, m) => s + 2 * (2 * c.numResBlocks + 1) * 9 * (c.channels * m) ** 2, 0);
    if (est * 4 > MAX_MODEL_BYTES) throw new Error(`model.channels ${c.channels} × channelMult [${c.channelMult.join(', ')}] (widest level ${c.channels * Math.max(...c.channelMult)} channels): about ${(est / 1e9).toFixed(2)} billion parameters, ${(est * 4 / 2 ** 30).toFixed(1)} GiB as float32, above the ${MAX_MODEL_BYTES / 2 ** 30} GiB a model may take; lower channels or channelMult`);
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
    // Registered last, so an unconditional UNet's parameters draw the same initial values as before.
    if (c.numClasses !== undefined) {
      if (!Number.isInteger(c.numClasses) || c.numClasses < 1) throw new Error(`numClasses: expected an integer ≥ 1, got ${c.numClasses}`);
      p.add('class.embedding', [c.numClasses + 1, this.tembDim], 'fan-avg');
    }
  }

  /** The label that stands for "no class" (classifier-free guidance's ∅); undefined when unconditional. */
  get nullLabel(): number | undefined {
    return this.config.numClasses;
  }

  private addRes(list: Block[], name: string, cin: number, cout: number, res: number, skip?: number): void {
    const b: Block = { kind: 'res', name, cin, cout, res, skip };
    registerResBlock(this.params, b, this.tembDim, this.config.scaleShiftNorm);
    list.push(b);
  }

  private addAttn(list: Block[], name: string, c: number, res: number): void {
    const b: Block = { kind: 'attn', name, cin: c, cout: c, res };
    registerAttention(this.params, b, this.config.heads ?? 1);
    list.push(b);
  }

  /** x: [N, H, W, C]; t: [N] timesteps (integers or fractions, as trained). */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, opts: ForwardOptions = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.params;
      let temb = dense(p, 'temb.0', timestepEmbedding(t, this.config.channels));
      temb = dense(p, 'temb.1', silu(temb));
      if (this.config.numClasses !== undefined) {
        const labels = opts.cond ? opts.cond.toInt() : tf.fill([x.shape[0]], this.config.numClasses, 'int32');
        if (labels.shape[0] !== x.shape[0]) throw new Error(`unet: ${labels.shape[0]} class labels for a batch of ${x.shape[0]}`);
        // A one-hot matmul rather than gather: its gradient is a matmul on every compute backend.
        const oneHot = tf.oneHot(labels as tf.Tensor1D, this.config.numClasses + 1).toFloat() as tf.Tensor2D;
        temb = temb.add(tf.matMul(oneHot, p.get('class.embedding') as tf.Tensor2D)) as tf.Tensor2D;
      } else if (opts.cond) {
        throw new Error('unet: class labels given to an unconditional model (train with diffusion.conditioning to condition on classes)');
      }
      let h = conv(p, 'in', x);
      const hs: tf.Tensor4D[] = [h];
      let salt = 0;
      const heads = this.config.heads ?? 1, ss = this.config.scaleShiftNorm ?? false;
      const drop = () => (opts.training && this.config.dropout > 0 ? { rate: this.config.dropout, seed: (opts.seed ?? 0) * 7919 + salt++ } : undefined);
      for (const b of this.down) {
        if (b.kind === 'res') { h = resBlock(p, b, h, temb, drop(), ss); hs.push(h); }
        else if (b.kind === 'attn') { h = attention(p, b, h, heads); hs[hs.length - 1] = h; }
        else { h = conv(p, b.name, h, 2); hs.push(h); }
      }
      for (const b of this.mid) h = b.kind === 'res' ? resBlock(p, b, h, temb, drop(), ss) : attention(p, b, h, heads);
      for (const b of this.up) {
        if (b.kind === 'res') h = resBlock(p, b, tf.concat([h, hs.pop()!], 3) as tf.Tensor4D, temb, drop(), ss);
        else if (b.kind === 'attn') h = attention(p, b, h, heads);
        else h = conv(p, b.name, upsample2x(h, this.levelSizes[this.levelSizes.indexOf(b.res) - 1]));
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
        resBlockFlops(f, b, this.tembDim, c.scaleShiftNorm);
      } else if (b.kind === 'attn') {
        attentionFlops(f, b);
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
