// Feature networks for FID/KID/PR: difflab's own per-dataset LeNet (trained once with a fixed recipe
// and cached), or a user's TF.js model read from disk.
//
// Inception weights cannot be fetched offline, so metrics computed here carry the network's name
// (fid@lenet-mnist): they rank models like Inception-FID does but their values are not comparable to
// published Inception-FIDs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../compute/backend.js';
import { loadDataset, toFloat, type DatasetName, type ImageDataset } from '../data/index.js';
import { ParamStore, registerConv, registerDense } from '../models/layers.js';
import { readJsonFile, writeFileAtomic } from '../util/fs.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';
import { AdamW, learningRate } from '../train/optim.js';
import { matrix, type Matrix } from '../util/linalg.js';

export interface FeatureOutput {
  /** n × featureDim, float64 */
  features: Matrix;
  /** n × classes softmax probabilities, where the network is a classifier */
  probs?: Float64Array;
}

export interface FeatureNet {
  /** Goes into metric names: fid@<name>. */
  name: string;
  featureDim: number;
  classes?: number;
  /** [H, W, C] the network takes; other image sizes are resized (bilinear) and channels converted. */
  inputShape: [number, number, number];
  /** Test accuracy recorded when the network was trained (difflab's own networks). */
  testAccuracy?: number;
  /** Features of images in [−1, 1], NHWC, computed in batches. */
  features(x: tf.Tensor4D, batch?: number): FeatureOutput;
  dispose(): void;
}

/** The fixed recipe of a LeNet feature network; its hash keys the cache. */
export interface LenetRecipe {
  dataset: DatasetName;
  /** Channels of the two 5×5 conv layers and the feature (penultimate dense) layer. */
  channels: [number, number];
  featureDim: number;
  steps: number;
  batchSize: number;
  lr: number;
  /** Random translations of up to this many pixels (zero fill), per image per step. */
  shift: number;
  seed: number;
  /** the MLP family (MLP_RECIPES); absent: a LeNet (the field is left out so LeNet hashes stay as shipped) */
  arch?: 'mlp';
  /** MLP: width of the first hidden layer (the second is featureDim) */
  hidden?: number;
}

/**
 * The second, independent feature space: a multilayer perceptron on the raw pixels (no convolution,
 * no pooling), so it does not share the LeNet's local, translation-tolerant view of an image and is
 * fooled by other things. `arch: 'mlp'` and `hidden` are what differ from a LeNet recipe; `channels`
 * is unused. Its penultimate layer (featureDim) gives the features, as the LeNet's does.
 */
export const MLP_RECIPES: Partial<Record<DatasetName, LenetRecipe>> = {
  mnist: { dataset: 'mnist', arch: 'mlp', hidden: 256, channels: [0, 0], featureDim: 128, steps: 1500, batchSize: 64, lr: 1e-3, shift: 2, seed: 1 },
  'fashion-mnist': { dataset: 'fashion-mnist', arch: 'mlp', hidden: 256, channels: [0, 0], featureDim: 128, steps: 3000, batchSize: 64, lr: 1e-3, shift: 2, seed: 1 },
};

/** The networks difflab trains itself, by family: metric names carry `<family>-<dataset>`. */
export const FEATURE_FAMILIES = ['lenet', 'mlp'] as const;
export type FeatureFamily = (typeof FEATURE_FAMILIES)[number];
const recipesOf = (f: FeatureFamily) => (f === 'mlp' ? MLP_RECIPES : LENET_RECIPES);
const familyOf = (r: LenetRecipe): FeatureFamily => r.arch ?? 'lenet';

export const LENET_RECIPES: Partial<Record<DatasetName, LenetRecipe>> = {
  mnist: { dataset: 'mnist', channels: [16, 32], featureDim: 128, steps: 1500, batchSize: 64, lr: 2e-3, shift: 2, seed: 0 },
  'fashion-mnist': { dataset: 'fashion-mnist', channels: [32, 64], featureDim: 128, steps: 3000, batchSize: 64, lr: 2e-3, shift: 2, seed: 0 },
};

export function recipeHash(r: LenetRecipe): string {
  return crypto.createHash('sha256').update(JSON.stringify(r)).digest('hex').slice(0, 10);
}

/** $DIFFLAB_CACHE, else $XDG_CACHE_HOME/difflab, else ~/.cache/difflab. */
export function cacheDir(): string {
  if (process.env.DIFFLAB_CACHE) return process.env.DIFFLAB_CACHE;
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'difflab');
}

