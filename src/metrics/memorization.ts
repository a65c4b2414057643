// Memorization: how close generated samples come to the training set, read against how close fresh
// real images come to it. Nearest-neighbour distances in pixel space (Euclidean), the ratio of mean
// nearest distances (generated ÷ real test) with a bootstrap interval, and the share of near-copies:
// samples whose nearest training image is under a third of the distance to the second nearest
// (Yoon et al. 2023; Gu et al. 2023), against the same share of real test images.
import { tf } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import { percentileInterval, wilsonInterval } from './bootstrap.js';

/** Distances from each query row to its nearest and second-nearest reference row. */
export interface NearestTwo { d1: Float64Array; d2: Float64Array }

/**
 * Nearest and second-nearest Euclidean distances from `queries` ([m, d], row-major) to `refs`
 * ([n, d]), by ‖q‖² + ‖r‖² − 2 q·r on blocks of references (one matmul per block).
 */
export function nearestTwo(queries: Float32Array, refs: Float32Array, d: number, block = 8192): NearestTwo {
  const m = queries.length / d, n = refs.length / d;
  if (!Number.isInteger(m) || !Number.isInteger(n) || n < 2) throw new Error(`nearestTwo: needs whole rows of ${d} values and at least 2 references, got ${queries.length} and ${refs.length} values`);
  const best1 = new Float64Array(m).fill(Infinity), best2 = new Float64Array(m).fill(Infinity);
  const q = tf.tensor2d(queries, [m, d]);
  const qq = tf.tidy(() => q.square().sum(1, true));
  try {
    for (let s = 0; s < n; s += block) {
      const k = Math.min(block, n - s);
      const sq = tf.tidy(() => {
        const r = tf.tensor2d(refs.subarray(s * d, (s + k) * d), [k, d]);
        // Squared distances [m, k]; the smallest two per row by top-k of their negatives.
        const dist = qq.add(r.square().sum(1).reshape([1, k])).sub(q.matMul(r, false, true).mul(2));
        return tf.topk(dist.neg(), Math.min(2, k)).values;
      });
      const v = sq.dataSync() as Float32Array, kk = sq.shape[1]!;
      sq.dispose();
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < kk; j++) {
          const x = Math.max(0, -v[i * kk + j]);
          if (x < best1[i]) { best2[i] = best1[i]; best1[i] = x; } else if (x < best2[i]) best2[i] = x;
        }
      }
    }
  } finally {
    tf.dispose([q, qq]);
  }
  return { d1: best1.map(Math.sqrt), d2: best2.map(Math.sqrt) };
}

const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;

/** The near-copy threshold on d1/d2. */
export const NEAR_COPY_RATIO = 1 / 3;

export interface MemorizationResult {
  /** mean nearest-training distance of the samples ÷ that of real test images, with its 95% interval */
  ratio: { value: number; low: number; high: number };
  /** share of samples with d1/d2 < 1/3, with its 95% Wilson interval */
  nearCopies: { value: number; low: number; high: number };
  /** the same share among real test images: the floor the samples' share is read against */
  nearCopiesReal: { value: number; low: number; high: number };
  n: number;
  nReal: number;
}

/**
 * The memorization statistics of generated samples against real test images, both measured to the
 * training set; the ratio's interval is a percentile bootstrap resampling both sets (`replicates`).
 */
export function memorization(gen: NearestTwo, real: NearestTwo, opts: { replicates: number; seed: number }): MemorizationResult {
  const n = gen.d1.length, nr = real.d1.length;
  const rng = new Rng(opts.seed);
  const reps = Array.from({ length: opts.replicates }, () => {
    let a = 0, b = 0;
    for (let i = 0; i < n; i++) a += gen.d1[rng.int(n)];
    for (let i = 0; i < nr; i++) b += real.d1[rng.int(nr)];
    return (a / n) / (b / nr);
  });
  const iv = percentileInterval(reps);
  const copies = (t: NearestTwo) => t.d1.reduce((c, d, i) => c + (d < NEAR_COPY_RATIO * t.d2[i] ? 1 : 0), 0);
  const share = (k: number, total: number) => ({ value: k / total, ...wilsonInterval(k, total) });
  return {
    ratio: { value: mean(gen.d1) / mean(real.d1), low: iv.low, high: iv.high },
    nearCopies: share(copies(gen), n), nearCopiesReal: share(copies(real), nr), n, nReal: nr,
  };
}
