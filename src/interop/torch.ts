// Weights in PyTorch's layout, for the PyTorch definitions in bench/torch/difflab_torch.py.
//
// difflab stores activations NHWC and its parameters as TF.js uses them: convolutions HWIO
// [kh, kw, in, out], dense weights [in, out], GroupNorm `gamma`/`beta`. An export is one safetensors
// file with PyTorch's layout — convolutions OIHW [out, in, kh, kw], linear weights [out, in],
// GroupNorm `weight`/`bias`, the class embedding as nn.Embedding [classes + 1, dim] — under the same
// dotted names prefixed `unet.` (and `vae.` for latent runs), plus `__metadata__` with the training
// config, the layout and the constructor arguments of both modules.
//
// A DiT is written under `dit.` with facebookresearch/DiT's state-dict names and shapes (the patch
// embedding as Conv2d [width, C, p, p], Linear weights [out, in], the label table as nn.Embedding,
// the fixed pos_embed [1, T, width]), and its constructor arguments under `shapes.dit`, so that
// `DiT(**shapes['dit'])` from DiT's models.py loads `dit.*` with strict=True. An unconditional model
// is written as DiT with num_classes = 0 and a zero null-label row (its conditioning is t alone).
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';
import { DiT, type DiTConfig } from '../models/dit.js';
import type { UNet, UNetConfig } from '../models/unet.js';
import type { VaeConfig } from '../models/vae.js';

export const TORCH_EXPORT_FORMAT = 'difflab-torch/1';
export const TORCH_LAYOUT = 'PyTorch: activations NCHW; Conv2d weight [out, in, kh, kw] (OIHW); Linear weight [out, in]; GroupNorm weight/bias; class embedding nn.Embedding [classes + 1, dim]; DiT: facebookresearch/DiT state-dict names (x_embedder.proj Conv2d [width, C, p, p], pos_embed [1, T, width])';
export const DIFFLAB_LAYOUT = 'difflab (TF.js): activations NHWC; conv weight [kh, kw, in, out] (HWIO); dense weight [in, out]; GroupNorm gamma/beta';

type T = { shape: number[]; data: Float32Array };

/** A GroupNorm's parameter: its module is named norm, norm1, norm2 (…out.norm). */
const isNorm = (name: string) => /(^|\.)norm\d?\.(gamma|beta|weight|bias)$/.test(name);