/** Resizes to the network's input (bilinear, as FID resizes to Inception's 299×299) and converts channels. */
export function toNetworkInput(x: tf.Tensor4D, shape: [number, number, number]): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    const [h, w, c] = shape;
    if (y.shape[3] !== c) {
      if (c === 1 && y.shape[3] === 3) y = y.mean(3, true) as tf.Tensor4D;
      else if (c === 3 && y.shape[3] === 1) y = tf.tile(y, [1, 1, 1, 3]);
      else throw new Error(`feature network: cannot convert ${y.shape[3]}-channel images to the ${c} channels it takes`);
    }
    if (y.shape[1] !== h || y.shape[2] !== w) y = tf.image.resizeBilinear(y, [h, w]);
    return y;
  });
}

class Lenet {
  readonly params: ParamStore;
  constructor(readonly recipe: LenetRecipe, readonly inChannels: number, readonly side: number) {
    this.params = new ParamStore(new Rng(recipe.seed + 1));
    if (recipe.arch === 'mlp') {
      registerDense(this.params, 'fc0', side * side * inChannels, recipe.hidden ?? 512);
      registerDense(this.params, 'fc1', recipe.hidden ?? 512, recipe.featureDim);
      registerDense(this.params, 'fc2', recipe.featureDim, 10);
      return;
    }
    const [c1, c2] = recipe.channels;
    registerConv(this.params, 'conv1', 5, inChannels, c1);
    registerConv(this.params, 'conv2', 5, c1, c2);
    const flat = Math.floor(side / 4) ** 2 * c2;
    registerDense(this.params, 'fc1', flat, recipe.featureDim);
    registerDense(this.params, 'fc2', recipe.featureDim, 10);
  }

  /**
   * LeNet: conv5-relu-maxpool ×2, dense-relu (the features), dense (logits). MLP: dense-relu,
   * dense-relu (the features), dense (logits), on the flattened pixels.
   */
  forward(x: tf.Tensor4D): { features: tf.Tensor2D; logits: tf.Tensor2D } {
    const p = this.params;
    if (this.recipe.arch === 'mlp') {
      const dense = (name: string, h: tf.Tensor2D) => tf.matMul(h, p.get(`${name}.weight`) as tf.Tensor2D).add(p.get(`${name}.bias`)) as tf.Tensor2D;
      const h0 = tf.relu(dense('fc0', x.reshape([x.shape[0], -1]) as tf.Tensor2D)) as tf.Tensor2D;
      const features = tf.relu(dense('fc1', h0)) as tf.Tensor2D;
      return { features, logits: dense('fc2', features) };
    }
    const c = (name: string, h: tf.Tensor4D) => tf.relu(tf.conv2d(h, p.get(`${name}.weight`) as tf.Tensor4D, 1, 'same').add(p.get(`${name}.bias`))) as tf.Tensor4D;
    let h = tf.maxPool(c('conv1', x), 2, 2, 'valid');
    h = tf.maxPool(c('conv2', h), 2, 2, 'valid');
    const flat = h.reshape([h.shape[0], -1]) as tf.Tensor2D;
    const features = tf.relu(tf.matMul(flat, p.get('fc1.weight') as tf.Tensor2D).add(p.get('fc1.bias'))) as tf.Tensor2D;
    const logits = tf.matMul(features, p.get('fc2.weight') as tf.Tensor2D).add(p.get('fc2.bias')) as tf.Tensor2D;
    return { features, logits };
  }
}

/** Pixels of the chosen images, each shifted by up to ±shift pixels (zero fill), as floats in [−1, 1]. */
function augmentedBatch(ds: ImageDataset, idx: ArrayLike<number>, shift: number, rng: Rng): tf.Tensor4D {
  const { height: h, width: w, channels: c } = ds;
  const size = h * w * c, out = new Float32Array(idx.length * size).fill(-1);
  for (let b = 0; b < idx.length; b++) {
    const dy = shift ? rng.int(2 * shift + 1) - shift : 0, dx = shift ? rng.int(2 * shift + 1) - shift : 0;
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx = x - dx;
        if (sx < 0 || sx >= w) continue;
        for (let k = 0; k < c; k++) out[b * size + (y * w + x) * c + k] = ds.pixels[idx[b] * size + (sy * w + sx) * c + k] / 127.5 - 1;
      }
    }
  }
  return tf.tensor4d(out, [idx.length, h, w, c]);
}

