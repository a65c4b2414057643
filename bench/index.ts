// Benchmark entry point: `npm run bench -- <suite> [options]`.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKEND_NAMES, type ComputeBackend } from '../src/compute/backend.js';
import { benchKernels } from './kernels.js';
import { benchSamplers } from './samplers.js';
import { benchStartup } from './startup.js';
import { benchTrain } from './train.js';

await yargs(hideBin(process.argv))
  .scriptName('npm run bench --')
  .command(
    'kernels',
    'conv2d forward / input-gradient / filter-gradient ms and GFLOP/s at small-UNet shapes, and max-pool gradient at LeNet shapes, per backend',
    (y) => y
      .option('backends', { type: 'string', array: true, choices: BACKEND_NAMES.filter((b) => b !== 'auto'), describe: 'backends to time (default: every one that loads)' })
      .option('reps', { type: 'number', default: 5, describe: 'timed repetitions per kernel (median is reported)' })
      .option('shipped', { type: 'boolean', default: true, describe: "also time tfjs-backend-wasm's own kernels for comparison" })
      .option('out', { type: 'string', default: 'results/bench', describe: 'directory for the JSON result' }),
    async (a) => {
      await benchKernels({ backends: a.backends as ComputeBackend[] | undefined, reps: a.reps, shipped: a.shipped, outDir: a.out });
    },
  )
  .command(
    'samplers',
    'sampler error vs NFE on an exact Gaussian mixture (path RMS to the exact ODE solution, sliced W2 to exact samples)',
    (y) => y
      .option('gmm', { type: 'string', default: 'configs/gmm/25-gaussians.json', describe: 'mixture JSON' })
      .option('n', { type: 'number', default: 4000, describe: 'samples per point' })
      .option('steps', { type: 'number', array: true, default: [10, 20, 50, 100], describe: 'step counts' })
      .option('backend', { choices: BACKEND_NAMES, default: 'auto' as const, describe: 'compute backend' })
      .option('out', { type: 'string', default: 'results/bench', describe: 'directory for the JSON result' }),
    async (a) => {
      await benchSamplers({ gmm: a.gmm, n: a.n, steps: a.steps, compute: a.backend, outDir: a.out });
    },
  )
  .command(
    'train',
    'training ms/step, images/s, GFLOP/s, peak RSS and ms per sampling step, pixel UNet and latent UNet + VAE decoder, batch 64',
    (y) => y
      .option('pixel', { type: 'string', default: 'configs/train/mnist16-pixel.yaml', describe: 'config of the reference pixel model' })
      .option('latent', { type: 'string', default: 'configs/train/mnist16-latent.yaml', describe: 'config of the reference latent model' })
      .option('batch', { type: 'number', default: 64 })
      .option('steps', { type: 'number', default: 7, describe: 'timed training steps (after two warm-up steps); the median is reported' })
      .option('backends', { type: 'string', array: true, choices: BACKEND_NAMES.filter((b) => b !== 'auto'), describe: 'backends (default: every one that loads, except cpu)' })
      .option('out', { type: 'string', default: 'results/bench' }),
    async (a) => {
      await benchTrain({ pixel: a.pixel, latent: a.latent, batch: a.batch, steps: a.steps, backends: a.backends as ComputeBackend[] | undefined, outDir: a.out });
    },
  )
  .command(
    'startup',
    'CLI start-up: difflab --help, sample --help and a small schedule command, compiled (dist/) and through tsx',
    (y) => y
      .option('rounds', { type: 'number', default: 5, describe: 'interleaved rounds; medians are reported' })
      .option('out', { type: 'string', default: 'results/bench', describe: 'directory for the JSON result' }),
    (a) => benchStartup({ rounds: a.rounds, outDir: a.out }),
  )
  .demandCommand(1, 'name a benchmark suite: kernels, samplers, train, startup')
  .strict()
  .help()
  .parseAsync();
