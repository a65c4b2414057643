// Sample quality and cost of a trained model: samples at each sampler setting and step count, scored
// on the feature network against the real test images (FID, KID, precision/recall, …), their cost,
// and a grid of the first 64 for the report.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { drawSamples, timeSampling } from '../../backends/evaluate.js';
import { tf } from '../../compute/backend.js';
import { costValues, isQualityGroup, QUALITY_GROUPS, qualityFromFeatures } from '../../metrics/evaluate.js';
import type { ResultRow } from '../../metrics/result-row.js';
import { costFrontier, qualityVsEma, qualityVsGuidance, qualityVsNfe, qualityVsShift, qualityVsTokenDim, qualityVsTrainingCompute, qualityVsTrainingSteps } from '../../plots/charts/quality.js';
import type { TrainConfigT } from '../../train/config.js';
import type { Floors } from '../../plots/vocabulary.js';
import { readJsonFile, writeFileAtomic } from '../../util/fs.js';
import { writeNpy } from '../../util/npy.js';
import { encodeGrid, gridScale } from '../../util/png.js';
import { modelBackends } from '../models.js';
import { featureFile, safeFileName, samplingPoint, wanted } from './common.js';
import type { ChartInput, Measurement } from './types.js';

/**
 * A DiT model's row fields: its objective, patch side, token dimension p²·C and width (none for a
 * UNet). C is the channel count of what the network diffuses (`latentShape`: pixels or latents).
 */
export function ditFields(cfg: TrainConfigT, latentShape: number[]): Pick<ResultRow, 'objective' | 'patch' | 'token_dim' | 'width'> {
  const m = cfg.diffusion.model;
  if (m.arch !== 'dit') return {};
  return { objective: cfg.diffusion.objective.name, patch: m.patchSize, token_dim: m.patchSize ** 2 * latentShape[2], width: m.hiddenSize };
}

/** Each model's kind, resolution and real-data floors (per dataset), for the shift and token-dimension charts. */
function modelInfo(input: ChartInput) {
  const f = path.join(input.dir, 'floors-by-data.json');
  const byData = fs.existsSync(f) ? readJsonFile<Record<string, Floors>>(f, 'the metric floors per dataset') : {};
  // A model block with seeds is drawn under its own name: read the first replica's config.
  const firstReplica = new Map<string, string>();
  for (const [name, r] of Object.entries(input.exp.replicas ?? {})) if (!firstReplica.has(r.model)) firstReplica.set(r.model, name);
  return (b: string) => {
    const m = input.exp.models[b] ?? input.exp.models[firstReplica.get(b) ?? ''];
    return m ? { kind: m.backend, resolution: m.data.resize?.[0] ?? null, floors: byData[JSON.stringify(m.data)] } : undefined;
  };
}