function batchedForward(net: Lenet, x: tf.Tensor4D, batch: number): { features: Float32Array; logits: Float32Array } {
  const n = x.shape[0], f = new Float32Array(n * net.recipe.featureDim), l = new Float32Array(n * 10);
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const [ft, lt] = tf.tidy(() => {
      const xb = toNetworkInput(x.slice([i, 0, 0, 0], [m, -1, -1, -1]), [net.side, net.side, net.inChannels]);
      const o = net.forward(xb);
      return [o.features, o.logits];
    });
    f.set(ft.dataSync(), i * net.recipe.featureDim);
    l.set(lt.dataSync(), i * 10);
    tf.dispose([ft, lt]);
  }
  return { features: f, logits: l };
}

function softmax64(logits: Float32Array, n: number, k: number): Float64Array {
  const p = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) { p[i * k + j] = Math.exp(logits[i * k + j] - m); s += p[i * k + j]; }
    for (let j = 0; j < k; j++) p[i * k + j] /= s;
  }
  return p;
}

function lenetFeatureNet(net: Lenet, testAccuracy: number): FeatureNet {
  return {
    name: `${familyOf(net.recipe)}-${net.recipe.dataset}`,
    featureDim: net.recipe.featureDim,
    classes: 10,
    inputShape: [net.side, net.side, net.inChannels],
    testAccuracy,
    features(x, batch = 256) {
      const { features, logits } = batchedForward(net, x, batch);
      const n = x.shape[0];
      return { features: matrix(n, net.recipe.featureDim, features), probs: softmax64(logits, n, 10) };
    },
    dispose: () => net.params.dispose(),
  };
}

export interface LenetCacheEntry {
  name: string;
  recipe: LenetRecipe;
  recipeHash: string;
  testAccuracy: number;
  testImages: number;
  trainImages: number;
  inputShape: [number, number, number];
  seconds: number;
  createdAt: string;
}

/** Trains a LeNet with its recipe on the dataset's train split; returns it with its test accuracy. */
export function trainLenet(recipe: LenetRecipe, log = true): { net: Lenet; entry: Omit<LenetCacheEntry, 'name' | 'recipeHash' | 'createdAt'> } {
  const train = loadDataset({ name: recipe.dataset, split: 'train' });
  const test = loadDataset({ name: recipe.dataset, split: 'test' });
  if (!train.labels || !test.labels) throw new Error(`${recipe.dataset}: a feature network needs class labels`);
  const net = new Lenet(recipe, train.channels, train.height);
  const rng = new Rng(recipe.seed);
  const opt = new AdamW({ lr: recipe.lr });
  const vars = [...net.params.vars.values()];
  const t0 = performance.now();
  const bar = log ? progress(`feature net ${familyOf(recipe)}-${recipe.dataset}`, recipe.steps) : undefined;
  let order = Int32Array.from({ length: train.n }, (_, i) => i), pos = train.n;
  for (let step = 0; step < recipe.steps; step++) {
    if (pos + recipe.batchSize > train.n) {
      for (let i = order.length - 1; i > 0; i--) { const j = rng.int(i + 1); const t = order[i]; order[i] = order[j]; order[j] = t; }
      pos = 0;
    }
    const idx = order.subarray(pos, pos + recipe.batchSize);
    pos += recipe.batchSize;
    const xb = augmentedBatch(train, idx, recipe.shift, rng);
    const yb = tf.oneHot(tf.tensor1d(Array.from(idx, (i) => train.labels![i]), 'int32'), 10);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(yb, net.forward(xb).logits) as tf.Scalar, vars);
    const loss = step % 50 === 0 || step === recipe.steps - 1 ? value.dataSync()[0] : NaN;
    opt.apply(net.params.vars, grads, learningRate({ base: recipe.lr, warmupSteps: 50, totalSteps: recipe.steps, decay: 'cosine', minFactor: 0.01 }, step));
    tf.dispose([value, xb, yb, ...Object.values(grads)]);
    if (!Number.isNaN(loss)) bar?.update(step + 1, { loss });
  }
  bar?.update(recipe.steps);
  bar?.stop();
  opt.dispose();
  const xt = toFloat(test, Int32Array.from({ length: test.n }, (_, i) => i));
  const { logits } = batchedForward(net, xt, 500);
  xt.dispose();
  let correct = 0;
  for (let i = 0; i < test.n; i++) {
    let best = 0;
    for (let j = 1; j < 10; j++) if (logits[i * 10 + j] > logits[i * 10 + best]) best = j;
    if (best === test.labels[i]) correct++;
  }
  return {
    net,
    entry: { recipe, testAccuracy: correct / test.n, testImages: test.n, trainImages: train.n, inputShape: [train.height, train.width, train.channels], seconds: (performance.now() - t0) / 1000 },
  };
}

