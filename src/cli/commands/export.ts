// `difflab export`: a run's weights for PyTorch (bench/torch/difflab_torch.py defines the modules).
import fs from 'node:fs';
import path from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { loadRun } from '../../backends/index.js';
import type { DiffusionModel } from '../../backends/diffusion-model.js';
import { DiT } from '../../models/dit.js';
import { selectBackend } from '../../compute/backend.js';
import { backboneExport, writeTorchExport } from '../../interop/torch.js';
import type { Vae } from '../../models/vae.js';
import { parseWeights, portableConfig, type WeightsChoice } from '../../train/checkpoint.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';

interface ExportArgs extends ComputeArgs {
  run: string;
  format: 'torch';
  out: string;
  weights: WeightsChoice;
  force: boolean;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  builder: (y: Argv) => withCompute(y)
    .option('run', { type: 'string', demandOption: true, describe: 'a training run directory' })
    .option('format', { choices: ['torch'] as const, default: 'torch' as const, describe: 'torch: OIHW convolutions, [out, in] linear weights, PyTorch-style names' })
    .option('out', { type: 'string', demandOption: true, describe: 'output .safetensors file' })
    .option('weights', { type: 'string', default: 'ema', coerce: (v: string) => parseWeights(v), describe: 'ema (default), model or ema:<σ_rel>' })
    .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing output file' }) as unknown as Argv<ExportArgs>,
  handler: async (a: ArgumentsCamelCase<ExportArgs>) => {
    if (!a.out.endsWith('.safetensors')) throw new Error(`--out: expected a .safetensors file name, got ${a.out}`);
    if (fs.existsSync(a.out) && !a.force) throw new Error(`--out ${a.out}: exists already; pass --force to overwrite it`);
    await selectBackend(computeOf(a));
    const run = loadRun(a.run, a.weights);
    try {
      const b = run.backend as unknown as { model: DiffusionModel; vae?: Vae };
      // Weights that are not numbers (a run that diverged) are not worth sharing: refuse, naming one.
      for (const [part, params] of [[b.model.net instanceof DiT ? 'dit' : 'unet', b.model.net.params.vars], ['vae', b.vae?.params.vars ?? new Map()]] as const) {
        for (const [name, v] of params) {
          const bad = (v.dataSync() as Float32Array).findIndex((x) => !Number.isFinite(x));
          if (bad >= 0) throw new Error(`${a.run}: ${a.weights} weights are not finite (${part}.${name}[${bad}] = ${v.dataSync()[bad]}): nothing exported; the run diverged or its checkpoint is damaged`);
        }
      }
      const n = writeTorchExport(a.out, {
        ...backboneExport(b.model.net),
        vae: b.vae ? { config: b.vae.config, params: b.vae.params.vars } : undefined,
        // Without the run directory: an export names no local path.
        config: portableConfig(run.config) as typeof run.config, weights: a.weights, step: run.step,
      });
      console.log(`${run.config.name} (${run.backend.name}, ${a.weights} weights, step ${run.step}): ${n} tensors in PyTorch layout → ${path.resolve(a.out)}`);
      console.log(`load it with: python3 -c "import sys; sys.path.insert(0, 'bench/torch'); from difflab_torch import load_export; models, cfg = load_export('${a.out}')"`);
    } finally {
      run.dispose();
    }
  },
};
