// `difflab sample`: run a sampler on a model and write the samples (.npy).
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { analyticBackend } from '../../backends/analytic.js';
import { BACKEND_NAMES, selectBackend, tf, type BackendRequest } from '../../compute/backend.js';
import { getSampler, SAMPLER_NAMES, samplingSigmas } from '../../diffusion/samplers/index.js';
import { DISCRETE_SCHEDULES, discreteSchedule, TIMESTEP_SPACINGS, type DiscreteScheduleName, type TimestepSpacing } from '../../diffusion/schedules.js';
import { slicedWasserstein2 } from '../../metrics/sliced-wasserstein.js';
import { gmmSample, loadGmm } from '../../models/gmm.js';
import { loadRun, sampleRun } from '../../train/pipeline.js';
import { readNpy, writeNpy } from '../../util/npy.js';
import { writeGrid } from '../../util/png.js';
import { Rng } from '../../util/rng.js';

interface SampleArgs {
  backend: string;
  compute: BackendRequest;
  gmm?: string;
  checkpoint?: string;
  weights: 'ema' | 'model';
  clip: boolean;
  sampler: string;
  steps: number;
  n: number;
  seed: number;
  out: string;
  eta?: number;
  initNoise?: string;
  grid?: 'karras' | 'exponential' | 'discrete';
  schedule: DiscreteScheduleName;
  spacing: TimestepSpacing;
  sigmaMin: number;
  sigmaMax: number;
  rho: number;
  churn: number;
  variance: 'beta' | 'beta-tilde';
  rtol: number;
  atol: number;
  clipDenoised?: number[];
}

export const MODEL_BACKENDS = ['analytic'] as const;

/** `--backend` on model commands: 'analytic' picks the exact GMM model; compute names pick compute. */
export function computeFor(a: { backend: string; compute: BackendRequest }): BackendRequest {
  return (MODEL_BACKENDS as readonly string[]).includes(a.backend) ? a.compute : (a.backend as BackendRequest);
}