function transpose(t: T, perm: number[]): T {
  const shape = perm.map((p) => t.shape[p]);
  const rank = t.shape.length, inStrides = new Array(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * t.shape[i + 1];
  const out = new Float32Array(t.data.length), idx = new Array(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = t.data[src];
    for (let d = rank - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
  }
  return { shape, data: out };
}

/** One difflab parameter → its PyTorch name and layout. */
export function toTorch(name: string, t: T): [string, T] {
  if (isNorm(name)) return [name.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias'), t];
  if (name === 'class.embedding') return ['class.embedding.weight', t];
  if (t.shape.length === 4) return [name, transpose(t, [3, 2, 0, 1])]; // HWIO → OIHW
  if (t.shape.length === 2) return [name, transpose(t, [1, 0])]; // [in, out] → [out, in]
  return [name, t];
}

/** The inverse of toTorch. */
export function fromTorch(name: string, t: T): [string, T] {
  if (isNorm(name)) return [name.replace(/\.weight$/, '.gamma').replace(/\.bias$/, '.beta'), t];
  if (name === 'class.embedding.weight') return ['class.embedding', t];
  if (t.shape.length === 4) return [name, transpose(t, [2, 3, 1, 0])]; // OIHW → HWIO
  if (t.shape.length === 2) return [name, transpose(t, [1, 0])];
  return [name, t];
}

const snake = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));

/** DiT tensors already in nn.Embedding / nn.Parameter layout (no transpose). */
const DIT_AS_IS = new Set(['y_embedder.embedding_table.weight', 'y_embedder.token_pos']);

/** Parameters of a DiT whose PyTorch layout differs from the generic 2-D transpose. */
function ditToTorch(name: string, t: T, c: DiTConfig): [string, T] {
  const p = c.patchSize;
  if (name === 'x_embedder.proj.weight' || name === 'x_embedder.proj1.weight') {
    // dense [p·p·C, width] with rows (patch row, patch column, channel) = HWIO [p, p, C, width]
    return [name, transpose({ shape: [p, p, c.inChannels, t.shape[1]], data: t.data }, [3, 2, 0, 1])];
  }
  if (name === 'x_embedder.proj2.weight') return [name, { ...transpose(t, [1, 0]), shape: [t.shape[1], t.shape[0], 1, 1] }];
  if (DIT_AS_IS.has(name)) return [name, t];
  return toTorch(name, t);
}

function ditFromTorch(name: string, t: T): [string, T] {
  if (name === 'x_embedder.proj.weight' || name === 'x_embedder.proj1.weight') {
    const [o, ci, kh, kw] = t.shape;
    const hwio = transpose(t, [2, 3, 1, 0]);
    return [name, { shape: [kh * kw * ci, o], data: hwio.data }];
  }
  if (name === 'x_embedder.proj2.weight') return [name, transpose({ shape: [t.shape[0], t.shape[1]], data: t.data }, [1, 0])];
  if (DIT_AS_IS.has(name)) return [name, t];
  return fromTorch(name, t);
}

/** DiT's constructor arguments (models.py) for a difflab DiT: learn_sigma off, the null label as DiT's CFG row. */
export function ditTorchArgs(c: DiTConfig): Record<string, unknown> {
  return {
    input_size: c.imageSize, patch_size: c.patchSize, in_channels: c.inChannels, hidden_size: c.hiddenSize, depth: c.depth,
    num_heads: c.heads, mlp_ratio: c.mlpRatio ?? 4, class_dropout_prob: 0.1, num_classes: c.numClasses ?? 0, learn_sigma: false,
  };
}

type Params = Map<string, { shape: number[]; dataSync(): unknown }>;

/** The export entry of a diffusion backbone: `dit` (with its position embedding) or `unet`. */
export function backboneExport(net: UNet | DiT): Pick<ExportInput, 'unet' | 'dit'> {
  return net instanceof DiT ? { dit: { config: net.config, params: net.params.vars, posEmbed: net.posEmbed } } : { unet: { config: net.config, params: net.params.vars } };
}

export interface ExportInput {
  unet?: { config: UNetConfig; params: Params };
  /** a DiT: its parameters and its fixed position embedding [1, T, width] */
  dit?: { config: DiTConfig; params: Params; posEmbed: { shape: number[]; dataSync(): unknown } };
  vae?: { config: VaeConfig; params: Map<string, { shape: number[]; dataSync(): unknown }> };
  config: unknown;
  weights: string;
  step: number;
}

/** Writes an export (see the file comment); returns the number of tensors written. */
export function writeTorchExport(file: string, x: ExportInput): number {
  const tensors: Record<string, T> = {};
  const put = (prefix: string, params: Params, map: (name: string, t: T) => [string, T] = toTorch) => {
    for (const [name, v] of params) {
      const [n, t] = map(name, { shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) });
      tensors[`${prefix}${n}`] = t;
    }
  };
  const shapes: Record<string, unknown> = {};
  if (x.unet) {
    put('unet.', x.unet.params);
    shapes.unet = snake({ ...x.unet.config, numClasses: x.unet.config.numClasses, scaleShiftNorm: x.unet.config.scaleShiftNorm ?? false });
  }
  if (x.dit) {
    const c = x.dit.config;
    put('dit.', x.dit.params, (n, t) => ditToTorch(n, t, c));
    tensors['dit.pos_embed'] = { shape: x.dit.posEmbed.shape, data: Float32Array.from(x.dit.posEmbed.dataSync() as Float32Array) };
    if (c.numClasses === undefined) tensors['dit.y_embedder.embedding_table.weight'] = { shape: [1, c.hiddenSize], data: new Float32Array(c.hiddenSize) };
    shapes.dit = ditTorchArgs(c);
    // Options DiT's class lacks; bench/torch/difflab_torch.py's DiT takes them.
    shapes.dit_options = snake({ bottleneck: c.bottleneck, labelTokens: c.labelTokens, longSkips: c.longSkips ?? false, conditional: c.numClasses !== undefined });
  }
  if (!x.unet === !x.dit) throw new Error('writeTorchExport: expected exactly one of unet and dit');
  if (x.vae) {
    put('vae.', x.vae.params);
    shapes.vae = snake({ ...x.vae.config });
  }
  writeSafetensors(file, tensors, { format: TORCH_EXPORT_FORMAT, layout: TORCH_LAYOUT, weights: x.weights, step: String(x.step), config: JSON.stringify(x.config), shapes: JSON.stringify(shapes) });
  return Object.keys(tensors).length;
}

/** Reads an export back into difflab's names and layout: { unet, vae? } maps of tensors. */
export function readTorchExport(file: string): { unet: Map<string, T>; dit?: Map<string, T>; vae?: Map<string, T>; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== TORCH_EXPORT_FORMAT) throw new Error(`${file}: __metadata__.format is '${metadata.format ?? ''}', expected ${TORCH_EXPORT_FORMAT} (a file written by difflab export --format torch)`);
  const unet = new Map<string, T>(), vae = new Map<string, T>(), dit = new Map<string, T>();
  const ditShapes = JSON.parse(metadata.shapes ?? '{}').dit_options as { conditional?: boolean } | undefined;
  for (const [key, t] of Object.entries(tensors)) {
    const [prefix, ...rest] = key.split('.');
    const raw = { shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number>) };
    if (prefix === 'dit') {
      const n = rest.join('.');
      // The fixed position embedding and an unconditional model's null row are not parameters.
      if (n === 'pos_embed' || (n === 'y_embedder.embedding_table.weight' && ditShapes?.conditional === false)) continue;
      const [name, v] = ditFromTorch(n, raw);
      dit.set(name, v);
      continue;
    }
    const [name, v] = fromTorch(rest.join('.'), raw);
    if (prefix === 'unet') unet.set(name, v);
    else if (prefix === 'vae') vae.set(name, v);
    else throw new Error(`${file}: tensor ${key}: expected the prefix unet., dit. or vae.`);
  }
  return { unet, dit: dit.size ? dit : undefined, vae: vae.size ? vae : undefined, metadata };
}
