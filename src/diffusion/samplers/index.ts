// The sampler registry: config names → sampler functions, and the σ grids they run on.
import { discreteSchedule, exponentialSigmas, karrasSigmas, samplingTimesteps, type DiscreteSchedule, type TimestepSpacing } from '../schedules.js';
import { sampleDdim, sampleDdpm } from './ddim.js';
import { sampleEuler, sampleEulerAncestral, sampleHeun } from './euler.js';
import { sampleDpmSolverPP, sampleLms, samplePlms } from './multistep.js';
import { sampleProbabilityFlow } from './ode.js';
import type { Sampler, SamplerOptions } from './types.js';

export * from './types.js';

export interface SamplerEntry {
  sampler: Sampler;
  /** The σ grid this sampler is normally run on. */
  grid: 'discrete' | 'karras';
  stochastic: boolean;
  /** Options the name implies (dpm-solver++ orders). */
  preset?: Partial<SamplerOptions>;
  describe: string;
}

export const SAMPLERS: Record<string, SamplerEntry> = {
  ddpm: { sampler: sampleDdpm, grid: 'discrete', stochastic: true, describe: 'ancestral DDPM (variance β̃ or β)' },
  ddim: { sampler: sampleDdim, grid: 'discrete', stochastic: false, describe: 'DDIM, any η (η > 0 is stochastic)' },
  plms: { sampler: samplePlms, grid: 'discrete', stochastic: false, describe: 'pseudo linear multistep (PNDM/PLMS as in LDM)' },
  'dpm-solver++-1s': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 1 }, describe: 'DPM-Solver++ first order' },
  'dpm-solver++-2m': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 2 }, describe: 'DPM-Solver++(2M) multistep' },
  'dpm-solver++-3m': { sampler: sampleDpmSolverPP, grid: 'karras', stochastic: false, preset: { order: 3 }, describe: 'DPM-Solver++(3M) multistep' },
  euler: { sampler: sampleEuler, grid: 'karras', stochastic: false, describe: 'Euler on the probability-flow ODE' },
  'euler-ancestral': { sampler: sampleEulerAncestral, grid: 'karras', stochastic: true, describe: 'Euler with ancestral noise (η)' },
  heun: { sampler: sampleHeun, grid: 'karras', stochastic: false, describe: 'Heun 2nd order, EDM Alg. 2 (S_churn > 0 is stochastic)' },
  lms: { sampler: sampleLms, grid: 'karras', stochastic: false, describe: 'linear multistep, order 4' },
  'probability-flow': { sampler: sampleProbabilityFlow, grid: 'karras', stochastic: false, describe: 'adaptive RK45 on the probability-flow ODE (rtol/atol)' },
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

/** A decreasing σ grid ending in 0, with `steps` steps. */
export function samplingSigmas(g: GridOptions): Float64Array {
  if (g.kind === 'karras') return karrasSigmas(g.steps, g.sigmaMin, g.sigmaMax, g.rho);
  if (g.kind === 'exponential') return exponentialSigmas(g.steps, g.sigmaMin, g.sigmaMax);
  const s = g.schedule ?? discreteSchedule('linear');
  const ts = samplingTimesteps(s.T, g.steps, g.spacing ?? 'leading');
  const out = new Float64Array(ts.length + 1);
  ts.forEach((t, i) => { out[i] = s.sigmas[t]; });
  return out;
}
