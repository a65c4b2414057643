// A diffusion transformer, layer for layer the DiT of Peebles & Xie 2023 (facebookresearch/DiT,
// models.py): a p×p patch embedding, fixed 2-D sin-cos position embeddings, a timestep embedder (256
// frequencies → MLP), a label embedder with a null class for classifier-free guidance, adaLN-Zero
// blocks (multi-head self-attention and a GELU MLP, each scaled, shifted and gated by the
// conditioning, zero-initialised), a final adaLN layer, a linear map to p²·C and unpatchify.
//
// Options beyond DiT, for the 2025–26 pixel-space transformers:
// - `bottleneck: r`: JiT's low-rank patch embedding, p²·C → r → width (Li & He 2025);
// - `labelTokens: k`: the label enters as k in-context tokens instead of through adaLN (JiT);
// - `longSkips`: U-ViT's long skip connections between the first and last halves of the blocks, each
//   joined by a linear layer on the concatenation (Bao et al. 2023; SiD2's backbone).
//
// Parameters carry DiT's names (x_embedder.proj, t_embedder.mlp.0, blocks.3.adaLN_modulation.1, …),
// stored in difflab's layout (dense weights [in, out]); `difflab export --format torch` transposes
// them into the layout that DiT's class loads.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import { FlopCounter, ParamStore, registerDense, silu, timestepEmbedding } from './layers.js';
import { MAX_MODEL_BYTES } from './unet.js';

/** DiT's frequency_embedding_size: the sinusoidal timestep features before the MLP. */
export const DIT_FREQUENCY_DIM = 256;

export interface DiTConfig {
  imageSize: number;
  inChannels: number;
  outChannels: number;
  /** Patch side p; the image side must be a multiple of it. Token dimension p²·C. */
  patchSize: number;
  /** Width of the token embeddings (DiT's hidden_size). */
  hiddenSize: number;
  /** Number of transformer blocks. */
  depth: number;
  heads: number;
  /** MLP hidden width ÷ hiddenSize (DiT: 4). */
  mlpRatio?: number;
  /** JiT's bottleneck patch embedding: p²·C → bottleneck (no bias) → hiddenSize. */
  bottleneck?: number;
  /** The label as this many in-context tokens (JiT) instead of added to the adaLN conditioning. */
  labelTokens?: number;
  /** U-ViT long skips: block depth−1−i takes block i's output (for i < ⌊depth/2⌋), joined by a linear layer. */
  longSkips?: boolean;
  /** Class-conditional: labels 0…numClasses−1 and the null label numClasses (DiT's LabelEmbedder with dropout > 0). */
  numClasses?: number;
}

export interface DiTForwardOptions {
  training?: boolean;
  seed?: number;
  /** class labels [N] of a class-conditional model (absent: the null label) */
  cond?: tf.Tensor1D;
}

/**
 * DiT's get_2d_sincos_pos_embed(dim, grid) (from MAE): token m = i·grid + j (row i, column j) gets
 * [sin(j·ω), cos(j·ω), sin(i·ω), cos(i·ω)] with ω_k = 10000^(−k/(dim/4)), k < dim/4 — the column
 * coordinate first, as numpy's meshgrid(w, h) orders it there. Row-major [grid², dim], float64.
 */
export function sincosPosEmbed2d(dim: number, grid: number): Float64Array {
  if (dim % 4 !== 0) throw new Error(`model.hiddenSize: the 2-D sin-cos position embedding needs a multiple of 4, got ${dim}`);
  const q = dim / 4, out = new Float64Array(grid * grid * dim);
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      const row = (i * grid + j) * dim;
      for (let k = 0; k < q; k++) {
        const omega = 1 / 10000 ** (k / q);
        out[row + k] = Math.sin(j * omega);
        out[row + q + k] = Math.cos(j * omega);
        out[row + 2 * q + k] = Math.sin(i * omega);
        out[row + 3 * q + k] = Math.cos(i * omega);
      }
    }
  }
  return out;
}

/** [N, H, W, C] → [N, (H/p)·(W/p), p·p·C], each token ordered (patch row, patch column, channel) as DiT's unpatchify expects. */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor3D {
  const [n, h, w, c] = x.shape;
  if (h % p || w % p) throw new Error(`patchify: a ${h}×${w} image does not split into ${p}×${p} patches`);
  return tf.tidy(() => x.reshape([n, h / p, p, w / p, p, c]).transpose([0, 1, 3, 2, 4, 5]).reshape([n, (h / p) * (w / p), p * p * c]) as tf.Tensor3D);
}

