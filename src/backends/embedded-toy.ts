// Low-dimensional data in a high-dimensional space (Li & He 2025, "Back to Basics", their toy): a 2-D
// toy set lifted into D dimensions by a fixed random column-orthonormal map P (D × 2), x = P·u, and a
// small MLP denoiser behind the shared objectives (x0, eps, v, flow, edm). The data lie on a 2-D plane
// of R^D; a network that must output the noise (eps, v, flow) has to represent a full-rank D-dim
// quantity, one that outputs x0 only the plane. Samples are mapped back by Pᵀ and scored by sliced W₂
// against fresh data, and by their distance from the plane.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { PreconditionedDenoiser } from '../diffusion/denoiser.js';
import { noiseLevels } from '../diffusion/noise-levels.js';
import { getObjective, type ObjectiveContext } from '../diffusion/objectives/index.js';
import { sampleLatents, type SamplerSetting } from '../diffusion/sampling.js';
import { discreteSchedule } from '../diffusion/schedules.js';
import type { WeightingSpec } from '../diffusion/weighting.js';
import { sampleToy2d, type Toy2dName } from '../data/toy2d.js';
import { meanStderr } from '../metrics/bits-per-dim.js';
import { slicedWasserstein2 } from '../metrics/sliced-wasserstein.js';
import { dense, ParamStore, registerDense, timestepEmbedding } from '../models/layers.js';
import { latestCheckpoint, loadWeights } from '../train/checkpoint.js';
import { train, type TrainTask } from '../train/trainer.js';
import type { TrainConfigT } from '../train/config.js';
import { Rng } from '../util/rng.js';
import type { DiffusionBackend } from './types.js';

type TrainBlockT = TrainConfigT['diffusion']['train'];

export interface EmbeddedToySpec {
  data: Toy2dName;
  /** ambient dimension D */
  dim: number;
  /** objective name (src/diffusion/objectives) */
  objective: string;
  /** the loss weighting (default: the objective's own) */
  weighting?: WeightingSpec;
  hidden: number;
  /** dense layers, the output layer included */
  layers: number;
  /** training points drawn once from the toy set */
  trainPoints: number;
  train: TrainBlockT;
  seed: number;
}

/** Width of the sinusoidal noise-level embedding concatenated to the MLP's input. */
const EMBED = 64;

/**
 * The embedding: a D × 2 matrix with orthonormal columns (Gram–Schmidt on Gaussian columns), the same
 * for every objective at one D and seed, so that all objectives learn the same data.
 */
export function embeddingMatrix(dim: number, seed: number): Float64Array {
  const rng = new Rng(seed * 7919 + dim), P = new Float64Array(dim * 2);
  for (let c = 0; c < 2; c++) {
    const col = Float64Array.from({ length: dim }, () => rng.normal());
    if (c === 1) {
      let d = 0;
      for (let i = 0; i < dim; i++) d += col[i] * P[i * 2];
      for (let i = 0; i < dim; i++) col[i] -= d * P[i * 2];
    }
    const norm = Math.sqrt(col.reduce((s, v) => s + v * v, 0));
    for (let i = 0; i < dim; i++) P[i * 2 + c] = col[i] / norm;
  }
  return P;
}

/** The toy set scaled to unit variance per coordinate (a fixed constant per set, from 100k points). */
function toyScale(data: Toy2dName): number {
  const u = sampleToy2d(data, 100_000, new Rng(12345));
  let m = 0, s = 0;
  for (const v of u) m += v;
  m /= u.length;
  for (const v of u) s += (v - m) ** 2;
  return 1 / Math.sqrt(s / u.length);
}

/** n toy points (scaled) as [n, 2] and lifted to [n, D] by P. */
export function embeddedPoints(spec: Pick<EmbeddedToySpec, 'data' | 'dim' | 'seed'>, n: number, rng: Rng, P = embeddingMatrix(spec.dim, spec.seed)): { u: Float64Array; x: Float32Array } {
  const k = toyScale(spec.data), u = sampleToy2d(spec.data, n, rng).map((v) => v * k);
  const x = new Float32Array(n * spec.dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < spec.dim; j++) x[i * spec.dim + j] = P[j * 2] * u[2 * i] + P[j * 2 + 1] * u[2 * i + 1];
  return { u, x };
}

/** Pᵀx (back to the plane, [n, 2]) and the RMS distance of the points from the plane. */
export function projectBack(x: ArrayLike<number>, dim: number, P: Float64Array): { u: Float64Array; offPlaneRms: number } {
  const n = x.length / dim, u = new Float64Array(2 * n);
  let off = 0;
  for (let i = 0; i < n; i++) {
    let a = 0, b = 0, sq = 0;
    for (let j = 0; j < dim; j++) { const v = x[i * dim + j]; a += P[j * 2] * v; b += P[j * 2 + 1] * v; sq += v * v; }
    u[2 * i] = a; u[2 * i + 1] = b;
    off += Math.max(0, sq - a * a - b * b);
  }
  return { u, offPlaneRms: Math.sqrt(off / n) };
}

