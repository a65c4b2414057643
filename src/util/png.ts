// Sample grids as PNG: images in [−1, 1] (NHWC, 1 or 3 channels) tiled with a 2-pixel gap.
import { PNG } from 'pngjs';
import { writeFileAtomic } from './fs.js';

export function encodeGrid(values: Float32Array, n: number, h: number, w: number, c: number, cols = Math.ceil(Math.sqrt(n))): Uint8Array {
  const rows = Math.ceil(n / cols), gap = 2;
  const W = cols * (w + gap) + gap, H = rows * (h + gap) + gap;
  const png = new PNG({ width: W, height: H });
  png.data.fill(255);
  for (let i = 0; i < n; i++) {
    const ox = gap + (i % cols) * (w + gap), oy = gap + Math.floor(i / cols) * (h + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c, dst = 4 * ((oy + y) * W + ox + x);
        for (let k = 0; k < 3; k++) {
          const v = values[src + (c === 1 ? 0 : k)];
          png.data[dst + k] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
        }
        png.data[dst + 3] = 255;
      }
    }
  }
  return PNG.sync.write(png);
}

export function writeGrid(file: string, values: Float32Array, shape: number[]): void {
  const [n, h, w, c] = shape;
  writeFileAtomic(file, encodeGrid(values, n, h, w, c));
}
