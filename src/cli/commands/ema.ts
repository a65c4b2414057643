// `difflab ema`: post-hoc EMA (EDM2) — reconstruct the weights of power-function EMAs of any length
// from the snapshots a run kept (train.posthocEma), and write them beside the snapshots.
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { MAX_SIGMA_REL, POSTHOC_MAX_ERROR, POSTHOC_WARN_ERROR, reconstructPosthoc, writeReconstruction } from '../../train/posthoc-ema.js';

interface EmaArgs {
  run: string;
  sigmaRel: string;
  step?: number;
  stage: 'diffusion' | 'vae';
  maxFitError: number;
  strict: boolean;
}

export const emaCommand: CommandModule<object, EmaArgs> = {
  command: 'ema',
  builder: (y: Argv) => y
    .option('run', { type: 'string', demandOption: true, describe: 'a training run directory trained with train.posthocEma' })
    .option('sigma-rel', { type: 'string', demandOption: true, describe: `comma-separated EMA lengths σ_rel in (0, ${MAX_SIGMA_REL.toFixed(3)}), e.g. 0.02,0.05,0.1,0.2` })
    .option('step', { type: 'number', describe: 'reconstruct the EMA at this training step (default: the last snapshot\'s)' })
    .option('stage', { choices: ['diffusion', 'vae'] as const, default: 'diffusion' as const, describe: 'the training stage whose snapshots to use' })
    .option('max-fit-error', { type: 'number', default: 100 * POSTHOC_MAX_ERROR, describe: 'refuse a reconstruction whose averaging profile the snapshots fit with more relative L2 error than this (percent)' })
    .option('strict', { type: 'boolean', default: false, describe: `refuse above ${100 * POSTHOC_WARN_ERROR}% profile-fit error, where the default only warns` }) as unknown as Argv<EmaArgs>,
  handler: (a: ArgumentsCamelCase<EmaArgs>) => {
    const values = a.sigmaRel.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    if (!values.length || values.some((v) => !(v > 0 && v < MAX_SIGMA_REL))) throw new Error(`--sigma-rel: expected numbers in (0, ${MAX_SIGMA_REL.toFixed(4)}), got '${a.sigmaRel}'`);
    if (!(a.maxFitError > 0)) throw new Error(`--max-fit-error: expected a positive percentage, got ${a.maxFitError}`);
    const stageDir = path.join(a.run, a.stage);
    const bound = a.strict ? Math.min(POSTHOC_WARN_ERROR, a.maxFitError / 100) : a.maxFitError / 100;
    // Every length is reconstructed (and checked) before any is written: a refused one writes nothing.
    const done = values.map((s) => ({ s, r: reconstructPosthoc(stageDir, s, a.step, bound) }));
    for (const { s, r } of done) {
      const file = writeReconstruction(stageDir, s, r);
      const big = r.coefficients.reduce((m, c) => Math.max(m, Math.abs(c)), 0);
      console.log(`σ_rel ${s} at step ${r.step}: ${r.coefficients.length} snapshot profiles (${r.snapshots} snapshots), profile fit error ${(100 * r.relError).toFixed(2)}% (relative L2), largest |coefficient| ${big.toFixed(2)} → ${file}`);
      if (r.relError > POSTHOC_WARN_ERROR) console.error(`warning: σ_rel ${s}: profile fit error ${(100 * r.relError).toFixed(1)}% is above ${100 * POSTHOC_WARN_ERROR}%: these weights only approximate an EMA of that length (--strict refuses them)`);
    }
    console.log(`sample or evaluate them with --weights ema:<σ_rel>, e.g. difflab sample --checkpoint ${a.run} --weights ema:${values[0]} ...`);
  },
};