/**
 * difflab's LeNet for `dataset`: loaded from the cache if a network with the same recipe is there,
 * otherwise trained (about a minute on one core for MNIST) and cached as safetensors + JSON.
 */
/**
 * Feature networks shipped with difflab: the cache entries of recipes trained once and committed
 * (configs/features/), so every install computes metrics with the same network and none has to train it.
 */
export const SHIPPED_FEATURES_DIR = fileURLToPath(new URL('../../configs/features/', import.meta.url));

function loadLenet(base: string, recipe: LenetRecipe): FeatureNet {
  const entry = readJsonFile<LenetCacheEntry>(`${base}.json`, "a feature network's record");
  const net = new Lenet(recipe, entry.inputShape[2], entry.inputShape[0]);
  const { tensors } = readSafetensors(`${base}.safetensors`);
  for (const [name, v] of net.params.vars) {
    const t = tensors[name];
    if (!t || t.shape.join() !== v.shape.join()) throw new Error(`${base}.safetensors: tensor ${name} missing or of the wrong shape; delete the file to retrain`);
    const val = tf.tensor(t.data as Float32Array, v.shape);
    v.assign(val);
    val.dispose();
  }
  return lenetFeatureNet(net, entry.testAccuracy);
}

/**
 * The dataset's LeNet: from the cache directory, else the one shipped in configs/features/ (same
 * recipe hash), else trained with its recipe and cached. `recipe` overrides the dataset's recipe
 * (a different recipe has a different hash, so it never takes another recipe's weights).
 */
export function lenetFor(dataset: DatasetName, opts: { cache?: string; log?: boolean; shipped?: boolean; recipe?: LenetRecipe; family?: FeatureFamily } = {}): FeatureNet {
  const fam = opts.recipe ? familyOf(opts.recipe) : opts.family ?? 'lenet';
  const recipe = opts.recipe ?? recipesOf(fam)[dataset];
  if (!recipe) throw new Error(`feature network: no ${fam} recipe for '${dataset}' (recipes exist for ${Object.keys(recipesOf(fam)).join(', ')}); pass your own TF.js model with --features PATH/model.json`);
  const hash = recipeHash(recipe);
  const dir = path.join(opts.cache ?? cacheDir(), 'features');
  const name = `${fam}-${dataset}`, stem = `${name}-${hash}`;
  for (const d of opts.shipped === false ? [dir] : [dir, SHIPPED_FEATURES_DIR]) {
    const base = path.join(d, stem);
    if (fs.existsSync(`${base}.json`) && fs.existsSync(`${base}.safetensors`)) return loadLenet(base, recipe);
  }
  const base = path.join(dir, stem);
  if (opts.log !== false) process.stderr.write(`training the feature network ${name} (recipe ${hash}); it is cached in ${dir}\n`);
  const { net, entry } = trainLenet(recipe, opts.log !== false);
  fs.mkdirSync(dir, { recursive: true });
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [pname, v] of net.params.vars) tensors[pname] = { shape: v.shape, data: v.dataSync() as Float32Array };
  writeSafetensors(`${base}.safetensors`, tensors, { network: name, recipe: hash });
  const full: LenetCacheEntry = { name, recipeHash: hash, createdAt: new Date().toISOString(), ...entry };
  writeFileAtomic(`${base}.json`, JSON.stringify(full, null, 2) + '\n');
  if (opts.log !== false) process.stderr.write(`${name}: test accuracy ${(100 * entry.testAccuracy).toFixed(2)}% on ${entry.testImages} images, trained in ${entry.seconds.toFixed(0)} s\n`);
  return lenetFeatureNet(net, entry.testAccuracy);
}

// ---- a user's TF.js model ----

