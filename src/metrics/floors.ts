// The floor of each sample-quality metric: real training images scored against the same real test
// reference as generated ones, at the same n. No model can be expected to score better than real
// data of the same size, so a model's FID is read against this number, not against 0.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset, permutation, subset, toFloat, type DatasetSpec } from '../data/index.js';
import { readJsonFile, writeFileAtomic } from '../util/fs.js';
import { Rng } from '../util/rng.js';
import { qualityFromFeatures, type MetricValue, type QualityOptions, type RealReference } from './evaluate.js';
import { cacheDir } from './features.js';

export interface QualityFloor {
  dataset: string;
  /** the feature network's name */
  net: string;
  /** real training images scored, the generated sets' size */
  n: number;
  /** real test images in the reference */
  realN: number;
  seed: number;
  values: MetricValue[];
}

/**
 * FID/KID/precision/recall/density/coverage (and class agreement, with their true labels) of `n` real training images (a seeded sample, prepared
 * as the model's data are) against the reference, with the same intervals as a grid point; cached
 * per (dataset and transforms, feature network, n, reference size, seed, metric settings).
 */
export function qualityFloor(ref: RealReference, data: DatasetSpec, n: number, opts: QualityOptions, log: (l: string) => void = () => {}): QualityFloor {
  const spec = { ...data, split: 'train' as const };
  const key = { data: spec, net: ref.net.name, n, realN: ref.n, seed: opts.seed, groups: [...opts.groups].sort(), kidSubsets: opts.kidSubsets, kidSubsetSize: opts.kidSubsetSize, bootstrap: opts.bootstrap, labels: !!ref.labels, v: 2 };
  const hash = crypto.createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 12);
  const file = path.join(cacheDir(), 'floors', `${data.name}-${ref.net.name}-n${n}-s${opts.seed}-${hash}.json`);
  if (fs.existsSync(file)) return readJsonFile<QualityFloor>(file, 'a cached metric floor');
  const t0 = performance.now();
  const ds = loadDataset(spec);
  if (ds.n < n) throw new Error(`metric floor: the ${data.name} training split has ${ds.n} images, fewer than the ${n} generated per point`);
  const picked = subset(ds, permutation(ds.n, new Rng(opts.seed + 7)).slice(0, n));
  const x = toFloat(picked, Int32Array.from({ length: n }, (_, i) => i));
  const f = ref.net.features(x);
  x.dispose();
  // Real images with their true labels: the class metrics' floor is the network's own accuracy on real data.
  const values = qualityFromFeatures(ref, { ...f, labels: picked.labels }, opts).map((v) => ({ ...v, notes: [`floor: ${n} real training images against the ${ref.n}-image test reference`, ...(v.notes ?? [])] }));
  const floor: QualityFloor = { dataset: data.name, net: ref.net.name, n, realN: ref.n, seed: opts.seed, values };
  writeFileAtomic(file, JSON.stringify(floor, null, 2) + '\n');
  log(`[floor] ${data.name}, ${ref.net.name}, n = ${n}: ${values.map((v) => `${v.metric} ${v.value.toPrecision(3)}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s; cached in ${file})`);
  return floor;
}