/** A ReLU MLP F([x, emb(c_noise)]) → R^D on inputs shaped [n, 1, 1, D]. */
export class ToyMlp {
  readonly params: ParamStore;

  constructor(readonly dim: number, readonly hidden: number, readonly layers: number, seed: number) {
    if (layers < 2) throw new Error(`toy.layers: expected at least 2 (a hidden and an output layer), got ${layers}`);
    this.params = new ParamStore(new Rng(seed + 29));
    for (let l = 0; l < layers; l++) {
      const cin = l === 0 ? dim + EMBED : hidden, cout = l === layers - 1 ? dim : hidden;
      registerDense(this.params, `mlp.${l}`, cin, cout);
    }
  }

  forward(xIn: tf.Tensor4D, cNoise: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => {
      const n = xIn.shape[0];
      let h = tf.concat([xIn.reshape([n, this.dim]), timestepEmbedding(cNoise, EMBED)], 1) as tf.Tensor2D;
      for (let l = 0; l < this.layers; l++) {
        h = dense(this.params, `mlp.${l}`, h);
        if (l < this.layers - 1) h = tf.relu(h);
      }
      return h.reshape([n, 1, 1, this.dim]) as tf.Tensor4D;
    });
  }

  /** FLOPs of one forward pass per item. */
  flops(): number {
    let f = 0;
    for (let l = 0; l < this.layers; l++) f += 2 * (l === 0 ? this.dim + EMBED : this.hidden) * (l === this.layers - 1 ? this.dim : this.hidden);
    return f;
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** The MLP behind its objective's preconditioning, trained with the objective's default noise levels and the spec's weighting (default: the objective's). */
export class EmbeddedToyModel {
  readonly net: ToyMlp;
  readonly denoiser: PreconditionedDenoiser;
  readonly backend: DiffusionBackend;
  private readonly policy;

  constructor(readonly spec: EmbeddedToySpec) {
    this.net = new ToyMlp(spec.dim, spec.hidden, spec.layers, spec.seed);
    const objective = getObjective(spec.objective);
    const schedule = objective.usesSchedule ? discreteSchedule('linear', { T: 1000 }) : undefined;
    // The data have unit variance per plane coordinate, so σ_data = 1 for the objectives that use it.
    const ctx: ObjectiveContext = { schedule, sigmaData: 1 };
    const net = this.net;
    this.denoiser = new PreconditionedDenoiser((x, c) => net.forward(x, c), objective, ctx);
    const levels = noiseLevels(objective.defaultNoise, objective, ctx);
    this.policy = { levels, weighting: spec.weighting ?? { name: objective.defaultWeighting as WeightingSpec['name'] }, offsetNoise: 0 };
    this.backend = {
      name: 'embedded-toy', dataShape: [1, 1, spec.dim], latentShape: [1, 1, spec.dim],
      encode: (x) => x.clone(), decode: (z) => z.clone(), denoiser: this.denoiser.D,
      sampling: {
        objective: objective.name, sigmaRange: objective.sigmaRange(ctx), nativeGrid: objective.nativeGrid, schedule,
        timeMap: objective.timeMap(ctx), shift: levels.alpha, priorScale: (sigma) => 1 / objective.precond(sigma, ctx).cIn,
      },
    };
  }

  /** Trains (or resumes, or finds finished) into `dir`; the model's weights are then the EMA's. */
  fit(dir: string): { steps: number; seconds: number; finalLoss: number } {
    const t0 = performance.now();
    const { x } = embeddedPoints(this.spec, this.spec.trainPoints, new Rng(this.spec.seed + 1));
    const data = tf.tensor4d(x, [this.spec.trainPoints, 1, 1, this.spec.dim]);
    try {
      const task: TrainTask = {
        params: this.net.params.vars, datasetSize: this.spec.trainPoints,
        loss: (idx, rng, seed) => tf.tidy(() => this.denoiser.loss(tf.gather(data, Array.from(idx)) as tf.Tensor4D, rng, this.policy, { training: true, seed })),
      };
      const b = this.spec.train;
      fs.mkdirSync(dir, { recursive: true });
      const r = train(task, {
        steps: b.steps, batchSize: b.batchSize, seed: this.spec.seed, outDir: dir, resume: true, config: this.spec, label: `toy ${this.spec.objective} D=${this.spec.dim}`,
        lr: { base: b.lr, warmupSteps: b.warmupSteps, totalSteps: b.steps, decay: b.decay, minFactor: b.minLrFactor },
        adam: { weightDecay: b.weightDecay }, clipNorm: b.clipNorm, emaDecay: b.emaDecay, emaWarmup: b.emaWarmup, checkpointEvery: b.checkpointEvery,
      });
      r.ema.dispose();
      loadWeights(latestCheckpoint(dir)!, this.net.params.vars, 'ema');
      return { steps: r.step, seconds: (performance.now() - t0) / 1000, finalLoss: r.lastLoss };
    } finally {
      data.dispose();
    }
  }

