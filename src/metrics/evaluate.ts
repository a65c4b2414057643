// Scoring samples: FID/KID/PR/density-coverage/classifier score on a feature network against the
// real test images, bits/dim and sampling-cost values as results store them.
import { tf } from '../compute/backend.js';
import { loadDataset, permutation, subset, toFloat, type DatasetSpec, type ImageDataset } from '../data/index.js';
import type { TrainConfigT } from '../train/config.js';
import { Rng } from '../util/rng.js';
import type { BpdResult } from './bits-per-dim.js';
import { classifierScore } from './classifier-score.js';
import type { FeatureNet } from './features.js';
import { fidInterval, percentileInterval, wilsonInterval } from './bootstrap.js';
import { fid } from './fid.js';
import { fidInfinity, FID_INF_MIN_RATIO } from './fid-infinity.js';
import { kid } from './kid.js';
import { matrix, type Matrix } from '../util/linalg.js';
import { prdc } from './prdc.js';

export const METRIC_GROUPS = ['fid', 'kid', 'pr', 'is', 'class', 'nll', 'nll-ode', 'cost'] as const;
export type MetricGroup = (typeof METRIC_GROUPS)[number];

/** The metric groups computed on a feature network from generated samples. */
export const QUALITY_GROUPS = ['fid', 'kid', 'pr', 'is', 'class'] as const satisfies readonly MetricGroup[];
export type QualityGroup = (typeof QUALITY_GROUPS)[number];
export const isQualityGroup = (m: string): m is QualityGroup => (QUALITY_GROUPS as readonly string[]).includes(m);

/** One number of one evaluation, as results files store it. */
export interface MetricValue {
  metric: string;
  value: number;
  std?: number;
  /** 95% bootstrap interval (FID: samples resampled; KID: subset estimates resampled) */
  low?: number;
  high?: number;
  n: number;
  unit?: string;
  notes?: string[];
  /** FID∞: tr Σ of the real features */
  referenceVariance?: number;
}

export interface SampleCost {
  nfe: number;
  secondsPerSample: number;
  /** denoiser forward FLOPs × NFE (+ the VAE decoder for latent models), per sample */
  gflopPerSample: number;
  denoiserGflop: number;
  decoderGflop: number;
}

/** The run's test images, prepared exactly as its training images were (crop/pad/resize). */
export function testImages(data: TrainConfigT['data'], limit?: number, seed = 0): ImageDataset {
  const spec: DatasetSpec = { ...data, split: 'test' };
  let ds = loadDataset(spec);
  if (limit && limit < ds.n) ds = subset(ds, permutation(ds.n, new Rng(seed)).slice(0, limit));
  return ds;
}

export function imagesOf(ds: ImageDataset): tf.Tensor4D {
  return toFloat(ds, Int32Array.from({ length: ds.n }, (_, i) => i));
}

/** Features of the real reference set, computed once per evaluation session. */
export interface RealReference {
  net: FeatureNet;
  features: Matrix;
  n: number;
  /** class labels of the real images (per-class FID) */
  labels?: Int32Array;
}

export function realReference(net: FeatureNet, images: tf.Tensor4D, labels?: Int32Array): RealReference {
  return { net, features: net.features(images).features, n: images.shape[0], labels };
}

/** The rows of m whose label is c. */
function rowsOfClass(m: Matrix, labels: Int32Array, c: number): Matrix {
  const idx: number[] = [];
  labels.forEach((l, i) => { if (l === c) idx.push(i); });
  return pickRows(m, idx);
}

/** The rows of m at the given indices, in that order. */
function pickRows(m: Matrix, idx: ArrayLike<number>): Matrix {
  const out = matrix(idx.length, m.cols);
  Array.from(idx).forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}

/**
 * Class agreement of class-conditional samples: the feature network's accuracy on the requested
 * labels (95% Wilson interval), and FID computed within each class against the real images of that
 * class, averaged over classes.
 */
