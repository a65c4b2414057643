// `difflab train`: train the stages a config names (VAE and/or diffusion), with checkpoints and resume.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import path from 'node:path';
import { loadRun } from '../../backends/index.js';
import { selectBackend } from '../../compute/backend.js';
import { parseSamplerSetting, sampleImages } from '../../diffusion/sampling.js';
import { loadTrainConfig } from '../../train/config.js';
import { parseWorkers } from '../../train/data-parallel.js';
import { runDir, runTraining, type Stage } from '../../backends/training.js';
import { lossLog } from '../../train/loss-log.js';
import { lossCurves, sampleGrids } from '../../plots/specs.js';
import { svgToPng, toSvg, writeCharts } from '../../plots/render.js';
import { writeFileAtomic } from '../../util/fs.js';
import { encodeGrid, gridScale } from '../../util/png.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';

interface TrainArgs extends ComputeArgs {
  config: string;
  stage: Stage;
  resume: boolean;
  force: boolean;
  out?: string;
  grid: boolean;
  workers: string;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  builder: (y: Argv) => withCompute(y)
    .option('config', { type: 'string', demandOption: true, describe: 'training config file (see configs/train/)' })
    .option('stage', { choices: ['all', 'vae', 'diffusion'] as const, default: 'all' as Stage, describe: 'which stage to run; latent runs train the VAE, then diffusion on its latents' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue from the newest checkpoint of each stage' })
    .option('force', { type: 'boolean', default: false, describe: 'start over in a run directory that has checkpoints (they and the loss log are removed)' })
    .option('out', { type: 'string', describe: 'run directory (default: the config\'s out, or results/train/<name>)' })
    .option('workers', { type: 'string', default: 'auto', describe: 'threads that compute each step together (data-parallel: each takes a slice of the batch); auto = one per core, at most 4 (DIFFLAB_WORKERS overrides). The run is deterministic for a given count' })
    .option('grid', { type: 'boolean', default: true, describe: 'write samples.png after training: 64 samples (ddim, 50 steps) from the raw weights (left) and the EMA weights (right)' }) as unknown as Argv<TrainArgs>,
  handler: async (a: ArgumentsCamelCase<TrainArgs>) => {
    const choice = await selectBackend(computeOf(a));
    const cfg = loadTrainConfig(a.config);
    if (a.out) cfg.out = a.out;
    const dir = runDir(cfg);
    const workers = parseWorkers(a.workers);
    console.log(`training ${cfg.name} (${cfg.backend}; ${cfg.diffusion.objective.name} objective) on ${choice.backend}${workers > 1 ? ` × ${workers} threads` : ''} → ${dir}`);
    for (const r of runTraining(cfg, a.stage, a.resume, a.force, workers)) {
      console.log(`  ${r.stage}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(5)}, ${r.seconds.toFixed(1)} s, checkpoint ${r.checkpoint}`);
    }
    // The loss curve of every stage trained so far.
    const points = lossLog(dir, cfg.name);
    if (points.length) {
      await writeCharts(dir, lossCurves(points));
      console.log(`  loss curve: ${path.join(dir, 'loss.svg')} (.png, .vl.json)`);
    }
    if (a.grid && a.stage !== 'vae') {
      // Raw weights beside the EMA: early in training the EMA still carries the initialisation.
      const sets: Float32Array[] = [];
      let shape: number[] = [], seconds = 0;
      for (const weights of ['model', 'ema'] as const) {
        const run = loadRun(dir, weights);
        try {
          const s = sampleImages(run.backend, { setting: parseSamplerSetting('ddim'), steps: 50, n: 64, seed: cfg.seed });
          sets.push(s.images.dataSync() as Float32Array);
          shape = s.images.shape;
          seconds += s.seconds;
          s.images.dispose();
        } finally {
          run.dispose();
        }
      }
      // Two labelled grids (the halves of one unlabelled picture could be taken for each other).
      const file = path.join(dir, 'samples.png');
      const grids = sets.map((v, k) => {
        const png = Buffer.from(encodeGrid(v, shape[0], shape[1], shape[2], shape[3], { scale: gridScale(shape[1]) }));
        return { label: k === 0 ? 'raw weights (model)' : 'EMA weights', dataUri: `data:image/png;base64,${png.toString('base64')}`, width: 0, height: 0 };
      });
      writeFileAtomic(file, svgToPng(await toSvg(sampleGrids(grids, `ddim, 50 steps, seed ${cfg.seed}: the same noise for both`)[0].spec)));
      console.log(`  samples: ${file} (ddim, 50 steps, same noise; left: raw weights, right: EMA weights; ${seconds.toFixed(1)} s)`);
    }
  },
};
