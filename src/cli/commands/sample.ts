// `difflab sample`: run a sampler on a model and write the samples (.npy).
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { analyticBackend } from '../../backends/analytic.js';
import { loadRun } from '../../backends/index.js';
import { selectBackend } from '../../compute/backend.js';
import { getSampler, SAMPLER_NAMES } from '../../diffusion/samplers/index.js';
import { DEFAULT_SPACING, GRID_KINDS, parseSamplerSetting, sampleImages, sampleLatents, type GridKind, type SamplerSetting } from '../../diffusion/sampling.js';
import { DISCRETE_SCHEDULES, discreteSchedule, TIMESTEP_SPACINGS, type DiscreteScheduleName, type TimestepSpacing } from '../../diffusion/schedules.js';
import { slicedWasserstein2 } from '../../metrics/sliced-wasserstein.js';
import { gmmSample, loadGmm } from '../../models/gmm.js';
import { readNpy, requireFiniteRows, writeNpy } from '../../util/npy.js';
import { writeGrid } from '../../util/png.js';
import { Rng } from '../../util/rng.js';
import { computeOf, withCompute, type ComputeArgs } from '../options.js';
import { parseWeights, type WeightsChoice } from '../../train/checkpoint.js';

interface SampleArgs extends ComputeArgs {
  gmm?: string;
  checkpoint?: string;
  weights: WeightsChoice;
  clip: boolean;
  sampler: string;
  steps: number;
  n?: number;
  seed: number;
  out: string;
  eta?: number;
  initNoise?: string;
  grid?: GridKind;
  schedule: DiscreteScheduleName;
  spacing?: TimestepSpacing;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  shift?: number;
  churn?: number;
  variance?: 'beta' | 'beta-tilde';
  rtol?: number;
  atol?: number;
  clipDenoised?: number[];
  order?: number;
  variant?: 'bh1' | 'bh2';
  corrector?: boolean;
  lowerOrderFinal?: boolean;
  class?: number[];
  guidance?: number;
  guidanceInterval?: number[];
  batch?: number;
  scale: number;
}

export const MODEL_BACKENDS = ['analytic'] as const;

/** `--backend` and `--compute` of the commands that run the analytic model (sample, nll). */
export function withModelBackend<T>(y: Argv<T>) {
  return withCompute(y, MODEL_BACKENDS)
    .option('gmm', { type: 'string', describe: 'Gaussian mixture JSON: {"weights": [K], "means": [K][D], "stds": number | [K] | [K][D]}' });
}

export const computeFor = (a: ComputeArgs) => computeOf(a, MODEL_BACKENDS);

/** The sampler named on the command line with the options given for it, checked by its registry entry. */
function settingFrom(a: SampleArgs): SamplerSetting {
  const o: Record<string, unknown> = { name: a.sampler };
  const own = new Set(Object.keys(getSampler(a.sampler).options.shape));
  const pass = (flag: string, key: string, value: unknown) => {
    if (value === undefined) return;
    if (!own.has(key)) throw new Error(`--${flag}: ${a.sampler} takes no such option; its options: ${[...own].join(', ') || '(none)'}`);
    o[key] = value;
  };
  pass('eta', 'eta', a.eta);
  pass('churn', 'churn', a.churn);
  pass('variance', 'variance', a.variance);
  pass('rtol', 'rtol', a.rtol);
  pass('atol', 'atol', a.atol);
  pass('order', 'order', a.order);
  pass('variant', 'variant', a.variant);
  pass('corrector', 'corrector', a.corrector);
  pass('lower-order-final', 'lowerOrderFinal', a.lowerOrderFinal);
  for (const [k, v] of Object.entries({ grid: a.grid, spacing: a.spacing, sigmaMin: a.sigmaMin, sigmaMax: a.sigmaMax, rho: a.rho, shift: a.shift })) if (v !== undefined) o[k] = v;
  if (a.guidance !== undefined) o.guidance = a.guidance;
  if (a.guidanceInterval) o.guidanceInterval = a.guidanceInterval;
  return parseSamplerSetting(o, '--sampler');
}

/** --class c [c ...]: sample i gets the (i mod k)-th of the k classes given. */
function labelsFrom(a: SampleArgs, n: number): Int32Array | undefined {
  if (!a.class) return undefined;
  return Int32Array.from({ length: n }, (_, i) => a.class![i % a.class!.length]);
}

/** --init-noise: standard-normal z with n rows of the model's size (any shape with that many numbers per row). */
function readInitNoise(file: string, n: number, shape: number[]): Float32Array {
  const arr = readNpy(file);
  requireFiniteRows(arr, `--init-noise ${file}`);
  const size = shape.reduce((p, q) => p * q, 1);
  const per = arr.shape.slice(1).reduce((p, q) => p * q, 1);
  if (arr.shape[0] !== n || per !== size) {
    throw new Error(`--init-noise ${file}: expected shape [${n}, ${shape.join(', ')}] (or [${n}, ${size}]: --n × the model's size), got [${arr.shape.join(', ')}]`);
  }
  return Float32Array.from(arr.data);
}

