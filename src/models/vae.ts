// A KL autoencoder in the style of LDM's AutoencoderKL: conv encoder/decoder with residual blocks,
// a diagonal Gaussian posterior over latents, and loss = reconstruction (L1 or L2) + β·KL.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import {
  attention, attentionFlops, conv, FlopCounter, groupNorm, normGroups, ParamStore, registerAttention, registerConv, registerGroupNorm,
  registerResBlock, resBlock, resBlockFlops, silu, upsample2x, type BlockShape,
} from './layers.js';

export interface VaeConfig {
  imageSize: number;
  inChannels: number;
  /** Channels of the first level. */
  channels: number;
  /** One multiplier per level; the downsampling factor is f = 2^(levels − 1). */
  channelMult: number[];
  numResBlocks: number;
  latentChannels: number;
  /** Self-attention in the middle of encoder and decoder (LDM has it). */
  midAttention: boolean;
}

export interface VaeLossConfig {
  reconstruction: 'l1' | 'l2';
  /** β of the KL term. */
  klWeight: number;
}

interface Stage { kind: 'res' | 'attn' | 'down' | 'up'; b: BlockShape }

const half = (n: number) => Math.ceil(n / 2);

export class Vae {
  readonly params: ParamStore;
  readonly levelSizes: number[];
  readonly latentSize: number;
  private readonly enc: Stage[] = [];
  private readonly dec: Stage[] = [];

  constructor(readonly config: VaeConfig, seed: number) {
    const c = config, ch = c.channels;
    if (![1, 2, 3, 4].includes(c.channelMult.length)) throw new Error('model.channelMult: expected 1 to 4 levels (f = 1, 2, 4 or 8)');
    this.params = new ParamStore(new Rng(seed));
    const p = this.params;
    this.levelSizes = [c.imageSize];
    for (let l = 1; l < c.channelMult.length; l++) this.levelSizes.push(half(this.levelSizes[l - 1]));
    this.latentSize = this.levelSizes[this.levelSizes.length - 1];

    registerConv(p, 'enc.in', 3, c.inChannels, ch);
    let cur = ch;
    c.channelMult.forEach((m, level) => {
      const res = this.levelSizes[level];
      for (let i = 0; i < c.numResBlocks; i++) {
        this.stage(this.enc, 'res', { name: `enc.${level}.res.${i}`, cin: cur, cout: ch * m, res });
        cur = ch * m;
      }
      if (level < c.channelMult.length - 1) {
        registerConv(p, `enc.${level}.downsample`, 3, cur, cur);
        this.enc.push({ kind: 'down', b: { name: `enc.${level}.downsample`, cin: cur, cout: cur, res } });
      }
    });
    this.midStages(this.enc, 'enc.mid', cur);
    registerGroupNorm(p, 'enc.out.norm', cur);
    registerConv(p, 'enc.out.conv', 3, cur, 2 * c.latentChannels); // mean and log-variance

    const top = ch * c.channelMult[c.channelMult.length - 1];
    registerConv(p, 'dec.in', 3, c.latentChannels, top);
    cur = top;
    this.midStages(this.dec, 'dec.mid', cur);
    for (let level = c.channelMult.length - 1; level >= 0; level--) {
      const res = this.levelSizes[level];
      for (let i = 0; i <= c.numResBlocks; i++) {
        this.stage(this.dec, 'res', { name: `dec.${level}.res.${i}`, cin: cur, cout: ch * c.channelMult[level], res });
        cur = ch * c.channelMult[level];
      }
      if (level > 0) {
        registerConv(p, `dec.${level}.upsample`, 3, cur, cur);
        this.dec.push({ kind: 'up', b: { name: `dec.${level}.upsample`, cin: cur, cout: cur, res } });
      }
    }
    registerGroupNorm(p, 'dec.out.norm', cur);
    registerConv(p, 'dec.out.conv', 3, cur, c.inChannels);
  }

  private stage(list: Stage[], kind: 'res' | 'attn', b: BlockShape): void {
    if (kind === 'res') registerResBlock(this.params, b);
    else registerAttention(this.params, b, 1);
    list.push({ kind, b });
  }

  private midStages(list: Stage[], name: string, c: number): void {
    const res = this.latentSize;
    this.stage(list, 'res', { name: `${name}.res.0`, cin: c, cout: c, res });
    if (this.config.midAttention) this.stage(list, 'attn', { name: `${name}.attn`, cin: c, cout: c, res });
    this.stage(list, 'res', { name: `${name}.res.1`, cin: c, cout: c, res });
  }

