// The sample-quality metrics' own cost at the LeNet features' size: covariance, the symmetric
// eigendecomposition (with and without vectors), plug-in FID, its bootstrap interval and FID∞, on
// Gaussian features (1000 real, n generated, d = 128). Medians over rounds, one process.
import fs from 'node:fs';
import path from 'node:path';
import { fidInterval } from '../src/metrics/bootstrap.js';
import { fid, gaussianStats } from '../src/metrics/fid.js';
import { fidInfinity } from '../src/metrics/fid-infinity.js';
import { covariance, matrix, symmetricEigen, symmetricEigenvalues } from '../src/util/linalg.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Rng } from '../src/util/rng.js';

export async function benchMetrics(o: { d: number; n: number; rounds: number; outDir: string }): Promise<void> {
  const rng = new Rng(1), mk = (rows: number) => matrix(rows, o.d, Array.from({ length: rows * o.d }, () => rng.normal()));
  const real = mk(1000), fake = mk(o.n), sigma = gaussianStats(real).sigma;
  const time = (f: () => void, rounds = o.rounds) => {
    f();
    const t: number[] = [];
    for (let i = 0; i < rounds; i++) { const t0 = performance.now(); f(); t.push(performance.now() - t0); }
    return t.sort((a, b) => a - b)[t.length >> 1];
  };
  const results: Record<string, number> = {
    'covariance 1000 rows ms': time(() => covariance(real)),
    'eigen (values and vectors) ms': time(() => symmetricEigen(sigma, o.d)),
    'eigen (values only) ms': time(() => symmetricEigenvalues(sigma, o.d)),
    'FID ms': time(() => fid(real, fake)),
    'FID + bootstrap interval (100 resamples) ms': time(() => fidInterval(real, fake, { replicates: 100 }), Math.max(1, Math.floor(o.rounds / 5))),
    'FID∞ with its interval ms': time(() => fidInfinity(real, fake), Math.max(1, Math.floor(o.rounds / 5))),
  };
  for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(46)} ${v.toFixed(1)}`);
  fs.mkdirSync(o.outDir, { recursive: true });
  const out = path.join(o.outDir, 'metrics.json');
  writeFileAtomic(out, JSON.stringify({ d: o.d, n: o.n, rounds: o.rounds, medians: results, date: new Date().toISOString() }, null, 2) + '\n');
  console.log(`written ${out}`);
}
