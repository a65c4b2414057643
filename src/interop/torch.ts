// Weights in PyTorch's layout, for the PyTorch definitions in bench/torch/difflab_torch.py.
//
// difflab stores activations NHWC and its parameters as TF.js uses them: convolutions HWIO
// [kh, kw, in, out], dense weights [in, out], GroupNorm `gamma`/`beta`. An export is one safetensors
// file with PyTorch's layout — convolutions OIHW [out, in, kh, kw], linear weights [out, in],
// GroupNorm `weight`/`bias`, the class embedding as nn.Embedding [classes + 1, dim] — under the same
// dotted names prefixed `unet.` (and `vae.` for latent runs), plus `__metadata__` with the training
// config, the layout and the constructor arguments of both modules.
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';
import type { UNetConfig } from '../models/unet.js';
import type { VaeConfig } from '../models/vae.js';

export const TORCH_EXPORT_FORMAT = 'difflab-torch/1';
export const TORCH_LAYOUT = 'PyTorch: activations NCHW; Conv2d weight [out, in, kh, kw] (OIHW); Linear weight [out, in]; GroupNorm weight/bias; class embedding nn.Embedding [classes + 1, dim]';
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

export interface ExportInput {
  unet: { config: UNetConfig; params: Map<string, { shape: number[]; dataSync(): unknown }> };
  vae?: { config: VaeConfig; params: Map<string, { shape: number[]; dataSync(): unknown }> };
  config: unknown;
  weights: string;
  step: number;
}

/** Writes an export (see the file comment); returns the number of tensors written. */
export function writeTorchExport(file: string, x: ExportInput): number {
  const tensors: Record<string, T> = {};
  const put = (prefix: string, params: ExportInput['unet']['params']) => {
    for (const [name, v] of params) {
      const [n, t] = toTorch(name, { shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) });
      tensors[`${prefix}${n}`] = t;
    }
  };
  put('unet.', x.unet.params);
  if (x.vae) put('vae.', x.vae.params);
  const shapes: Record<string, unknown> = { unet: snake({ ...x.unet.config, numClasses: x.unet.config.numClasses, scaleShiftNorm: x.unet.config.scaleShiftNorm ?? false }) };
  if (x.vae) shapes.vae = snake({ ...x.vae.config });
  writeSafetensors(file, tensors, { format: TORCH_EXPORT_FORMAT, layout: TORCH_LAYOUT, weights: x.weights, step: String(x.step), config: JSON.stringify(x.config), shapes: JSON.stringify(shapes) });
  return Object.keys(tensors).length;
}

/** Reads an export back into difflab's names and layout: { unet, vae? } maps of tensors. */
export function readTorchExport(file: string): { unet: Map<string, T>; vae?: Map<string, T>; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(file);
  if (metadata.format !== TORCH_EXPORT_FORMAT) throw new Error(`${file}: __metadata__.format is '${metadata.format ?? ''}', expected ${TORCH_EXPORT_FORMAT} (a file written by difflab export --format torch)`);
  const unet = new Map<string, T>(), vae = new Map<string, T>();
  for (const [key, t] of Object.entries(tensors)) {
    const [prefix, ...rest] = key.split('.');
    const [name, v] = fromTorch(rest.join('.'), { shape: t.shape, data: Float32Array.from(t.data as ArrayLike<number>) });
    if (prefix === 'unet') unet.set(name, v);
    else if (prefix === 'vae') vae.set(name, v);
    else throw new Error(`${file}: tensor ${key}: expected the prefix unet. or vae.`);
  }
  return { unet, vae: vae.size ? vae : undefined, metadata };
}
