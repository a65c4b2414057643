// Sample grids as PNG: images in [−1, 1] (NHWC, 1 or 3 channels) tiled with a gap, optionally
// upscaled by an integer factor (nearest neighbour, so pixels stay pixels), and grids side by side.
import { PNG } from 'pngjs';
import { writeFileAtomic } from './fs.js';

export interface GridOptions {
  cols?: number;
  /** integer upscaling factor (nearest neighbour); the gap scales with it */
  scale?: number;
}

function gridPng(values: Float32Array, n: number, h: number, w: number, c: number, opts: GridOptions = {}): PNG {
  const cols = opts.cols ?? Math.ceil(Math.sqrt(n)), s = opts.scale ?? 1;
  if (!Number.isInteger(s) || s < 1) throw new Error(`grid scale: expected an integer ≥ 1, got ${s}`);
  const rows = Math.ceil(n / cols), gap = 2 * s, sh = h * s, sw = w * s;
  const W = cols * (sw + gap) + gap, H = rows * (sh + gap) + gap;
  const png = new PNG({ width: W, height: H });
  png.data.fill(255);
  for (let i = 0; i < n; i++) {
    const ox = gap + (i % cols) * (sw + gap), oy = gap + Math.floor(i / cols) * (sh + gap);
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < sw; x++) {
        const src = ((i * h + Math.floor(y / s)) * w + Math.floor(x / s)) * c, dst = 4 * ((oy + y) * W + ox + x);
        for (let k = 0; k < 3; k++) {
          const v = values[src + (c === 1 ? 0 : k)];
          png.data[dst + k] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
        }
        png.data[dst + 3] = 255;
      }
    }
  }
  return png;
}

/** The upscaling of sample grids difflab writes: ×2 for images of at most 32 px, so that they can be judged. */
export const gridScale = (side: number) => (side <= 32 ? 2 : 1);

export function encodeGrid(values: Float32Array, n: number, h: number, w: number, c: number, opts: GridOptions = {}): Uint8Array {
  return PNG.sync.write(gridPng(values, n, h, w, c, opts));
}

export function writeGrid(file: string, values: Float32Array, shape: number[], opts: GridOptions = {}): void {
  const [n, h, w, c] = shape;
  writeFileAtomic(file, encodeGrid(values, n, h, w, c, opts));
}