export function withModelBackend<T>(y: Argv<T>) {
  return y
    .option('backend', {
      choices: [...MODEL_BACKENDS, ...BACKEND_NAMES], default: 'analytic',
      describe: "model backend: 'analytic' = the exact denoiser of the Gaussian mixture in --gmm (a compute backend name here also selects the analytic model, computed there)",
    })
    .option('compute', { choices: BACKEND_NAMES, default: 'auto' as BackendRequest, describe: 'tfjs compute backend when --backend names a model backend' })
    .option('gmm', { type: 'string', describe: 'Gaussian mixture JSON: {"weights": [K], "means": [K][D], "stds": number | [K] | [K][D]}' });
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  describe: 'Draw samples with a sampler: from a Gaussian mixture (--gmm, writes .npy) or a trained run (--checkpoint, writes a .png grid or .npy)',
  builder: (y: Argv) => withModelBackend(y)
    .option('checkpoint', { type: 'string', describe: 'a training run directory (with diffusion/ and, for latent runs, vae/)' })
    .option('weights', { choices: ['ema', 'model'] as const, default: 'ema' as const, describe: '--checkpoint: sample with the EMA or the raw weights' })
    .option('clip', { type: 'boolean', default: true, describe: '--checkpoint, pixel runs: clip x0 estimates to the data range [-1, 1] as DDPM/DDIM do (--no-clip turns it off)' })
    .option('sampler', { choices: SAMPLER_NAMES, demandOption: true, describe: 'sampler' })
    .option('steps', { type: 'number', default: 50, describe: 'sampling steps (probability-flow: σ range only; it adapts its steps)' })
    .option('n', { type: 'number', describe: 'number of samples (default 1000 from --gmm, 64 from --checkpoint)' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the initial noise and of stochastic samplers' })
    .option('out', { type: 'string', demandOption: true, describe: 'output .npy file' })
    .option('eta', { type: 'number', describe: 'ddim: η (0 = deterministic); euler-ancestral: η (default 1)' })
    .option('init-noise', {
      type: 'string',
      describe: 'standard-normal noise z, .npy [n, dim]. Samplers run in σ space (x = x0 + σε): karras/exponential grids start at x = σ_max·z (k-diffusion), discrete VP grids at x = √(1+σ_T²)·z, i.e. x_T = z in VP space (diffusers)',
    })
    .option('grid', { choices: ['karras', 'exponential', 'discrete'] as const, describe: "σ grid (default: discrete for ddpm/ddim/plms, karras otherwise)" })
    .option('schedule', { choices: DISCRETE_SCHEDULES, default: 'linear' as DiscreteScheduleName, describe: 'training schedule behind a discrete grid (T = 1000)' })
    .option('spacing', { choices: TIMESTEP_SPACINGS, default: 'leading' as TimestepSpacing, describe: 'timestep spacing of a discrete grid' })
    .option('sigma-min', { type: 'number', default: 0.002, describe: 'karras/exponential: σ_min' })
    .option('sigma-max', { type: 'number', default: 80, describe: 'karras/exponential: σ_max' })
    .option('rho', { type: 'number', default: 7, describe: 'karras: ρ' })
    .option('churn', { type: 'number', default: 0, describe: 'heun: S_churn (EDM Alg. 2)' })
    .option('variance', { choices: ['beta-tilde', 'beta'] as const, default: 'beta-tilde' as const, describe: 'ddpm: posterior variance' })
    .option('rtol', { type: 'number', default: 1e-5, describe: 'probability-flow: relative tolerance' })
    .option('atol', { type: 'number', default: 1e-5, describe: 'probability-flow: absolute tolerance' })
    .option('clip-denoised', { type: 'number', array: true, describe: 'clip every x0 estimate to [LO, HI] (two numbers; off by default)' })
    .check((a) => {
      const c = a['clip-denoised'] as number[] | undefined;
      if (c && (c.length !== 2 || !(c[0] < c[1]))) throw new Error(`--clip-denoised: expected two numbers LO HI with LO < HI, got ${c.join(' ')}`);
      if (!Number.isInteger(a.steps) || a.steps < 1) throw new Error(`--steps: expected an integer ≥ 1, got ${a.steps}`);
      if (a.n !== undefined && (!Number.isInteger(a.n) || a.n < 1)) throw new Error(`--n: expected an integer ≥ 1, got ${a.n}`);
      if (!a.gmm === !a.checkpoint) throw new Error('give exactly one of --gmm (an analytic mixture) or --checkpoint (a trained run)');
      const out = String(a.out);
      if (a.gmm && !out.endsWith('.npy')) throw new Error(`--out: expected a .npy file name, got ${out}`);
      if (a.checkpoint && !out.endsWith('.npy') && !out.endsWith('.png')) throw new Error(`--out: expected a .png (grid) or .npy file name, got ${out}`);
      return true;
    }) as unknown as Argv<SampleArgs>,
  handler: async (a: ArgumentsCamelCase<SampleArgs>) => {
    await selectBackend(computeFor(a));
    if (a.checkpoint) {
      const run = loadRun(a.checkpoint, a.weights);
      try {
        const n = a.n ?? 64;
        const r = sampleRun(run, { sampler: a.sampler, steps: a.steps, n, seed: a.seed, eta: a.eta, clip: a.clip });
        const v = r.images.dataSync() as Float32Array;
        if (a.out.endsWith('.png')) writeGrid(a.out, v, r.images.shape); else writeNpy(a.out, v, r.images.shape);
        console.log(`${run.config.name} (${run.backend.name}, ${a.weights} weights): ${n} samples with ${a.sampler}, ${a.steps} steps, NFE ${r.nfe}, ${r.seconds.toFixed(1)} s → ${a.out}`);
        r.images.dispose();
      } finally {
        run.dispose();
      }
      return;
    }
    const gmm = loadGmm(a.gmm!);
    const backend = analyticBackend(gmm);
    const entry = getSampler(a.sampler);
    const grid = a.grid ?? entry.grid;
    const sigmas = samplingSigmas({
      kind: grid, steps: a.steps, schedule: grid === 'discrete' ? discreteSchedule(a.schedule) : undefined,
      spacing: a.spacing, sigmaMin: a.sigmaMin, sigmaMax: a.sigmaMax, rho: a.rho,
    });
    const rng = new Rng(a.seed);
    const nSamples = a.n ?? 1000;
    let z: Float32Array;
    if (a.initNoise) {
      const arr = readNpy(a.initNoise);
      if (arr.shape.length !== 2 || arr.shape[0] !== nSamples || arr.shape[1] !== gmm.dim) {
        throw new Error(`--init-noise ${a.initNoise}: expected shape [${nSamples}, ${gmm.dim}] (--n × the GMM's dimension), got [${arr.shape.join(', ')}]`);
      }
      z = Float32Array.from(arr.data);
    } else {
      z = rng.fork().normals(nSamples * gmm.dim);
    }
    const scale = grid === 'discrete' ? Math.sqrt(1 + sigmas[0] ** 2) : sigmas[0];
    const xT = tf.tensor(z.map((v) => v * scale), [nSamples, gmm.dim]);
    const t0 = performance.now();
    const r = entry.sampler(backend.denoiser, xT, {
      ...entry.preset, sigmas, rng, eta: a.eta, variance: a.variance, rtol: a.rtol, atol: a.atol,
      churn: a.churn > 0 ? { sChurn: a.churn } : undefined,
      clipDenoised: a.clipDenoised ? [a.clipDenoised[0], a.clipDenoised[1]] : undefined,
    });
    const seconds = (performance.now() - t0) / 1000;
    const samples = Float32Array.from(r.x.dataSync());
    tf.dispose([xT, r.x]);
    writeNpy(a.out, samples, [nSamples, gmm.dim]);
    const truth = gmmSample(gmm, Math.max(nSamples, 2000), new Rng(a.seed + 1));
    const sw = slicedWasserstein2(Float64Array.from(samples), truth, gmm.dim, new Rng(a.seed + 2));
    console.log(`${a.sampler}: ${nSamples} samples, ${a.steps} steps on a ${grid} grid, NFE ${r.nfe}, ${seconds.toFixed(2)} s → ${a.out}`);
    console.log(`sliced W2 to ${truth.length / gmm.dim} exact samples: ${sw.toFixed(4)}`);
  },
};