  private run(list: Stage[], h: tf.Tensor4D): tf.Tensor4D {
    const p = this.params;
    for (const s of list) {
      if (s.kind === 'res') h = resBlock(p, s.b, h);
      else if (s.kind === 'attn') h = attention(p, s.b, h, 1);
      else if (s.kind === 'down') h = conv(p, s.b.name, h, 2);
      else h = conv(p, s.b.name, upsample2x(h, this.levelSizes[this.levelSizes.indexOf(s.b.res) - 1]));
    }
    return h;
  }

  /** The posterior q(z|x) = N(mean, diag(exp(logvar))), log-variance clamped to [−30, 20] as in LDM. */
  encode(x: tf.Tensor4D): { mean: tf.Tensor4D; logvar: tf.Tensor4D } {
    return tf.tidy(() => {
      const p = this.params;
      const h = this.run(this.enc, conv(p, 'enc.in', x));
      const moments = conv(p, 'enc.out.conv', silu(groupNorm(p, 'enc.out.norm', h, normGroups(h.shape[3]))));
      const z = this.config.latentChannels;
      const [n, s] = [moments.shape[0], moments.shape[1]];
      return {
        mean: moments.slice([0, 0, 0, 0], [n, s, s, z]) as tf.Tensor4D,
        logvar: tf.clipByValue(moments.slice([0, 0, 0, z], [n, s, s, z]), -30, 20) as tf.Tensor4D,
      };
    });
  }

  decode(z: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.params;
      const h = this.run(this.dec, conv(p, 'dec.in', z));
      return conv(p, 'dec.out.conv', silu(groupNorm(p, 'dec.out.norm', h, normGroups(h.shape[3]))));
    });
  }

  /**
   * loss = E[Σ_pixels ℓ(x, x̂)]/D + β·E[KL(q(z|x) ‖ N(0, I))]/D with D pixels per image and one
   * reparameterised sample z = mean + σ·ε; KL = ½Σ(mean² + σ² − 1 − log σ²).
   */
  loss(x: tf.Tensor4D, eps: tf.Tensor4D, cfg: VaeLossConfig): { loss: tf.Scalar; rec: tf.Scalar; kl: tf.Scalar } {
    return tf.tidy(() => {
      const { mean, logvar } = this.encode(x);
      const z = mean.add(tf.exp(logvar.mul(0.5)).mul(eps)) as tf.Tensor4D;
      const xhat = this.decode(z);
      const d = x.shape[1] * x.shape[2] * x.shape[3];
      const diff = xhat.sub(x);
      const rec = (cfg.reconstruction === 'l1' ? diff.abs() : diff.square()).mean() as tf.Scalar; // = E[Σ ℓ]/D
      const kl = mean.square().add(tf.exp(logvar)).sub(1).sub(logvar).sum([1, 2, 3]).mul(0.5).mean() as tf.Scalar;
      return { loss: rec.add(kl.mul(cfg.klWeight / d)) as tf.Scalar, rec, kl };
    });
  }

  paramCount(): number {
    return this.params.count();
  }

  /** Forward FLOPs per image of the encoder and of the decoder (2 per multiply-add). */
  flopsPerImage(): { encoder: number; decoder: number } {
    const c = this.config;
    const count = (stages: Stage[], f: FlopCounter) => {
      for (const s of stages) {
        if (s.kind === 'res') resBlockFlops(f, s.b);
        else if (s.kind === 'attn') attentionFlops(f, s.b);
        else if (s.kind === 'down') f.conv(half(s.b.res), half(s.b.res), 3, s.b.cin, s.b.cout);
        else { const t = this.levelSizes[this.levelSizes.indexOf(s.b.res) - 1]; f.conv(t, t, 3, s.b.cin, s.b.cout); }
      }
    };
    const e = new FlopCounter(), d = new FlopCounter();
    const top = c.channels * c.channelMult[c.channelMult.length - 1], bottom = c.channels * c.channelMult[0];
    e.conv(c.imageSize, c.imageSize, 3, c.inChannels, c.channels);
    count(this.enc, e);
    e.conv(this.latentSize, this.latentSize, 3, top, 2 * c.latentChannels);
    d.conv(this.latentSize, this.latentSize, 3, c.latentChannels, top);
    count(this.dec, d);
    d.conv(c.imageSize, c.imageSize, 3, bottom, c.inChannels);
    return { encoder: e.total, decoder: d.total };
  }

  dispose(): void {
    this.params.dispose();
  }
}