  dispose(): void {
    this.net.dispose();
  }
}

export interface EmbeddedToyResult {
  /** SW₂ (plane coordinates, data scaled to unit variance) between Pᵀ·samples and fresh data */
  sw2: number;
  /** 95% bootstrap interval of sw2 (resampling the generated points) */
  low: number;
  high: number;
  /** SW₂ between two fresh data sets of the same size: the metric's floor */
  floor: number;
  /** RMS distance of the samples from the data plane */
  offPlaneRms: number;
  /**
   * mean distance (in the plane) from each sample to the nearest of `reference` fresh data points, with
   * a 95% interval (± 1.96 standard errors) and its floor, the same for fresh data points: it sees a
   * sample set that has the data's spread but not its shape, which SW₂ barely does
   */
  nnDistance: { value: number; low: number; high: number; floor: number };
  nfe: number;
  seconds: number;
  n: number;
  /** the samples mapped back to the plane, [n, 2] */
  plane: Float64Array;
}

/** Samples n points with a sampler setting and scores them. */
export function evaluateEmbeddedToy(model: EmbeddedToyModel, o: { setting: SamplerSetting; steps: number; n: number; seed: number; bootstrap: number }): EmbeddedToyResult {
  const { spec } = model, P = embeddingMatrix(spec.dim, spec.seed);
  const rng = new Rng(o.seed);
  const z = rng.fork().normals(o.n * spec.dim);
  const r = sampleLatents(model.backend, { setting: o.setting, steps: o.steps, z, rng: rng.fork() });
  const x = r.x.dataSync() as Float32Array;
  r.x.dispose();
  const back = projectBack(x, spec.dim, P);
  const truth = embeddedPoints(spec, o.n, new Rng(o.seed + 1000), P).u;
  const sw2 = slicedWasserstein2(back.u, truth, 2, new Rng(7));
  const floor = slicedWasserstein2(embeddedPoints(spec, o.n, new Rng(o.seed + 2000), P).u, truth, 2, new Rng(7));
  // Bootstrap over the generated points (the reference set fixed), percentile interval.
  const br = new Rng(o.seed + 3000), reps: number[] = [], pick = new Float64Array(2 * o.n);
  for (let b = 0; b < o.bootstrap; b++) {
    for (let i = 0; i < o.n; i++) { const k = br.int(o.n); pick[2 * i] = back.u[2 * k]; pick[2 * i + 1] = back.u[2 * k + 1]; }
    reps.push(slicedWasserstein2(pick, truth, 2, new Rng(7)));
  }
  reps.sort((a, b) => a - b);
  const q = (p: number) => reps[Math.min(reps.length - 1, Math.max(0, Math.round(p * (reps.length - 1))))];
  const dense = embeddedPoints(spec, NN_REFERENCE, new Rng(o.seed + 4000), P).u;
  const nn = nearestDistances(back.u, dense), nnFloor = nearestDistances(embeddedPoints(spec, o.n, new Rng(o.seed + 5000), P).u, dense);
  const { mean: m, stderr: se } = meanStderr(nn);
  return {
    sw2, low: Math.min(sw2, q(0.025)), high: Math.max(sw2, q(0.975)), floor, offPlaneRms: back.offPlaneRms, nfe: r.nfe, seconds: r.seconds, n: o.n, plane: back.u,
    nnDistance: { value: m, low: m - 1.96 * se, high: m + 1.96 * se, floor: meanStderr(nnFloor).mean },
  };
}

/** Fresh data points the nearest-neighbour distance is measured to. */
const NN_REFERENCE = 10_000;

/** For each 2-D point of `a`, the distance to its nearest point of `b` (both [n, 2]). */
export function nearestDistances(a: Float64Array, b: Float64Array): Float64Array {
  const n = a.length / 2, m = b.length / 2, out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = a[2 * i], y = a[2 * i + 1];
    let best = Infinity;
    for (let j = 0; j < m; j++) { const dx = x - b[2 * j], dy = y - b[2 * j + 1], d = dx * dx + dy * dy; if (d < best) best = d; }
    out[i] = Math.sqrt(best);
  }
  return out;
}

/** Where a toy model's checkpoints go under a run's experiment directory. */
export function embeddedToyDir(root: string, hash: string, spec: EmbeddedToySpec): string {
  return path.join(root, `${spec.data}-D${spec.dim}-${spec.objective}-${hash}`);
}
