// Benchmark entry point: `npm run bench -- <suite> [options]`.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BACKEND_NAMES, type ComputeBackend } from '../src/compute/backend.js';
import { benchKernels } from './kernels.js';
import { benchMetrics } from './metrics.js';
import { benchSamplers } from './samplers.js';
import { benchStartup } from './startup.js';
import { benchTrain } from './train.js';

await yargs(hideBin(process.argv))
  .scriptName('npm run bench --')
  .command(
    'kernels',
    'conv2d forward / input-gradient / filter-gradient ms and GFLOP/s at small-UNet shapes (wasm: with and without Winograd), and max-pool gradient at LeNet shapes, per backend',
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
    'metrics',
    'ms of covariance, eigendecomposition, FID, its bootstrap interval and FID∞ on d = 128 Gaussian features (1000 real, --n generated)',
    (y) => y
      .option('d', { type: 'number', default: 128, describe: 'feature dimension' })
      .option('n', { type: 'number', default: 512, describe: 'generated rows' })
      .option('rounds', { type: 'number', default: 10, describe: 'timed rounds (median reported)' })
      .option('out', { type: 'string', default: 'results/bench', describe: 'directory for the JSON result' }),
    async (a) => {
      await benchMetrics({ d: a.d, n: a.n, rounds: a.rounds, outDir: a.out });
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
    'training ms/step, images/s and GFLOP/s of the trainer loop (pixel UNet; latent UNet + VAE decode), per thread count; --profile: per-kernel time of a step; --against torch: the same step in PyTorch',
    (y) => y
      .option('pixel', { type: 'string', default: 'configs/train/mnist16-pixel.yaml', describe: 'config of the reference pixel model' })
      .option('latent', { type: 'string', default: 'configs/train/mnist16-latent.yaml', describe: 'config of the reference latent model' })
      .option('models', { type: 'string', array: true, choices: ['pixel', 'latent', 'vae'], default: ['pixel', 'latent', 'vae'], describe: "the step timed: the pixel UNet's, the latent UNet's, or the latent config's autoencoder's" })
      .option('sample-batch', { type: 'number', default: 256, describe: 'batch of the timed sampling forward pass (the decoder, for vae)' })
      .option('batch', { type: 'number', default: 32 })
      .option('steps', { type: 'number', default: 7, describe: 'timed training steps per round (after two warm-up steps); medians are reported' })
      .option('rounds', { type: 'number', default: 3, describe: 'interleaved rounds (thread counts and PyTorch take turns)' })
      .option('workers', { type: 'number', array: true, default: [1], describe: 'thread counts to time (data-parallel), e.g. --workers 1 2' })
      .option('profile', { type: 'boolean', default: false, describe: 'per-kernel time of one step (tfjs profiler) and the update pass' })
      .option('against', { choices: ['torch'] as const, describe: 'also time the PyTorch twin of the step (bench/torch/train_step.py; needs torch)' })
      .option('python', { type: 'string', default: '/usr/bin/python3', describe: 'interpreter with torch, for --against torch' })
      .option('torch-malloc', { choices: ['keep', 'default'] as const, default: 'keep' as const, describe: "--against torch: glibc told to keep freed memory, as PyTorch's users run it (keep), or glibc's defaults (default: ~1.5× slower from page faults)" })
      .option('backends', { type: 'string', array: true, choices: BACKEND_NAMES.filter((b) => b !== 'auto'), describe: 'backends (default: every one that loads, except cpu)' })
      .option('out', { type: 'string', default: 'results/bench' }),
    async (a) => {
      await benchTrain({
        pixel: a.pixel, latent: a.latent, batch: a.batch, steps: a.steps, backends: a.backends as ComputeBackend[] | undefined, outDir: a.out,
        workers: a.workers, profile: a.profile, against: a.against, rounds: a.rounds, python: a.python, models: a.models as ('pixel' | 'latent' | 'vae')[], sampleBatch: a.sampleBatch, torchMalloc: a.torchMalloc,
      });
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