export function classAgreement(ref: RealReference, f: { features: Matrix; probs?: Float64Array; labels?: Int32Array }): MetricValue[] {
  const net = ref.net.name, K = ref.net.classes, n = f.features.rows;
  if (!f.labels || !f.probs || !K) return [];
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (f.probs[i * K + k] > f.probs[i * K + best]) best = k;
    if (best === f.labels[i]) right++;
  }
  const ci = wilsonInterval(right, n);
  const out: MetricValue[] = [{ metric: `class_acc@${net}`, value: right / n, low: ci.low, high: ci.high, n, notes: [`${net}'s prediction equals the requested class for ${right} of ${n} samples; 95% Wilson interval${ref.net.testAccuracy ? `; the network's own test accuracy is ${(100 * ref.net.testAccuracy).toFixed(1)}%` : ''}`] }];
  if (ref.labels) {
    const per: number[] = [], sizes: string[] = [];
    const classes = [...new Set(f.labels)].sort((a, b) => a - b);
    for (const c of classes) {
      const real = rowsOfClass(ref.features, ref.labels, c), fake = rowsOfClass(f.features, f.labels, c);
      if (real.rows < 2 || fake.rows < 2) continue;
      per.push(fid(real, fake).value);
      sizes.push(`${c}: ${fake.rows}/${real.rows}`);
    }
    if (per.length) {
      out.push({
        metric: `fid_class@${net}`, value: per.reduce((a, b) => a + b, 0) / per.length, n,
        notes: [`mean over ${per.length} classes of the FID between a class's samples and its real images (generated/real per class: ${sizes.join(', ')}); at these sizes each per-class FID is biased upward, so compare values at equal n only`],
      });
    }
  }
  return out;
}

/** Rows of `m` picked by a seeded permutation, for metrics that want equal set sizes. */
export function rowsSubset(m: Matrix, k: number, seed: number): Matrix {
  if (k >= m.rows) return m;
  return pickRows(m, permutation(m.rows, new Rng(seed)).slice(0, k));
}

export interface QualityOptions {
  groups: MetricGroup[];
  seed: number;
  kidSubsets?: number;
  kidSubsetSize?: number;
  /** bootstrap replicates of the FID interval (default 100) */
  bootstrap?: number;
}

/** Sample-quality metrics of generated images against the real reference. */
export function qualityMetrics(ref: RealReference, fake: tf.Tensor4D, opts: QualityOptions, labels?: Int32Array): MetricValue[] {
  return qualityFromFeatures(ref, { ...ref.net.features(fake), labels }, opts);
}

/** The same metrics from the generated set's features (and class probabilities). */
export function qualityFromFeatures(ref: RealReference, f: { features: Matrix; probs?: Float64Array; labels?: Int32Array }, opts: QualityOptions): MetricValue[] {
  const out: MetricValue[] = [];
  const net = ref.net.name;
  const n = f.features.rows;
  if (opts.groups.includes('fid')) {
    const r = fid(ref.features, f.features);
    const ci = fidInterval(ref.features, f.features, { replicates: opts.bootstrap ?? 100, seed: opts.seed, value: r.value });
    out.push({
      metric: `fid@${net}`, value: r.value, low: ci.low, high: ci.high, n,
      notes: [`${ref.n} real / ${n} generated images, ${r.dim}-d features`, `plug-in FID at this n (biased upward by O(tr Σ / n): compare it with the floor and other models at the same n); 95% interval from ${ci.replicates} bootstrap resamples of both sets, of FID at this n`, ...r.warnings],
    });
    // FID∞ where both sets are large enough for its line to hold (tested down to 4·d rows).
    const need = FID_INF_MIN_RATIO * r.dim;
    if (Math.min(ref.n, n) >= need) {
      const inf = fidInfinity(ref.features, f.features, { seed: opts.seed });
      out.push({
        metric: `fid_inf@${net}`, value: inf.value, std: inf.se, low: inf.low, high: inf.high, n, referenceVariance: inf.referenceVariance,
        notes: [`FID∞ (Chong & Forsyth 2020): plug-in FID on random subsets of ${inf.fits.map((x) => x.fraction.toFixed(2)).join('/')} of both sets, the line in 1/n read at n → ∞ (FID at this n ${r.value.toPrecision(4)}, so the n-bias removed is ${(r.value - inf.value).toPrecision(3)}); an estimate of the population FID, comparable across n; 95% interval from the delta method plus the line's own scatter`],
      });
    } else out[out.length - 1].notes!.push(`no FID∞: it needs ≥ ${need} real and generated images for ${r.dim}-d features (${FID_INF_MIN_RATIO}·d), this point has ${Math.min(ref.n, n)}`);
  }
  if (opts.groups.includes('kid')) {
    const r = kid(ref.features, f.features, { subsets: opts.kidSubsets, subsetSize: opts.kidSubsetSize, seed: opts.seed });
    // The subsets overlap (at n = 256 each holds the whole generated set), so the interval of their
    // mean would be far too narrow: the 2.5–97.5% range of the subset estimates themselves is used.
    const ci = percentileInterval(Array.from(r.values), 0.95);
    out.push({ metric: `kid@${net}`, value: r.mean, std: r.std, low: ci.low, high: ci.high, n, unit: 'MMD²', notes: [`unbiased MMD² (a U-statistic: its expectation does not depend on n, unlike FID's plug-in estimate); ${r.subsets} subsets of ${r.subsetSize}; std over subsets; 95% range of the subset estimates`, ...r.warnings] });
  }
  if (opts.groups.includes('pr')) {
    // Precision/recall are defined for equal set sizes: the real set is subsampled to n.
    const real = rowsSubset(ref.features, n, opts.seed);
    const r = prdc(real, f.features);
    const note = [`${real.rows} real / ${n} generated, k = ${r.kPr} (P/R), ${r.kDc} (D/C)`];
    out.push({ metric: `precision@${net}`, value: r.precision, n, notes: note });
    out.push({ metric: `recall@${net}`, value: r.recall, n, notes: note });
    out.push({ metric: `density@${net}`, value: r.density, n, notes: note });
    out.push({ metric: `coverage@${net}`, value: r.coverage, n, notes: note });
  }
  if (opts.groups.includes('is') && f.probs && ref.net.classes) {
    const r = classifierScore(f.probs, n, ref.net.classes, 10, opts.seed);
    out.push({ metric: `cs@${net}`, value: r.mean, std: r.std, n, notes: [`classifier score (Inception-Score style) over ${r.splits} splits; maximum ${ref.net.classes}`] });
  }
  if (opts.groups.includes('class')) out.push(...classAgreement(ref, f));
  return out;
}

export function bpdValue(r: BpdResult, metric: string): MetricValue {
  return { metric, value: r.bitsPerDim, std: r.stderr, n: r.n, unit: 'bits/dim', notes: [`= ${(r.bitsPerDim * r.dims * Math.LN2).toFixed(2)} nats per image (D = ${r.dims})`, ...r.notes, `parts (bits/dim): ${Object.entries(r.parts).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`, `${r.nfe} network evaluations, ${r.seconds.toFixed(1)} s`] };
}

export function costValues(c: SampleCost, n: number, timing?: string): MetricValue[] {
  return [
    { metric: 'nfe', value: c.nfe, n },
    { metric: 'seconds_per_sample', value: c.secondsPerSample, n, unit: 's', ...(timing ? { notes: [timing] } : {}) },
    { metric: 'gflop_per_sample', value: c.gflopPerSample, n, unit: 'GFLOP', notes: [`denoiser ${c.denoiserGflop.toFixed(4)} GFLOP × ${c.nfe} NFE${c.decoderGflop ? ` + VAE decoder ${c.decoderGflop.toFixed(4)} GFLOP` : ''}`] },
  ];
}