interface ModelJson {
  format?: string;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Reads a tfjs-converter / model.save() directory (model.json + binary shards) with no network access. */
function readModelArtifacts(file: string): tf.io.ModelArtifacts {
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelJson;
  } catch (e) {
    throw new Error(`${file}: cannot read a TF.js model.json (${(e as Error).message})`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${file}: not a TF.js model.json (expected modelTopology and weightsManifest)`);
  const dir = path.dirname(file);
  const buffers: Buffer[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const f = path.join(dir, p);
      if (!fs.existsSync(f)) throw new Error(`${file}: weight shard ${p} not found next to it`);
      buffers.push(fs.readFileSync(f));
    }
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  return { modelTopology: json.modelTopology, format: json.format, weightSpecs: specs, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer };
}

/**
 * A user's TF.js model (layers or graph format) as a feature network; features come from `layer`
 * (a layer name for layers models, a node name for graph models) or from the model's output.
 * The model receives images in [−1, 1]; wrap it if it expects another range.
 */
export async function loadTfjsFeatureNet(file: string, layer?: string): Promise<FeatureNet> {
  const artifacts = readModelArtifacts(file);
  const handler: tf.io.IOHandler = { load: async () => artifacts };
  const name = `tfjs:${path.basename(path.dirname(path.resolve(file)))}${layer ? `/${layer}` : ''}`;
  if (artifacts.format === 'graph-model') {
    const g = await tf.loadGraphModel(handler);
    const shape = g.inputs[0].shape ?? [];
    if (shape.length !== 4 || shape.slice(1).some((s) => s === null || s < 0)) throw new Error(`${file}: the graph model's input must be [batch, H, W, C] with known H, W, C; got ${JSON.stringify(shape)}`);
    const inputShape = shape.slice(1) as [number, number, number];
    const run = (xb: tf.Tensor4D) => (layer ? g.execute(xb, layer) : g.predict(xb)) as tf.Tensor;
    return wrapModel(name, inputShape, run, () => g.dispose(), file);
  }
  const m = await tf.loadLayersModel(handler);
  const inShape = m.inputs[0].shape;
  if (inShape.length !== 4 || inShape.slice(1).some((s) => s === null)) throw new Error(`${file}: the model's input must be [batch, H, W, C] with known H, W, C; got ${JSON.stringify(inShape)}`);
  let sub: tf.LayersModel = m;
  if (layer) {
    let out;
    try {
      out = m.getLayer(layer).output;
    } catch {
      throw new Error(`--layer ${layer}: no such layer in ${file}; layers: ${m.layers.map((l) => l.name).join(', ')}`);
    }
    sub = tf.model({ inputs: m.inputs, outputs: out as tf.SymbolicTensor });
  }
  return wrapModel(name, inShape.slice(1) as [number, number, number], (xb) => sub.predict(xb) as tf.Tensor, () => m.dispose(), file);
}

function wrapModel(name: string, inputShape: [number, number, number], run: (x: tf.Tensor4D) => tf.Tensor, dispose: () => void, file: string): FeatureNet {
  let dim = -1;
  return {
    name, inputShape,
    get featureDim() { return dim; },
    features(x, batch = 128) {
      const n = x.shape[0], rows: Float32Array[] = [];
      for (let i = 0; i < n; i += batch) {
        const m = Math.min(batch, n - i);
        const f = tf.tidy(() => {
          const out = run(toNetworkInput(x.slice([i, 0, 0, 0], [m, -1, -1, -1]), inputShape));
          return out.reshape([m, -1]);
        });
        if (dim < 0) dim = f.shape[1]!;
        else if (f.shape[1] !== dim) throw new Error(`${file}: feature size changed between batches`);
        rows.push(f.dataSync() as Float32Array);
        f.dispose();
      }
      const data = new Float64Array(n * dim);
      let off = 0;
      for (const r of rows) { data.set(r, off); off += r.length; }
      return { features: matrix(n, dim, data) };
    },
    dispose,
  } as FeatureNet;
}

/** `lenet` or `mlp` (the dataset's own), `lenet-<dataset>`, `mlp-<dataset>`, or a path to a TF.js model.json. */
export async function resolveFeatureNet(spec: string, opts: { dataset?: DatasetName; layer?: string; cache?: string; log?: boolean }): Promise<FeatureNet> {
  if (spec.endsWith('.json') || fs.existsSync(spec)) return loadTfjsFeatureNet(spec, opts.layer);
  if ((FEATURE_FAMILIES as readonly string[]).includes(spec)) {
    if (!opts.dataset) throw new Error(`--features ${spec}: which dataset? name it (${spec}-mnist, ${spec}-fashion-mnist) or use a dataset as --real`);
    return lenetFor(opts.dataset, { ...opts, family: spec as FeatureFamily });
  }
  const m = /^(lenet|mlp)-(.+)$/.exec(spec);
  if (m && m[2] in recipesOf(m[1] as FeatureFamily)) return lenetFor(m[2] as DatasetName, { ...opts, family: m[1] as FeatureFamily });
  const known = FEATURE_FAMILIES.flatMap((f) => Object.keys(recipesOf(f)).map((d) => `${f}-${d}`));
  throw new Error(`--features ${spec}: expected ${FEATURE_FAMILIES.join(', ')}, ${known.join(', ')}, or a path to a TF.js model.json`);
}
