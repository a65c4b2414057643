// Memorization of a trained model at one sampler setting: its samples' nearest-training-image distances
// against real test images' (ratio with a bootstrap interval) and the share of near-copies, in pixel
// space. Small training sets memorize, and FID rewards it: this is read beside FID.
import { drawSamples } from '../../backends/evaluate.js';
import { loadTrainingData } from '../../backends/training.js';
import { imagesOf, testImages } from '../../metrics/evaluate.js';
import { memorization, nearestTwo, NEAR_COPY_RATIO } from '../../metrics/memorization.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { memorizationChart } from '../../plots/charts/memorization.js';
import { modelBackends } from '../models.js';
import { wanted } from './common.js';
import type { Measurement } from './types.js';

export const memorizationMeasurement: Measurement = {
  kind: 'memorization',
  metrics: ['memorization'],
  points(exp, backend, slot) {
    if (slot.scope !== 'setting' || !wanted(exp, this) || !modelBackends(exp).includes(backend)) return [];
    return [{ key: `${slot.model}|${slot.sampler}|${slot.steps}|${slot.seed}|memorization`, kind: 'memorization', backend, checkpoint: slot.checkpoint, ema: slot.ema, sampler: slot.sampler, steps: slot.steps, seed: slot.seed }];
  },
  describe: (p) => `${p.sampler} ${p.steps} steps, nearest training images`,
  evaluate(p, ctx, base) {
    const { exp } = ctx;
    const run = ctx.run(p.backend, p.checkpoint, p.ema);
    // The images the model was trained on, as it saw them (subset, crop, resize), one row per image.
    const train = ctx.shared(`training images ${JSON.stringify(run.config.data)}`, () => {
      const t = loadTrainingData(run.config);
      try { return t.x.dataSync() as Float32Array; } finally { t.x.dispose(); }
    });
    // The same samples as the sample-quality point of this setting (sample i draws from (seed, i)).
    const { images, cost } = drawSamples(run, { sampler: ctx.settings.get(p.sampler!)!, steps: p.steps!, n: exp.eval.n, seed: p.seed, batchSize: exp.eval.batchSize });
    const real = imagesOf(testImages(run.config.data, exp.eval.n, p.seed + 1));
    const d = images.shape[1] * images.shape[2] * images.shape[3];
    const gen = nearestTwo(images.dataSync() as Float32Array, train, d), test = nearestTwo(real.dataSync() as Float32Array, train, d);
    images.dispose();
    real.dispose();
    const m = memorization(gen, test, { replicates: exp.eval.bootstrap, seed: p.seed });
    const common = { ...base, train_step: run.step, train_gflop: run.trainGflop, nfe: cost.nfe, seconds: cost.secondsPerSample, gflop: cost.gflopPerSample };
    const rows: ResultRow[] = [
      { ...common, metric: 'nn-train-ratio', value: m.ratio.value, std: null, ci_low: m.ratio.low, ci_high: m.ratio.high, n: m.n, unit: 'ratio', notes: [`mean pixel-space distance from each sample to its nearest of ${train.length / d} training images ÷ the same for ${m.nReal} real test images; 1: as far as fresh data, below 1: closer to the training set (memorization); 95% bootstrap interval over both sets`] },
      { ...common, metric: 'near-copies', value: m.nearCopies.value, std: null, ci_low: m.nearCopies.low, ci_high: m.nearCopies.high, n: m.n, unit: 'share', notes: [`samples whose nearest training image is under ${NEAR_COPY_RATIO.toFixed(3)} × the distance to the second nearest; 95% Wilson interval`] },
      { ...common, metric: 'near-copies-floor', value: m.nearCopiesReal.value, std: null, ci_low: m.nearCopiesReal.low, ci_high: m.nearCopiesReal.high, n: m.nReal, unit: 'share', notes: ['the same share among real test images: what a model that does not copy shows'] },
    ];
    return rows;
  },
  charts: [{ name: 'memorization', byDefault: true, draw: (c) => memorizationChart(c.rows) }],
};
