// Image datasets held as integer pixels (kept for bits/dim), served as NHWC float tensors in [−1, 1].
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';

export interface ImageDataset {
  name: string;
  /** Number of images. */
  n: number;
  height: number;
  width: number;
  channels: number;
  /** Integer pixel values 0..255, NHWC, row-major. */
  pixels: Uint8Array;
  /** Class labels, where the dataset has them. */
  labels?: Int32Array;
  /** Human-readable class names, indexed by label. */
  classNames?: string[];
}

export class DatasetError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'DatasetError';
  }
}

/** x = pixel/127.5 − 1: the 256 levels map to [−1, 1], as DDPM does. */
export function toFloat(ds: ImageDataset, indices: ArrayLike<number>): tf.Tensor4D {
  const size = ds.height * ds.width * ds.channels;
  const out = new Float32Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * size;
    for (let j = 0; j < size; j++) out[b * size + j] = ds.pixels[src + j] / 127.5 - 1;
  }
  return tf.tensor4d(out, [indices.length, ds.height, ds.width, ds.channels]);
}

/** A subset of the images (a copy), e.g. one split. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, name = ds.name): ImageDataset {
  const size = ds.height * ds.width * ds.channels;
  const pixels = new Uint8Array(indices.length * size);
  for (let b = 0; b < indices.length; b++) pixels.set(ds.pixels.subarray(indices[b] * size, (indices[b] + 1) * size), b * size);
  const labels = ds.labels ? Int32Array.from(indices, (i) => ds.labels![i]) : undefined;
  return { ...ds, name, n: indices.length, pixels, labels };
}

/** A seeded Fisher–Yates permutation of 0..n−1. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Mini-batches of indices over endless epochs, reshuffled each epoch from the seed: the same seed gives
 * the same batches. `state()`/`restore()` let a resumed run continue the exact same sequence.
 */
export class BatchSampler {
  private order: Int32Array;
  private pos = 0;
  private epoch = 0;

  constructor(private readonly n: number, private readonly batchSize: number, private readonly seed: number) {
    if (batchSize < 1 || batchSize > n) throw new DatasetError('batchSize', `expected 1..${n}, got ${batchSize}`);
    this.order = permutation(n, new Rng(seed));
  }

  next(): Int32Array {
    if (this.pos + this.batchSize > this.n) {
      this.epoch++;
      this.order = permutation(this.n, new Rng(this.seed + this.epoch * 1_000_003));
      this.pos = 0;
    }
    const b = this.order.slice(this.pos, this.pos + this.batchSize);
    this.pos += this.batchSize;
    return b;
  }

  state(): { epoch: number; pos: number } {
    return { epoch: this.epoch, pos: this.pos };
  }

  restore(s: { epoch: number; pos: number }): void {
    this.epoch = s.epoch;
    this.order = permutation(this.n, new Rng(this.seed + s.epoch * 1_000_003));
    this.pos = s.pos;
  }
}

// ---- transforms on integer pixels (the result keeps exact 0..255 values for bits/dim) ----

/** Centre crop to h×w (each no larger than the image). */
export function centerCrop(ds: ImageDataset, h: number, w: number): ImageDataset {
  if (h > ds.height || w > ds.width) throw new DatasetError('crop', `${h}×${w} is larger than the ${ds.height}×${ds.width} images`);
  const top = Math.floor((ds.height - h) / 2), left = Math.floor((ds.width - w) / 2), c = ds.channels;
  const out = new Uint8Array(ds.n * h * w * c);
  for (let i = 0; i < ds.n; i++) {
    for (let y = 0; y < h; y++) {
      const src = ((i * ds.height + top + y) * ds.width + left) * c;
      out.set(ds.pixels.subarray(src, src + w * c), ((i * h + y) * w) * c);
    }
  }
  return { ...ds, height: h, width: w, pixels: out };
}

/** Zero-pad symmetrically to h×w (MNIST's usual 28 → 32). */
export function pad(ds: ImageDataset, h: number, w: number): ImageDataset {
  if (h < ds.height || w < ds.width) throw new DatasetError('pad', `${h}×${w} is smaller than the ${ds.height}×${ds.width} images`);
  const top = Math.floor((h - ds.height) / 2), left = Math.floor((w - ds.width) / 2), c = ds.channels;
  const out = new Uint8Array(ds.n * h * w * c);
  for (let i = 0; i < ds.n; i++) {
    for (let y = 0; y < ds.height; y++) {
      const src = ((i * ds.height + y) * ds.width) * c;
      out.set(ds.pixels.subarray(src, src + ds.width * c), ((i * h + top + y) * w + left) * c);
    }
  }
  return { ...ds, height: h, width: w, pixels: out };
}

/**
 * Resize to h×w by area averaging when shrinking by an integer factor (exact box filter, no aliasing)
 * and bilinear interpolation with half-pixel centres otherwise; results are rounded to 0..255.
 */
export function resize(ds: ImageDataset, h: number, w: number): ImageDataset {
  const { height: H, width: W, channels: c } = ds;
  if (h === H && w === W) return ds;
  const out = new Uint8Array(ds.n * h * w * c);
  const fy = H / h, fx = W / w;
  const box = Number.isInteger(fy) && Number.isInteger(fx) && fy >= 1 && fx >= 1;
  for (let i = 0; i < ds.n; i++) {
    const base = i * H * W * c;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          let v: number;
          if (box) {
            let s = 0;
            for (let dy = 0; dy < fy; dy++) for (let dx = 0; dx < fx; dx++) s += ds.pixels[base + ((y * fy + dy) * W + x * fx + dx) * c + ch];
            v = s / (fy * fx);
          } else {
            const sy = Math.min(Math.max((y + 0.5) * fy - 0.5, 0), H - 1), sx = Math.min(Math.max((x + 0.5) * fx - 0.5, 0), W - 1);
            const y0 = Math.floor(sy), x0 = Math.floor(sx), y1 = Math.min(y0 + 1, H - 1), x1 = Math.min(x0 + 1, W - 1);
            const wy = sy - y0, wx = sx - x0;
            const p = (yy: number, xx: number) => ds.pixels[base + (yy * W + xx) * c + ch];
            v = (1 - wy) * ((1 - wx) * p(y0, x0) + wx * p(y0, x1)) + wy * ((1 - wx) * p(y1, x0) + wx * p(y1, x1));
          }
          out[((i * h + y) * w + x) * c + ch] = Math.round(v);
        }
      }
    }
  }
  return { ...ds, height: h, width: w, pixels: out };
}

/** A short fingerprint of the pixels and labels (FNV-1a, 32-bit), for checkpoints' data hash. */
export function datasetHash(ds: ImageDataset): string {
  let h = 0x811c9dc5;
  const mix = (b: number) => { h ^= b; h = Math.imul(h, 0x01000193) >>> 0; };
  for (const v of [ds.n, ds.height, ds.width, ds.channels]) for (let k = 0; k < 4; k++) mix((v >>> (8 * k)) & 255);
  for (let i = 0; i < ds.pixels.length; i++) mix(ds.pixels[i]);
  if (ds.labels) for (let i = 0; i < ds.labels.length; i++) mix(ds.labels[i] & 255);
  return h.toString(16).padStart(8, '0');
}