/** The inverse of patchify: [N, T, p·p·C] → [N, H, W, C] for a square grid of T tokens. */
export function unpatchify(tokens: tf.Tensor3D, p: number, c: number): tf.Tensor4D {
  const [n, t, d] = tokens.shape;
  const g = Math.round(Math.sqrt(t));
  if (g * g !== t || d !== p * p * c) throw new Error(`unpatchify: ${t} tokens of ${d} values are not a square grid of ${p}×${p}×${c} patches`);
  return tf.tidy(() => tokens.reshape([n, g, g, p, p, c]).transpose([0, 1, 3, 2, 4, 5]).reshape([n, g * p, g * p, c]) as tf.Tensor4D);
}

/** LayerNorm over the last axis without affine parameters (DiT's norm1/norm2/norm_final, eps 1e-6). */
export function layerNorm(x: tf.Tensor3D, eps = 1e-6): tf.Tensor3D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(eps))) as tf.Tensor3D;
  });
}

/**
 * GELU, tanh approximation (nn.GELU(approximate="tanh"), DiT's MLP activation):
 * ½x·(1 + tanh u) with u = √(2/π)·(x + 0.044715·x³), computed as x·sigmoid(2u), the same function
 * (½(1 + tanh u) = sigmoid(2u)). tfjs's wasm Pow and Tanh kernels are scalar loops: written with them
 * (x.pow(3), tf.tanh) the activation and its gradient took half of a DiT training step.
 */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => x.mul(tf.sigmoid(x.add(x.mul(x).mul(x).mul(0.044715)).mul(2 * Math.sqrt(2 / Math.PI)))) as T);
}

/** A dense layer on every token: [N, T, in] → [N, T, out]. */
function tokenDense(p: ParamStore, name: string, x: tf.Tensor3D, bias = true): tf.Tensor3D {
  const [n, t, d] = x.shape;
  const w = p.get(`${name}.weight`) as tf.Tensor2D;
  let y = tf.matMul(x.reshape([n * t, d]) as tf.Tensor2D, w);
  if (bias) y = y.add(p.get(`${name}.bias`));
  return y.reshape([n, t, w.shape[1]]) as tf.Tensor3D;
}

/** x·(1 + scale) + shift with per-sample [N, D] scale and shift (DiT's modulate). */
const modulate = (x: tf.Tensor3D, shift: tf.Tensor2D, scale: tf.Tensor2D): tf.Tensor3D =>
  x.mul(scale.expandDims(1).add(1)).add(shift.expandDims(1)) as tf.Tensor3D;

export class DiT {
  readonly params: ParamStore;
  readonly grid: number;
  readonly tokens: number;
  readonly tokenDim: number;
  private readonly pos: tf.Tensor3D;

