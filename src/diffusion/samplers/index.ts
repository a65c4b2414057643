// The sampler registry: config names → sampler functions, the σ grids they run on by default, and
// each sampler's own options (a zod schema, so that `{name: ddim, eta: 1}` in an experiment grid and
// `--eta 1` on the command line are checked the same way).
import { z } from 'zod';
import { DEFAULT_SPACING, discreteSchedule, exponentialSigmas, karrasSigmas, samplingTimesteps, type DiscreteSchedule, type TimestepSpacing } from '../schedules.js';
import { sampleDdim, sampleDdpm } from './ddim.js';
import { sampleEuler, sampleEulerAncestral, sampleHeun } from './euler.js';
import { sampleDeis, sampleDpmSolverPP, sampleLms, samplePlms } from './multistep.js';
import { sampleUniPc } from './unipc.js';
import { sampleProbabilityFlow } from './ode.js';
import type { Sampler, SamplerOptions } from './types.js';

export * from './types.js';

const none = z.strictObject({});
const eta = (d: number) => z.strictObject({ eta: z.number().min(0).default(d) });
const order123 = (d: number) => z.number().int().min(1).max(3).default(d);
/** diffusers' lower_order_final: on by default, as there. */
const lowerFinal = z.strictObject({ lowerOrderFinal: z.boolean().default(true) });
const lowerFinalOption = (o: Record<string, unknown>) => ({ lowerOrderFinal: o.lowerOrderFinal as boolean });

export interface SamplerEntry {
  sampler: Sampler;
  /**
   * The σ grid it runs on by default: 'native' is the model's own (the training timesteps of a
   * discrete schedule; uniform in t for flow models), 'karras' spans the model's σ range.
   */
  grid: 'native' | 'karras';
  stochastic: boolean | ((o: Record<string, unknown>) => boolean);
  /** Options the name implies (dpm-solver++ orders). */
  preset?: Partial<SamplerOptions>;
  /** the sampler's own options, with their defaults */
  options: z.ZodObject;
  /** its parsed options → the sampler function's options */
  toOptions?(o: Record<string, unknown>): Partial<SamplerOptions>;
  describe: string;
}

export const SAMPLERS: Record<string, SamplerEntry> = {
  ddpm: {
    sampler: sampleDdpm, grid: 'native', stochastic: true, describe: 'ancestral DDPM (variance β̃ or β)',
    options: z.strictObject({ variance: z.enum(['beta-tilde', 'beta']).default('beta-tilde') }),
    toOptions: (o) => ({ variance: o.variance as 'beta' | 'beta-tilde' }),
  },
  ddim: {
    sampler: sampleDdim, grid: 'native', stochastic: (o) => (o.eta as number) > 0, describe: 'DDIM, any η (η > 0 is stochastic)',
    options: eta(0), toOptions: (o) => ({ eta: o.eta as number }),
  },
  plms: { sampler: samplePlms, grid: 'native', stochastic: false, options: none, describe: 'pseudo linear multistep (PNDM/PLMS as in LDM)' },
  'dpm-solver++-1s': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 1 }, options: none, describe: 'DPM-Solver++ first order' },
  'dpm-solver++-2m': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 2 }, options: lowerFinal, toOptions: lowerFinalOption, describe: 'DPM-Solver++(2M) multistep (lowerOrderFinal: lower orders on the last steps below 15 steps)' },
  'dpm-solver++-3m': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 3 }, options: lowerFinal, toOptions: lowerFinalOption, describe: 'DPM-Solver++(3M) multistep (lowerOrderFinal: order ≤ 2 on the second-to-last step below 15 steps)' },
  unipc: {
    sampler: sampleUniPc, grid: 'karras', stochastic: false, describe: 'UniPC, predictor UniP + corrector UniC, B(h) variant bh1|bh2, order 1–3 (diffusers UniPCMultistepScheduler)',
    options: z.strictObject({ order: order123(2), variant: z.enum(['bh1', 'bh2']).default('bh2'), corrector: z.boolean().default(true), lowerOrderFinal: z.boolean().default(true) }),
    toOptions: (o) => ({ order: o.order as number, variant: o.variant as 'bh1' | 'bh2', corrector: o.corrector as boolean, lowerOrderFinal: o.lowerOrderFinal as boolean }),
  },
  deis: {
    sampler: sampleDeis, grid: 'karras', stochastic: false, describe: 'DEIS multistep (log-ρ), order 1–3',
    options: z.strictObject({ order: order123(2), lowerOrderFinal: z.boolean().default(true) }),
    toOptions: (o) => ({ order: o.order as number, lowerOrderFinal: o.lowerOrderFinal as boolean }),
  },
  euler: { sampler: sampleEuler, grid: 'karras', stochastic: false, options: none, describe: 'Euler on the probability-flow ODE' },
  'euler-ancestral': {
    sampler: sampleEulerAncestral, grid: 'karras', stochastic: (o) => (o.eta as number) > 0, describe: 'Euler with ancestral noise (η)',
    options: eta(1), toOptions: (o) => ({ eta: o.eta as number }),
  },
  heun: {
    sampler: sampleHeun, grid: 'karras', stochastic: (o) => (o.churn as number) > 0, describe: 'Heun 2nd order, EDM Alg. 2 (S_churn > 0 is stochastic)',
    options: z.strictObject({
      churn: z.number().min(0).default(0), sTmin: z.number().min(0).default(0), sTmax: z.number().positive().default(Infinity), sNoise: z.number().positive().default(1),
    }),
    toOptions: (o) => ((o.churn as number) > 0 ? { churn: { sChurn: o.churn as number, sTmin: o.sTmin as number, sTmax: o.sTmax as number, sNoise: o.sNoise as number } } : {}),
  },
  lms: { sampler: sampleLms, grid: 'karras', stochastic: false, options: none, describe: 'linear multistep, order 4' },
  'probability-flow': {
    sampler: sampleProbabilityFlow, grid: 'karras', stochastic: false, describe: 'adaptive RK45 on the probability-flow ODE (rtol/atol)',
    options: z.strictObject({ rtol: z.number().positive().default(1e-5), atol: z.number().positive().default(1e-5) }),
    toOptions: (o) => ({ rtol: o.rtol as number, atol: o.atol as number }),
  },
};

export const SAMPLER_NAMES = Object.keys(SAMPLERS);

export function getSampler(name: string): SamplerEntry {
  const e = SAMPLERS[name];
  if (!e) throw new Error(`sampler: unknown '${name}'; expected one of ${SAMPLER_NAMES.join(', ')}`);
  return e;
}

export interface GridOptions {
  kind: 'discrete' | 'karras' | 'exponential';
  steps: number;
  /** discrete: the training schedule and timestep spacing */
  schedule?: DiscreteSchedule;
  spacing?: TimestepSpacing;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
}

/** A decreasing σ grid ending in 0, with `steps` steps (the planner in ../sampling.ts chooses these). */
export function samplingSigmas(g: GridOptions): Float64Array {
  if (g.kind === 'karras') return karrasSigmas(g.steps, g.sigmaMin, g.sigmaMax, g.rho);
  if (g.kind === 'exponential') return exponentialSigmas(g.steps, g.sigmaMin, g.sigmaMax);
  const s = g.schedule ?? discreteSchedule('linear');
  const ts = samplingTimesteps(s.T, g.steps, g.spacing ?? DEFAULT_SPACING);
  const out = new Float64Array(ts.length + 1);
  ts.forEach((t, i) => { out[i] = s.sigmas[t]; });
  return out;
}
