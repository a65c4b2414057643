// Out-of-distribution detection by likelihood: each test image's variational bound on bits/dim for the
// model's own test set and another dataset's (eval.ood), and the AUROC of flagging the other set by
// raw bits/dim, typicality and a complexity-corrected ratio; once per model and seed.
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset, permutation, subset } from '../../data/index.js';
import { meanStderr } from '../../metrics/bits-per-dim.js';
import { imagesOf, testImages } from '../../metrics/evaluate.js';
import { aurocWithInterval, compressedBitsPerDim, oodScores } from '../../metrics/ood.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { oodLikelihood, type OodSet } from '../../plots/charts/ood.js';
import { readNpy, writeNpy } from '../../util/npy.js';
import { Rng } from '../../util/rng.js';
import type { ResolvedExperiment } from '../config.js';
import { safeFileName } from './common.js';
import type { Measurement } from './types.js';

/** Per-image bits/dim of every ood point that kept them (ood/<point>.npy: in-distribution, other, training). */
function oodSets(dir: string, rows: ResultRow[], exp: ResolvedExperiment): OodSet[] {
  const out: OodSet[] = [];
  for (const r of rows.filter((x) => x.metric === 'auroc-raw')) {
    const f = path.join(dir, 'ood', `${safeFileName(r.point)}.npy`);
    if (!fs.existsSync(f)) continue;
    const a = readNpy(f), n = a.shape[0];
    out.push({ backend: r.backend, inName: exp.models[r.backend]?.data.name ?? 'training set', oodName: exp.eval.ood?.name ?? 'other', inDist: Array.from({ length: n }, (_, i) => a.data[3 * i]), ood: Array.from({ length: n }, (_, i) => a.data[3 * i + 1]) });
  }
  return out;
}

export const outOfDistribution: Measurement = {
  kind: 'ood',
  metrics: ['ood'],
  points(exp, backend, slot) {
    if (slot.scope !== 'backend' || !exp.grid!.metrics.includes('ood') || !exp.models[backend]) return [];
    return exp.grid!.seeds.map((seed) => ({ key: `${backend}|ood|-|${seed}`, kind: 'ood' as const, backend, checkpoint: null, ema: null, sampler: null, steps: null, seed }));
  },
  describe: () => 'out-of-distribution bits/dim',
  evaluate(p, ctx, base) {
    const { exp, dir } = ctx;
    const rows: ResultRow[] = [];
    const run = ctx.run(p.backend), data = run.config.data, n = exp.eval.nllN;
    const t1 = performance.now();
    const inDs = testImages(data, n, p.seed + 1);
    const oodDs = testImages({ ...data, name: exp.eval.ood!.name, dir: exp.eval.ood!.dir, limit: undefined }, n, p.seed + 1);
    const train = loadDataset({ ...data, split: 'train' });
    const order = permutation(train.n, new Rng(p.seed + 2));
    // The latent model's decoder σ is fit on 256 held-out training images (as for bits/dim); the
    // typicality score's mean comes from n others.
    const heldOut = () => imagesOf(subset(train, order.slice(0, 256)));
    const trainDs = subset(train, order.slice(256, 256 + n));
    const bpdOf = (ds: typeof inDs) => {
      const x = imagesOf(ds);
      try {
        return run.backend.bitsPerDim(x, { method: 'vlb', terms: exp.eval.nllTerms, seed: p.seed, heldOut }).perImage;
      } finally {
        x.dispose();
      }
    };
    const bpd = { inDist: bpdOf(inDs), ood: bpdOf(oodDs), train: bpdOf(trainDs) };
    const scores = oodScores(bpd, { inDist: compressedBitsPerDim(inDs.pixels, inDs.n), ood: compressedBitsPerDim(oodDs.pixels, oodDs.n) });
    const seconds = (performance.now() - t1) / 1000;
    const common = { ...base, nfe: null, seconds, gflop: null, train_step: run.step, train_gflop: run.trainGflop, n };
    const i = meanStderr(bpd.inDist), o = meanStderr(bpd.ood);
    rows.push({ ...common, metric: 'bpd-in-dist', value: i.mean, std: i.stderr, unit: 'bits/dim', notes: [`${data.name} test images (the training distribution); variational bound per image`] });
    rows.push({ ...common, metric: 'bpd-ood', value: o.mean, std: o.stderr, unit: 'bits/dim', notes: [`${exp.eval.ood!.name} test images (out of distribution), same size and channels`] });
    for (const [name, sc] of Object.entries(scores) as [keyof typeof scores, { inDist: Float64Array; ood: Float64Array }][]) {
      const a = aurocWithInterval(sc.inDist, sc.ood, exp.eval.bootstrap, p.seed);
      rows.push({ ...common, metric: `auroc-${name}`, value: a.value, std: null, ci_low: a.low, ci_high: a.high, notes: [`AUROC of flagging ${exp.eval.ood!.name} among ${data.name} test images by the ${name} score (0.5: chance; below: the other set looks more in-distribution)`] });
    }
    const table = new Float32Array(3 * n);
    for (let k = 0; k < n; k++) { table[3 * k] = bpd.inDist[k]; table[3 * k + 1] = bpd.ood[k]; table[3 * k + 2] = bpd.train[k]; }
    writeNpy(path.join(dir, 'ood', `${safeFileName(p.key)}.npy`), table, [n, 3]);
    return rows;
  },
  charts: [{ name: 'ood-likelihood', byDefault: false, draw: (c) => oodLikelihood(oodSets(c.dir, c.rows, c.exp), c.rows) }],
};