  constructor(readonly config: DiTConfig, seed: number) {
    const c = config, h = c.hiddenSize, pz = c.patchSize;
    if (!Number.isInteger(pz) || pz < 1 || c.imageSize % pz !== 0) throw new Error(`model.patchSize: ${pz} does not divide the ${c.imageSize}×${c.imageSize} input (pixels, or the autoencoder's latent)`);
    if (h % c.heads !== 0) throw new Error(`model.heads: ${c.heads} does not divide hiddenSize ${h}`);
    if (c.bottleneck !== undefined && (!Number.isInteger(c.bottleneck) || c.bottleneck < 1)) throw new Error(`model.bottleneck: expected an integer ≥ 1, got ${c.bottleneck}`);
    if (c.labelTokens !== undefined && c.numClasses === undefined) throw new Error('model.labelTokens: the model is unconditional (set diffusion.conditioning to give it labels)');
    const mlp = this.mlpHidden;
    const est = c.depth * (4 * h * h + 2 * h * mlp + 6 * h * h);
    if (est * 4 > MAX_MODEL_BYTES) throw new Error(`model.hiddenSize ${h} × depth ${c.depth}: about ${(est / 1e9).toFixed(2)} billion parameters, above the ${MAX_MODEL_BYTES / 2 ** 30} GiB a model may take; lower hiddenSize or depth`);
    this.grid = c.imageSize / pz;
    this.tokens = this.grid * this.grid;
    this.tokenDim = pz * pz * c.inChannels;
    this.pos = tf.tensor3d(Float32Array.from(sincosPosEmbed2d(h, this.grid)), [1, this.tokens, h]);
    const p = this.params = new ParamStore(new Rng(seed));
    // DiT initialises every Linear Xavier-uniform with zero bias, the patch embedding likewise (as a
    // linear map of p²·C inputs), the timestep MLP and label table N(0, 0.02²), and zeroes every
    // adaLN modulation and the final linear layer (adaLN-Zero).
    if (c.bottleneck !== undefined) {
      p.add('x_embedder.proj1.weight', [this.tokenDim, c.bottleneck], 'fan-avg');
      registerDense(p, 'x_embedder.proj2', c.bottleneck, h);
    } else {
      registerDense(p, 'x_embedder.proj', this.tokenDim, h);
    }
    p.add('t_embedder.mlp.0.weight', [DIT_FREQUENCY_DIM, h], 'normal-0.02');
    p.add('t_embedder.mlp.0.bias', [h], 'zeros');
    p.add('t_embedder.mlp.2.weight', [h, h], 'normal-0.02');
    p.add('t_embedder.mlp.2.bias', [h], 'zeros');
    if (c.numClasses !== undefined) {
      if (!Number.isInteger(c.numClasses) || c.numClasses < 1) throw new Error(`numClasses: expected an integer ≥ 1, got ${c.numClasses}`);
      p.add('y_embedder.embedding_table.weight', [c.numClasses + 1, h], 'normal-0.02');
      if (c.labelTokens !== undefined) p.add('y_embedder.token_pos', [c.labelTokens, h], 'normal-0.02');
    }
    for (let i = 0; i < c.depth; i++) {
      const b = `blocks.${i}`;
      if (this.skipSource(i) !== undefined) registerDense(p, `${b}.skip_linear`, 2 * h, h);
      registerDense(p, `${b}.attn.qkv`, h, 3 * h);
      registerDense(p, `${b}.attn.proj`, h, h);
      registerDense(p, `${b}.mlp.fc1`, h, mlp);
      registerDense(p, `${b}.mlp.fc2`, mlp, h);
      registerDense(p, `${b}.adaLN_modulation.1`, h, 6 * h, 'zeros');
    }
    registerDense(p, 'final_layer.adaLN_modulation.1', h, 2 * h, 'zeros');
    registerDense(p, 'final_layer.linear', h, pz * pz * c.outChannels, 'zeros');
  }

  get mlpHidden(): number {
    return Math.floor(this.config.hiddenSize * (this.config.mlpRatio ?? 4));
  }

  /** Blocks before ⌊depth/2⌋ feed long skips (U-ViT); block i ≥ depth − ⌊depth/2⌋ takes block depth−1−i's output. */
  skipSource(i: number): number | undefined {
    const { depth, longSkips } = this.config, half = Math.floor(depth / 2);
    return longSkips && i >= depth - half ? depth - 1 - i : undefined;
  }

  /** The label that stands for "no class" (classifier-free guidance's ∅); undefined when unconditional. */
  get nullLabel(): number | undefined {
    return this.config.numClasses;
  }

  /** The 2-D sin-cos position embedding [1, T, hiddenSize] (fixed, not a parameter; DiT's pos_embed buffer). */
  get posEmbed(): tf.Tensor3D {
    return this.pos;
  }

