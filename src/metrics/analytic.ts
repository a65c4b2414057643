// Sampler error on the exact Gaussian-mixture backend, where no model error exists: distance to the
// exact probability-flow solution from the same noise, and sliced W₂ to exact samples.
import { analyticBackend } from '../backends/analytic.js';
import { tf } from '../compute/backend.js';
import { getSampler } from '../diffusion/samplers/index.js';
import { isStochastic, parseSamplerSetting, planSampling, sampleLatents, type SamplerSetting } from '../diffusion/sampling.js';
import { gmmSample, type Gmm } from '../models/gmm.js';
import { Rng } from '../util/rng.js';
import { slicedWasserstein2 } from './sliced-wasserstein.js';

/**
 * Per-sample distances to the exact probability-flow solution. The RMS is dominated by the few paths
 * that end in another mixture component than the exact solution (near a decision boundary a small
 * error moves a sample to the other mode), so it converges at the rate of those switches, not at
 * the sampler's order; the median and 90% quantile show the order on the paths that stay put.
 */
export interface PathErrors {
  /** RMS over samples and coordinates (as before) */
  rms: number;
  /** median and 90% quantile of the per-sample Euclidean distance */
  median: number;
  p90: number;
  /** fraction of samples whose most likely component differs from the exact solution's */
  switched: number;
}

/** The component a point most likely came from (the largest posterior weight at σ = 0). */
function componentOf(gmm: Gmm, x: ArrayLike<number>, i: number): number {
  let best = 0, bestLl = -Infinity;
  for (let k = 0; k < gmm.weights.length; k++) {
    let ll = Math.log(gmm.weights[k]);
    for (let j = 0; j < gmm.dim; j++) {
      const v = gmm.variances[k][j], d = x[i * gmm.dim + j] - gmm.means[k][j];
      ll -= 0.5 * (d * d / v + Math.log(v));
    }
    if (ll > bestLl) { bestLl = ll; best = k; }
  }
  return best;
}

export function pathErrors(gmm: Gmm, x: ArrayLike<number>, exact: ArrayLike<number>): PathErrors {
  const n = x.length / gmm.dim, dist = new Float64Array(n);
  let sq = 0, switched = 0;
  for (let i = 0; i < n; i++) {
    let d2 = 0;
    for (let j = 0; j < gmm.dim; j++) d2 += (x[i * gmm.dim + j] - exact[i * gmm.dim + j]) ** 2;
    dist[i] = Math.sqrt(d2);
    sq += d2;
    if (componentOf(gmm, x, i) !== componentOf(gmm, exact, i)) switched++;
  }
  const sorted = Float64Array.from(dist).sort();
  const q = (p: number) => sorted[Math.min(n - 1, Math.floor(p * (n - 1) + 0.5))];
  return { rms: Math.sqrt(sq / x.length), median: q(0.5), p90: q(0.9), switched: switched / n };
}

export interface AnalyticPoint {
  nfe: number;
  /** RMS distance to the exact ODE solution from the same noise; null for stochastic samplers */
  pathRms: number | null;
  /** the per-sample distances' median, 90% quantile and mode switches; null for stochastic samplers */
  path: PathErrors | null;
  sw2: number;
  /** SW₂ between two independent exact sample sets of the same size: the metric's noise floor */
  sw2Floor: number;
  seconds: number;
  n: number;
}

/**
 * One sampler setting on the mixture from standard-normal noise `z` ([n, dim]), on the grid the
 * planner gives it; for deterministic samplers also the RMS distance to the exact probability-flow
 * solution (RK45 at 1e-8) over the same σ range from the same start.
 */
export function runAnalyticSampler(gmm: Gmm, sampler: SamplerSetting | string, steps: number, z: Float32Array, rng: Rng): { x: Float64Array; nfe: number; pathRms: number | null; path: PathErrors | null; seconds: number } {
  const backend = analyticBackend(gmm);
  const setting = typeof sampler === 'string' ? parseSamplerSetting(sampler) : sampler;
  const r = sampleLatents(backend, { setting, steps, z, rng });
  const x = Float64Array.from(r.x.dataSync());
  r.x.dispose();
  let pathRms: number | null = null, path: PathErrors | null = null;
  if (!isStochastic(setting)) {
    const plan = planSampling(backend.sampling, setting, steps);
    const xT = tf.tensor(z.map((v) => v * plan.initScale), [z.length / gmm.dim, gmm.dim]);
    const ref = getSampler('probability-flow').sampler(backend.denoiser, xT, { sigmas: plan.sigmas, rtol: 1e-8, atol: 1e-8 });
    path = pathErrors(gmm, x, ref.x.dataSync());
    pathRms = path.rms;
    tf.dispose([xT, ref.x]);
  }
  return { x, nfe: r.nfe, pathRms, path, seconds: r.seconds };
}

/** Runs one sampler setting on the mixture from seeded noise and measures its error. */
export function analyticPoint(gmm: Gmm, opts: { sampler: SamplerSetting | string; steps: number; n: number; seed: number }): AnalyticPoint {
  const rng = new Rng(opts.seed);
  const z = rng.fork().normals(opts.n * gmm.dim);
  const { x, nfe, pathRms, path, seconds } = runAnalyticSampler(gmm, opts.sampler, opts.steps, z, rng.fork());
  const truth = gmmSample(gmm, opts.n, new Rng(opts.seed + 1000));
  const sw2 = slicedWasserstein2(x, truth, gmm.dim, new Rng(7));
  const sw2Floor = slicedWasserstein2(gmmSample(gmm, opts.n, new Rng(opts.seed + 2000)), truth, gmm.dim, new Rng(7));
  return { nfe, pathRms, path, sw2, sw2Floor, seconds, n: opts.n };
}