export const sampleQuality: Measurement = {
  kind: 'sample',
  metrics: [...QUALITY_GROUPS, 'cost'],
  points(exp, backend, slot) {
    return slot.scope === 'setting' && wanted(exp, this) && modelBackends(exp).includes(backend) ? [samplingPoint(backend, 'sample', slot)] : [];
  },
  describe: (p) => `${p.sampler} ${p.steps} steps`,
  needs: (exp) => (exp.grid?.metrics.some(isQualityGroup) ? ['references'] : []),
  evaluate(p, ctx, base) {
    const { exp, dir } = ctx, g = exp.grid!;
    const rows: ResultRow[] = [];
    const run = ctx.run(p.backend, p.checkpoint, p.ema);
    const setting = ctx.settings.get(p.sampler!)!;
    // The grid's shift: the setting's, else the model's training shift (recorded when not 1).
    const shift = setting.grid.shift ?? run.backend.sampling.shift;
    Object.assign(base, { train_step: run.step, train_gflop: run.trainGflop, ...(shift !== 1 ? { shift } : {}), ...ditFields(run.config, run.backend.latentShape) });
    const { images, labels, cost } = drawSamples(run, { sampler: setting, steps: p.steps!, n: exp.eval.n, seed: p.seed, batchSize: exp.eval.batchSize });
    // Seconds from three short timed draws (median), not the one scored draw: a single measurement
    // moves with whatever else runs on the cores. Every row of the point carries the same figure.
    const t = g.metrics.includes('cost') ? timeSampling(run, { sampler: setting, steps: p.steps!, seed: p.seed, batchSize: exp.eval.batchSize }) : undefined;
    const common = { ...base, nfe: cost.nfe, seconds: t?.secondsPerSample ?? cost.secondsPerSample, gflop: cost.gflopPerSample };
    if (ctx.quality.length) {
      for (const ref of ctx.references(run.config.data)) {
        const f = ref.net.features(images);
        // The generated set's features in each feature space, kept for paired comparisons (claims, contrasts).
        writeNpy(featureFile(dir, p.key, ref.net.name), Float32Array.from(f.features.data), [f.features.rows, f.features.cols]);
        for (const v of qualityFromFeatures(ref, { ...f, labels }, { groups: ctx.quality, seed: p.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap })) {
          rows.push({ ...common, metric: v.metric, value: v.value, std: v.std ?? null, ci_low: v.low ?? null, ci_high: v.high ?? null, n: v.n, unit: v.unit, notes: v.notes, ...(v.referenceVariance !== undefined ? { reference_variance: v.referenceVariance } : {}) });
        }
      }
    }
    if (t) {
      const shared = Number(process.env.DIFFLAB_JOBS) > 1 ? `; ${process.env.DIFFLAB_JOBS} worker processes shared the machine's ${os.availableParallelism()} core(s) while timing: compare seconds within this run, not across runs` : '';
      const timing = `median of ${t.rounds} timed draws of ${t.count} samples after the scored draw (compiled, warm), one process${shared}`;
      for (const v of costValues({ ...cost, secondsPerSample: t.secondsPerSample }, exp.eval.n, timing)) rows.push({ ...common, metric: v.metric, value: v.value, std: null, n: v.n, unit: v.unit, notes: v.notes, ...(v.referenceVariance !== undefined ? { reference_variance: v.referenceVariance } : {}) });
    }
    // A grid of the first 64 samples for the report.
    const k = Math.min(64, images.shape[0]);
    const first = tf.tidy(() => images.slice([0, 0, 0, 0], [k, -1, -1, -1]));
    const png = encodeGrid(first.dataSync() as Float32Array, k, images.shape[1], images.shape[2], images.shape[3], { scale: gridScale(images.shape[1]) });
    fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
    writeFileAtomic(path.join(dir, 'samples', `${p.backend}${p.checkpoint !== null ? `@${p.checkpoint}` : ''}${p.ema !== null ? `~ema${p.ema}` : ''}_${safeFileName(p.sampler!)}_${p.steps}_s${p.seed}.png`), png);
    tf.dispose([first, images]);
    return rows;
  },
  charts: [
    { name: 'quality-vs-nfe', byDefault: true, draw: (c) => qualityVsNfe(c.rows, c.floors) },
    { name: 'cost-frontier', byDefault: true, draw: (c) => costFrontier(c.rows, c.floors) },
    { name: 'quality-vs-training-compute', byDefault: true, draw: (c) => qualityVsTrainingCompute(c.allRows, c.floors) },
    { name: 'quality-vs-training-steps', byDefault: false, draw: (c) => qualityVsTrainingSteps(c.allRows, c.floors) },
    { name: 'quality-vs-shift', byDefault: false, draw: (c) => qualityVsShift(c.rows, modelInfo(c)) },
    { name: 'quality-vs-token-dim', byDefault: false, draw: (c) => qualityVsTokenDim(c.rows, modelInfo(c)) },
    { name: 'quality-vs-guidance', byDefault: true, draw: (c) => qualityVsGuidance(c.rows, c.floors) },
    { name: 'quality-vs-ema', byDefault: true, draw: (c) => qualityVsEma(c.rows, c.floors) },
  ],
};