  /** x: [N, H, W, C]; t: [N] noise conditioning (as the denoiser gives it). */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, opts: DiTForwardOptions = {}): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.params, c = this.config, h = c.hiddenSize, n = x.shape[0];
      const patches = patchify(x, c.patchSize);
      let tok = c.bottleneck !== undefined
        ? tokenDense(p, 'x_embedder.proj2', tokenDense(p, 'x_embedder.proj1', patches, false))
        : tokenDense(p, 'x_embedder.proj', patches);
      tok = tok.add(this.pos) as tf.Tensor3D;
      let cond = timestepEmbedding(t, DIT_FREQUENCY_DIM);
      cond = tf.matMul(cond, p.get('t_embedder.mlp.0.weight') as tf.Tensor2D).add(p.get('t_embedder.mlp.0.bias')) as tf.Tensor2D;
      cond = tf.matMul(silu(cond), p.get('t_embedder.mlp.2.weight') as tf.Tensor2D).add(p.get('t_embedder.mlp.2.bias')) as tf.Tensor2D;
      let extra = 0;
      if (c.numClasses !== undefined) {
        const labels = opts.cond ? opts.cond.toInt() : tf.fill([n], c.numClasses, 'int32');
        if (labels.shape[0] !== n) throw new Error(`dit: ${labels.shape[0]} class labels for a batch of ${n}`);
        // A one-hot matmul rather than gather: its gradient is a matmul on every compute backend.
        const oneHot = tf.oneHot(labels as tf.Tensor1D, c.numClasses + 1).toFloat() as tf.Tensor2D;
        const y = tf.matMul(oneHot, p.get('y_embedder.embedding_table.weight') as tf.Tensor2D);
        if (c.labelTokens !== undefined) {
          extra = c.labelTokens;
          const ytok = y.expandDims(1).add(p.get('y_embedder.token_pos').expandDims(0)) as tf.Tensor3D;
          tok = tf.concat([ytok, tok], 1) as tf.Tensor3D;
        } else {
          cond = cond.add(y) as tf.Tensor2D;
        }
      } else if (opts.cond) {
        throw new Error('dit: class labels given to an unconditional model (train with diffusion.conditioning to condition on classes)');
      }
      const cs = silu(cond);
      const heads = c.heads, d = h / heads, len = tok.shape[1];
      const saved: tf.Tensor3D[] = [];
      for (let i = 0; i < c.depth; i++) {
        const b = `blocks.${i}`;
        const src = this.skipSource(i);
        if (src !== undefined) tok = tokenDense(p, `${b}.skip_linear`, tf.concat([tok, saved[src]], 2) as tf.Tensor3D);
        const mod = tf.matMul(cs, p.get(`${b}.adaLN_modulation.1.weight`) as tf.Tensor2D).add(p.get(`${b}.adaLN_modulation.1.bias`)) as tf.Tensor2D;
        const [shiftA, scaleA, gateA, shiftM, scaleM, gateM] = tf.split(mod, 6, 1) as tf.Tensor2D[];
        const qkv = tokenDense(p, `${b}.attn.qkv`, modulate(layerNorm(tok), shiftA, scaleA));
        // q, k, v are consecutive blocks of h channels; heads split each (timm's Attention). One split,
        // whose gradient is one concatenation, rather than three slices (three padded copies, added).
        const [q, k, v] = tf.split(qkv, 3, 2).map((t) => t.reshape([n, len, heads, d]).transpose([0, 2, 1, 3]).reshape([n * heads, len, d]) as tf.Tensor3D);
        const attn = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(d)));
        const o = tf.matMul(attn, v).reshape([n, heads, len, d]).transpose([0, 2, 1, 3]).reshape([n, len, h]) as tf.Tensor3D;
        tok = tok.add(tokenDense(p, `${b}.attn.proj`, o).mul(gateA.expandDims(1))) as tf.Tensor3D;
        const m = tokenDense(p, `${b}.mlp.fc2`, geluTanh(tokenDense(p, `${b}.mlp.fc1`, modulate(layerNorm(tok), shiftM, scaleM))));
        tok = tok.add(m.mul(gateM.expandDims(1))) as tf.Tensor3D;
        if (c.longSkips && i < Math.floor(c.depth / 2)) saved.push(tok);
      }
      if (extra) tok = tok.slice([0, extra, 0], [n, this.tokens, h]);
      const fin = tf.matMul(cs, p.get('final_layer.adaLN_modulation.1.weight') as tf.Tensor2D).add(p.get('final_layer.adaLN_modulation.1.bias')) as tf.Tensor2D;
      const [shift, scale] = tf.split(fin, 2, 1) as tf.Tensor2D[];
      const out = tokenDense(p, 'final_layer.linear', modulate(layerNorm(tok), shift, scale));
      return unpatchify(out, c.patchSize, c.outChannels);
    });
  }

  paramCount(): number {
    return this.params.count();
  }

  /** Forward FLOPs per image: the dense layers, attention matmuls and label lookup (2 per multiply-add). */
  flopsPerImage(): number {
    const c = this.config, h = c.hiddenSize, f = new FlopCounter(), tk = this.tokens;
    const len = tk + (c.numClasses !== undefined ? c.labelTokens ?? 0 : 0);
    if (c.bottleneck !== undefined) { f.dense(tk, this.tokenDim, c.bottleneck); f.dense(tk, c.bottleneck, h); } else f.dense(tk, this.tokenDim, h);
    f.dense(1, DIT_FREQUENCY_DIM, h);
    f.dense(1, h, h);
    if (c.numClasses !== undefined) f.dense(1, c.numClasses + 1, h);
    for (let i = 0; i < c.depth; i++) {
      if (this.skipSource(i) !== undefined) f.dense(len, 2 * h, h);
      f.dense(1, h, 6 * h);
      f.dense(len, h, 3 * h);
      f.matmul(len, h, len); // q·kᵀ over all heads
      f.matmul(len, len, h); // attention · v
      f.dense(len, h, h);
      f.dense(len, h, this.mlpHidden);
      f.dense(len, this.mlpHidden, h);
    }
    f.dense(1, h, 2 * h);
    f.dense(tk, h, c.patchSize * c.patchSize * c.outChannels);
    return f.total;
  }

  dispose(): void {
    this.params.dispose();
    this.pos.dispose();
  }
}
