// Sampler error vs NFE on an exact Gaussian mixture: no model error, only the sampler's.
import path from 'node:path';
import { selectBackend, type BackendRequest } from '../src/compute/backend.js';
import { SAMPLER_NAMES } from '../src/diffusion/samplers/index.js';
import { runAnalyticSampler } from '../src/backends/analytic.js';
import { slicedWasserstein2 } from '../src/metrics/sliced-wasserstein.js';
import { gmmSample, loadGmm } from '../src/models/gmm.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { Rng } from '../src/util/rng.js';

export interface SamplerBenchRow {
  sampler: string;
  steps: number;
  nfe: number;
  /** RMS distance to the exact probability-flow solution from the same noise (deterministic samplers). */
  pathRms: number | null;
  /** median and 90% quantile of the per-sample distance, and the fraction of paths that switched modes */
  pathMedian: number | null;
  pathP90: number | null;
  switched: number | null;
  /** Sliced W2 to exact samples of the mixture. */
  sw2: number;
  seconds: number;
}

export async function benchSamplers(opts: { gmm: string; n: number; steps: number[]; compute: BackendRequest; outDir: string }) {
  await selectBackend(opts.compute);
  const gmm = loadGmm(opts.gmm);
  const truth = gmmSample(gmm, opts.n, new Rng(1000));
  // The floor: SW2 between two independent exact sample sets of this size.
  const floor = slicedWasserstein2(gmmSample(gmm, opts.n, new Rng(1001)), truth, gmm.dim, new Rng(7));
  console.log(`[bench samplers] ${opts.gmm}: n = ${opts.n}; sliced W2 between two exact sample sets (the floor): ${floor.toFixed(4)}`);
  const z = new Rng(1).normals(opts.n * gmm.dim);
  const rows: SamplerBenchRow[] = [];
  for (const name of SAMPLER_NAMES.filter((s) => s !== 'probability-flow')) {
    for (const steps of opts.steps) {
      const { x, nfe, pathRms, path, seconds } = runAnalyticSampler(gmm, name, steps, z, new Rng(2));
      const sw2 = slicedWasserstein2(x, truth, gmm.dim, new Rng(7));
      rows.push({ sampler: name, steps, nfe, pathRms, pathMedian: path?.median ?? null, pathP90: path?.p90 ?? null, switched: path?.switched ?? null, sw2, seconds });
      console.log(`[bench samplers] ${name} ${steps} steps: NFE ${nfe}, path RMS ${pathRms?.toExponential(2) ?? '—'}, median ${path?.median.toExponential(2) ?? '—'}, SW2 ${sw2.toFixed(4)}`);
    }
  }
  const header = ['sampler', 'steps', 'NFE', 'path RMS', 'median', 'p90', 'switched', 'SW2'];
  const e = (v: number | null) => (v === null ? '—' : v.toExponential(2));
  const body = rows.map((r) => [r.sampler, String(r.steps), String(r.nfe), r.pathRms === null ? '— (stochastic)' : e(r.pathRms), e(r.pathMedian), e(r.pathP90), r.switched === null ? '—' : `${(100 * r.switched).toFixed(1)}%`, r.sw2.toFixed(4)]);
  const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  console.log(header.map((h, i) => h.padEnd(w[i])).join('  '));
  for (const b of body) console.log(b.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
  console.log(`SW2 floor (two exact sample sets of n = ${opts.n}): ${floor.toFixed(4)}`);
  const file = path.join(opts.outDir, `samplers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileAtomic(file, JSON.stringify({ gmm: opts.gmm, n: opts.n, floor, rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