export const sampleCommand: CommandModule<object, SampleArgs> = {
  command: 'sample',
  builder: (y: Argv) => withModelBackend(y)
    .option('checkpoint', { type: 'string', describe: 'a training run directory (with diffusion/ and, for latent runs, vae/)' })
    .option('weights', { type: 'string', default: 'ema', coerce: (v: string) => parseWeights(v), describe: '--checkpoint: ema (default), model (raw weights) or ema:<σ_rel> (post-hoc EMA from the run\'s snapshots; see difflab ema)' })
    .option('clip', { type: 'boolean', default: true, describe: '--checkpoint, pixel runs: clip x0 estimates to the data range [-1, 1] as DDPM/DDIM do (--no-clip turns it off)' })
    .option('sampler', { choices: SAMPLER_NAMES, demandOption: true, describe: 'sampler' })
    .option('steps', { type: 'number', default: 50, describe: 'sampling steps (probability-flow: σ range only; it adapts its steps)' })
    .option('n', { type: 'number', describe: 'number of samples (default 1000 from --gmm, 64 from --checkpoint)' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the initial noise and of stochastic samplers' })
    .option('out', { type: 'string', demandOption: true, describe: 'output file: .npy (samples, NumPy) or, with --checkpoint, .png (an image grid)' })
    .option('eta', { type: 'number', describe: 'ddim: η (default 0 = deterministic); euler-ancestral: η (default 1)' })
    .option('init-noise', {
      type: 'string',
      describe: 'standard-normal noise z, .npy [n, ...] with one row per sample. Samplers run in σ space (x = x0 + σε): karras/exponential grids start at x = σ_max·z (k-diffusion); native grids at the model\'s prior scale, x = √(1+σ_T²)·z for VP models, i.e. x_T = z in VP space (diffusers), and (1+σ)·z for flow models',
    })
    .option('grid', { choices: GRID_KINDS, describe: 'σ grid (default: the model\'s native grid for ddpm/ddim/plms — discrete timesteps, or uniform in t for flow models — and karras otherwise)' })
    .option('schedule', { choices: DISCRETE_SCHEDULES, default: 'linear' as DiscreteScheduleName, describe: '--gmm: the schedule behind a discrete grid (T = 1000); a trained model uses its own' })
    .option('spacing', { choices: TIMESTEP_SPACINGS, describe: `timestep spacing of a discrete grid (default ${DEFAULT_SPACING})` })
    .option('sigma-min', { type: 'number', describe: 'karras/exponential: σ_min (default: the model\'s trained range; 0.002 for --gmm)' })
    .option('sigma-max', { type: 'number', describe: 'karras/exponential/uniform-t: σ_max (default: the model\'s trained range; 80 for --gmm)' })
    .option('rho', { type: 'number', describe: 'karras: ρ (default 7)' })
    .option('shift', { type: 'number', describe: 'multiply every σ of the grid by this (SD3\'s shift α; default: the model\'s training shift, 1 for --gmm)' })
    .option('churn', { type: 'number', describe: 'heun: S_churn (EDM Alg. 2; default 0)' })
    .option('variance', { choices: ['beta-tilde', 'beta'] as const, describe: 'ddpm: posterior variance (default beta-tilde)' })
    .option('rtol', { type: 'number', describe: 'probability-flow: relative tolerance (default 1e-5)' })
    .option('atol', { type: 'number', describe: 'probability-flow: absolute tolerance (default 1e-5)' })
    .option('order', { type: 'number', describe: 'unipc, deis: solver order 1–3 (default 2)' })
    .option('variant', { choices: ['bh1', 'bh2'] as const, describe: 'unipc: B(h) = h (bh1) or e^h − 1 (bh2, default)' })
    .option('corrector', { type: 'boolean', describe: 'unipc: apply the UniC corrector (default; --no-corrector turns it off)' })
    .option('lower-order-final', { type: 'boolean', describe: 'unipc, deis, dpm-solver++-2m/3m: lower the order of the last steps (diffusers\' lower_order_final; default on)' })
    .option('class', { type: 'number', array: true, describe: 'class-conditional models: the class of every sample (several: sample i gets the (i mod k)-th); default: balanced, i mod classes. With --gmm, a class is a mixture component' })
    .option('guidance', { type: 'number', describe: 'classifier-free guidance scale w: D = D(x,∅) + w·(D(x,c) − D(x,∅)); 0 unconditional, 1 conditional (default)' })
    .option('guidance-interval', { type: 'number', array: true, describe: 'guide only for σ in [LO, HI] (two numbers; Kynkäänniemi et al. 2024); plain conditional outside' })
    .option('scale', { type: 'number', default: 1, describe: '--out .png: upscale the grid by this integer factor (nearest neighbour)' })
    .option('batch', { type: 'number', describe: '--checkpoint: samples per sampler call (default: 2¹⁶ latent pixels per call, 256 at 16×16); every sample has its own noise stream, so this changes no sample' })
    .option('clip-denoised', { type: 'number', array: true, describe: 'clip every x0 estimate to [LO, HI] (two numbers; off by default for --gmm)' })
    .check((a) => {
      const c = a['clip-denoised'] as number[] | undefined;
      if (c && (c.length !== 2 || !(c[0] < c[1]))) throw new Error(`--clip-denoised: expected two numbers LO HI with LO < HI, got ${c.join(' ')}`);
      const gi = a['guidance-interval'] as number[] | undefined;
      if (gi && (gi.length !== 2 || !(gi[0] >= 0 && gi[0] <= gi[1]))) throw new Error(`--guidance-interval: expected two numbers LO HI with 0 ≤ LO ≤ HI, got ${gi.join(' ')}`);
      const cl = a.class as number[] | undefined;
      if (cl && (!cl.length || cl.some((v) => !Number.isInteger(v) || v < 0))) throw new Error(`--class: expected class numbers ≥ 0, got ${cl.join(' ')}`);
      if (a.batch !== undefined && (!Number.isInteger(a.batch) || (a.batch as number) < 1)) throw new Error(`--batch: expected an integer ≥ 1, got ${a.batch}`);
      if (!Number.isInteger(a.scale) || (a.scale as number) < 1 || (a.scale as number) > 32) throw new Error(`--scale: expected an integer from 1 to 32, got ${a.scale}`);
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
    const setting = settingFrom(a);
    const clipDenoised: [number, number] | undefined = a.clipDenoised ? [a.clipDenoised[0], a.clipDenoised[1]] : undefined;
    if (a.checkpoint) {
      const run = loadRun(a.checkpoint, a.weights);
      try {
        const n = a.n ?? 64;
        const z = a.initNoise ? readInitNoise(a.initNoise, n, run.backend.latentShape) : undefined;
        const { images, nfe, seconds, plan, labels } = sampleImages(run.backend, { setting, steps: a.steps, n, seed: a.seed, clip: a.clip, clipDenoised, z, labels: labelsFrom(a, n), batchSize: a.batch });
        const v = images.dataSync() as Float32Array;
        if (a.out.endsWith('.png')) writeGrid(a.out, v, images.shape, { scale: a.scale }); else writeNpy(a.out, v, images.shape);
        const cls = labels ? `, classes ${a.class ? a.class.join(',') : `balanced 0…${run.backend.sampling.classes! - 1}`}` : '';
        console.log(`${run.config.name} (${run.backend.name}, ${a.weights} weights): ${n} samples with ${setting.label}${cls}, ${plan.describe}, NFE ${nfe}, ${seconds.toFixed(1)} s → ${a.out}`);
        images.dispose();
      } finally {
        run.dispose();
      }
      return;
    }
    const gmm = loadGmm(a.gmm!);
    const backend = analyticBackend(gmm, discreteSchedule(a.schedule));
    const rng = new Rng(a.seed);
    const nSamples = a.n ?? 1000;
    const z = a.initNoise ? readInitNoise(a.initNoise, nSamples, [gmm.dim]) : rng.fork().normals(nSamples * gmm.dim);
    const labels = labelsFrom(a, nSamples);
    const r = sampleLatents(backend, { setting, steps: a.steps, z, rng, clipDenoised, labels });
    const samples = Float32Array.from(r.x.dataSync());
    r.x.dispose();
    writeNpy(a.out, samples, [nSamples, gmm.dim]);
    console.log(`${setting.label}${a.class ? `, class ${a.class.join(',')}` : ''}: ${nSamples} samples, ${r.plan.describe}, NFE ${r.nfe}, ${r.seconds.toFixed(2)} s → ${a.out}`);
    // With classes, the reference is exact samples of the requested components (in the same proportions);
    // with guidance w ≠ 1 the sampled distribution is not that component's, and the distance says how far.
    const target = a.class ? { ...gmm, weights: Float64Array.from(gmm.weights, (_, k) => labels!.filter((l) => l === k).length) } : gmm;
    const truth = gmmSample(target, Math.max(nSamples, 2000), new Rng(a.seed + 1));
    const sw = slicedWasserstein2(Float64Array.from(samples), truth, gmm.dim, new Rng(a.seed + 2));
    // Its finite-sample floor: exact samples of the same size against the same reference set.
    const fl = Array.from({ length: 5 }, (_, k) => slicedWasserstein2(gmmSample(target, nSamples, new Rng(a.seed + 100 + k)), truth, gmm.dim, new Rng(a.seed + 2)));
    const m = fl.reduce((s, v) => s + v, 0) / fl.length, sd = Math.sqrt(fl.reduce((s, v) => s + (v - m) ** 2, 0) / (fl.length - 1));
    console.log(`sliced W2 to ${truth.length / gmm.dim} exact samples${a.class ? ' of the requested components' : ''}: ${sw.toFixed(4)} (floor: ${nSamples} exact samples give ${m.toFixed(4)} ± ${sd.toFixed(4)}, mean ± sd of 5 draws)`);
  },
};
