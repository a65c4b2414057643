// A latent model's autoencoder on held-out test images: rFID against the feature network's reference
// (its floor: the same images unreconstructed) and PSNR, once per model and seed.
import { tf } from '../../compute/backend.js';
import { imagesOf, qualityFromFeatures, testImages } from '../../metrics/evaluate.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { autoencoderQuality } from '../../plots/charts/autoencoders.js';
import type { Measurement } from './types.js';

export const reconstruction: Measurement = {
  kind: 'recon',
  metrics: ['recon'],
  // The autoencoder does not change with the diffusion checkpoints: one point per model and seed.
  points(exp, backend, slot) {
    if (slot.scope !== 'backend' || !exp.grid!.metrics.includes('recon') || exp.models[backend]?.backend !== 'latent') return [];
    return exp.grid!.seeds.map((seed) => ({ key: `${backend}|recon|-|${seed}`, kind: 'recon' as const, backend, checkpoint: null, ema: null, sampler: null, steps: null, seed }));
  },
  describe: () => 'autoencoder reconstructions',
  needs: () => ['references'],
  evaluate(p, ctx, base) {
    const { exp } = ctx;
    const rows: ResultRow[] = [];
    const run = ctx.run(p.backend);
    const test = testImages(run.config.data, exp.eval.n, p.seed + 1), x = imagesOf(test);
    const t1 = performance.now();
    const xr = tf.tidy(() => run.backend.decode(run.backend.encode(x)).clipByValue(-1, 1) as tf.Tensor4D);
    const seconds = (performance.now() - t1) / 1000;
    // PSNR on the [−1, 1] pixel range (peak-to-peak 2), over all test pixels.
    const mse = tf.tidy(() => xr.sub(x).square().mean().dataSync()[0]);
    const common = { ...base, nfe: null, seconds, gflop: null, train_step: run.step, train_gflop: run.trainGflop };
    const q = { groups: ['fid' as const], seed: p.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap };
    // rFID: reconstructions against the reference; its floor: the same test images as they are.
    for (const ref of ctx.references(run.config.data)) for (const [suffix, imgs] of [['', xr], ['-floor', x]] as const) {
      for (const v of qualityFromFeatures(ref, ref.net.features(imgs), q)) {
        const [fam, net] = v.metric.split('@');
        rows.push({ ...common, metric: `r${fam}${suffix}@${net}`, value: v.value, std: v.std ?? null, ci_low: v.low ?? null, ci_high: v.high ?? null, n: v.n, unit: v.unit, notes: [...(v.notes ?? []), suffix ? 'the same test images unreconstructed: the floor of rFID at this n' : 'reconstructions of held-out test images (encoder mean, decoder)'] });
      }
    }
    rows.push({ ...common, metric: 'psnr', value: 10 * Math.log10(4 / mse), std: null, n: test.n, unit: 'dB', notes: ['on the [−1, 1] pixel range (peak 2), mean squared error over all test pixels'] });
    tf.dispose([x, xr]);
    return rows;
  },
  charts: [{ name: 'autoencoders', byDefault: false, draw: (c) => autoencoderQuality(c.allRows) }],
};
