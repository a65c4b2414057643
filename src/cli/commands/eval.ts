// `difflab eval`: sample quality, likelihood and cost of a trained run, at one sampler setting.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadRun } from '../../backends/index.js';
import { drawSamples, evaluateBitsPerDim } from '../../backends/evaluate.js';
import { selectBackend } from '../../compute/backend.js';
import { parseSamplerSetting } from '../../diffusion/sampling.js';
import { SAMPLER_NAMES } from '../../diffusion/samplers/index.js';
import { resolveFeatureNet } from '../../metrics/features.js';
import {
  costValues, imagesOf, isQualityGroup, METRIC_GROUPS, qualityMetrics, realReference, testImages,
  type MetricGroup, type MetricValue,
} from '../../metrics/evaluate.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';
import { progress } from '../../util/progress.js';
import { parseWeights, type WeightsChoice } from '../../train/checkpoint.js';

interface EvalArgs extends ComputeArgs {
  checkpoint: string;
  bootstrap: number;
  metrics: string;
  sampler: string;
  steps: number;
  n: number;
  seed: number;
  features?: string;
  layer?: string;
  realN?: number;
  nllN: number;
  nllTerms: string;
  weights: WeightsChoice;
  guidance?: number;
  guidanceInterval?: number[];
  json: boolean;
}

export function parseMetricList(s: string, flag = '--metrics'): MetricGroup[] {
  const items = s.split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of items) if (!(METRIC_GROUPS as readonly string[]).includes(m)) throw new Error(`${flag}: unknown metric '${m}'; expected a comma-separated list of ${METRIC_GROUPS.join(', ')}`);
  return items as MetricGroup[];
}

export function parseTerms(s: string, flag = '--nll-terms'): 'all' | number {
  if (s === 'all') return 'all';
  const k = Number(s);
  if (!Number.isInteger(k) || k < 1) throw new Error(`${flag}: expected 'all' or a positive integer, got '${s}'`);
  return k;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  builder: (y: Argv) => withCompute(y)
    .option('checkpoint', { type: 'string', demandOption: true, describe: 'run directory written by difflab train' })
    .option('metrics', { type: 'string', default: 'fid,kid,pr,is,nll,cost', describe: `comma-separated: ${METRIC_GROUPS.join(', ')}` })
    .option('sampler', { choices: SAMPLER_NAMES, default: 'ddim', describe: 'sampler for the generated set' })
    .option('steps', { type: 'number', default: 50, describe: 'sampler steps' })
    .option('n', { type: 'number', default: 500, describe: 'number of generated samples' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the samples, KID subsets and likelihood noise' })
    .option('features', { type: 'string', describe: "feature network: lenet (the run's dataset, default), lenet-<dataset>, or a TF.js model.json" })
    .option('layer', { type: 'string', describe: 'with a TF.js model: the layer to take features from' })
    .option('real-n', { type: 'number', describe: 'real test images for the reference statistics (default: the whole test split)' })
    .option('nll-n', { type: 'number', default: 64, describe: 'test images for bits/dim' })
    .option('nll-terms', { type: 'string', default: '50', describe: "bits/dim: 'all' KL terms, or K stratified timesteps (an unbiased estimate)" })
    .option('weights', { type: 'string', default: 'ema', coerce: (v: string) => parseWeights(v), describe: 'ema (default), model (raw weights) or ema:<σ_rel> (post-hoc EMA; see difflab ema)' })
    .option('guidance', { type: 'number', describe: 'class-conditional models: classifier-free guidance scale w (default 1: conditional); samples get balanced classes' })
    .option('guidance-interval', { type: 'number', array: true, describe: 'guide only for σ in [LO, HI]' })
    .option('bootstrap', { type: 'number', default: 100, describe: 'bootstrap resamples behind the FID interval' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<EvalArgs>,
  handler: async (a: ArgumentsCamelCase<EvalArgs>) => {
    const groups = parseMetricList(a.metrics);
    const terms = parseTerms(a.nllTerms);
    await selectBackend(computeOf(a));
    const run = loadRun(a.checkpoint, a.weights);
    const rows: MetricValue[] = [];
    try {
      const quality = groups.filter(isQualityGroup);
      if (quality.length || groups.includes('cost')) {
        const setting = parseSamplerSetting({ name: a.sampler, ...(a.guidance !== undefined ? { guidance: a.guidance } : {}), ...(a.guidanceInterval ? { guidanceInterval: a.guidanceInterval } : {}) }, '--sampler');
        // Long work shows progress: the samples batch by batch, then each later phase by name.
        const bar = progress(`sampling ${a.sampler} ${a.steps} steps`, a.n, 5);
        const { images, labels, cost } = drawSamples(run, { sampler: setting, steps: a.steps, n: a.n, seed: a.seed, onBatch: (done) => bar.update(done) });
        bar.stop();
        if (quality.length) {
          process.stderr.write(`[eval] features of ${a.n} samples and ${a.realN} real test images, then ${quality.join(', ')}\n`);
          const net = await resolveFeatureNet(a.features ?? 'lenet', { dataset: run.config.data.name, layer: a.layer });
          const test = testImages(run.config.data, a.realN, a.seed), real = imagesOf(test);
          const ref = realReference(net, real, quality.includes('class') ? test.labels : undefined);
          real.dispose();
          if (quality.includes('class') && !labels) process.stderr.write(`note: class: the ${run.backend.name} model is unconditional; class agreement needs a class-conditional model\n`);
          rows.push(...qualityMetrics(ref, images, { groups: quality, seed: a.seed, bootstrap: a.bootstrap }, labels));
          if (net.testAccuracy !== undefined) rows.push({ metric: `test_accuracy@${net.name}`, value: net.testAccuracy, n: 0, notes: ['accuracy of the feature network on the test split'] });
          net.dispose();
        }
        if (groups.includes('cost')) rows.push(...costValues(cost, a.n));
        images.dispose();
      }
      const methods = (['nll', 'nll-ode'] as const).filter((m) => groups.includes(m));
      if (methods.length) process.stderr.write(`[eval] bits/dim of ${a.nllN} test images (${methods.join(', ')})\n`);
      for (const { value } of evaluateBitsPerDim(run, methods, { nllN: a.nllN, terms, seed: a.seed })) rows.push(value);
    } finally {
      run.dispose();
    }
    const header = { run: a.checkpoint, backend: run.backend.name, sampler: a.sampler, steps: a.steps, n: a.n, seed: a.seed };
    if (a.json) {
      console.log(JSON.stringify({ ...header, metrics: rows }, null, 2));
      return;
    }
    console.log(`${run.config.name} (${run.backend.name}), ${a.sampler} ${a.steps} steps, ${a.n} samples`);
    for (const r of rows) {
      const v = Number.isInteger(r.value) ? String(r.value) : r.value.toPrecision(5);
      const ci = r.low !== undefined && r.high !== undefined ? ` [${r.low.toPrecision(4)}, ${r.high.toPrecision(4)}] (95%)` : '';
      console.log(`  ${r.metric.padEnd(26)} ${v}${r.std !== undefined ? ` ± ${r.std.toPrecision(3)}` : ''}${ci}${r.unit ? ` ${r.unit}` : ''}${r.n ? `  (n ${r.n})` : ''}`);
      for (const note of r.notes ?? []) console.log(`      ${note}`);
    }
  },
};
