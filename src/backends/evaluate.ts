// A loaded run's side of evaluation: drawing samples with their cost, and the test images' bits/dim.
import type { tf } from '../compute/backend.js';
import { loadDataset, permutation, subset } from '../data/index.js';
import { sampleImages, type SamplerSetting } from '../diffusion/sampling.js';
import { bpdValue, imagesOf, testImages, type MetricValue, type SampleCost } from '../metrics/evaluate.js';
import type { BpdResult } from '../metrics/bits-per-dim.js';
import { Rng } from '../util/rng.js';
import type { LoadedRun } from './types.js';

export function sampleCost(run: LoadedRun, nfe: number, seconds: number, n: number): SampleCost {
  const { denoiserGflop, decoderGflop } = run.backend.cost();
  return { nfe, secondsPerSample: seconds / n, gflopPerSample: denoiserGflop * nfe + decoderGflop, denoiserGflop, decoderGflop };
}

/**
 * bits/dim of `nllN` test images for each requested method ('nll' = variational bound, 'nll-ode'),
 * loading the test images once and, for a latent run, 256 held-out training images to fit its
 * decoder σ on.
 */
export function evaluateBitsPerDim(run: LoadedRun, methods: ('nll' | 'nll-ode')[], opts: { nllN: number; terms: 'all' | number; seed: number }): { value: MetricValue; result: BpdResult }[] {
  if (!methods.length) return [];
  const test = imagesOf(testImages(run.config.data, opts.nllN, opts.seed + 1));
  // Loaded only by backends that fit something on held-out images (latent: its decoder σ).
  const heldOut = () => {
    const train = loadDataset({ ...run.config.data, split: 'train' });
    return imagesOf(subset(train, permutation(train.n, new Rng(opts.seed + 2)).slice(0, 256)));
  };
  try {
    return methods.map((m) => {
      const result = run.backend.bitsPerDim(test, { method: m === 'nll' ? 'vlb' : 'ode', terms: opts.terms, seed: opts.seed, heldOut });
      return { value: bpdValue(result, m === 'nll' ? 'bits_per_dim' : 'bits_per_dim_ode'), result };
    });
  } finally {
    test.dispose();
  }
}

export interface SamplingSetting {
  sampler: SamplerSetting;
  steps: number;
  n: number;
  seed: number;
  /** samples per sampler call (changes no sample) */
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Draws samples for one setting and measures their cost. The caller disposes `images`. */
export function drawSamples(run: LoadedRun, s: SamplingSetting): { images: tf.Tensor4D; labels?: Int32Array; cost: SampleCost } {
  const r = sampleImages(run.backend, { setting: s.sampler, steps: s.steps, n: s.n, seed: s.seed, batchSize: s.batchSize, onBatch: s.onBatch });
  return { images: r.images, labels: r.labels, cost: sampleCost(run, r.nfe, r.seconds, s.n) };
}


/**
 * Wall-clock seconds per sample of one setting, as the median of `rounds` timed draws of `count`
 * samples (after the caller's own draw, so kernels are compiled and memory is warm): one draw of a
 * grid point is a single measurement, easily doubled by another process on the same cores.
 */
export function timeSampling(run: LoadedRun, s: Omit<SamplingSetting, 'n'>, o: { count?: number; rounds?: number } = {}): { secondsPerSample: number; count: number; rounds: number } {
  const count = o.count ?? 16, rounds = o.rounds ?? 3;
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = sampleImages(run.backend, { setting: s.sampler, steps: s.steps, n: count, seed: s.seed, batchSize: count });
    t.images.dispose();
    times.push(t.seconds / count);
  }
  times.sort((a, b) => a - b);
  return { secondsPerSample: times[Math.floor(rounds / 2)], count, rounds };
}
