// What an objective is: how a network's output becomes E[x0|x] in σ space, what it is trained to
// predict, and which noise levels and weighting it is trained with by default.
//
// Every objective is a preconditioning of one network F (Karras et al. 2022, eq. 7; k-diffusion's
// Denoiser): D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ)), with x = x0 + σ·ε. The
// training target of F is then (x0 − c_skip·x)/c_out, a linear combination a·x0 + b·ε.
import type { DiscreteSchedule } from '../schedules.js';

export interface Preconditioning {
  cSkip: number;
  cOut: number;
  cIn: number;
  /** what the network's noise embedding receives */
  cNoise: number;
}

/** The training target of F as a·x0 + b·ε at one σ. */
export interface TargetCoefficients {
  x0: number;
  eps: number;
}

/**
 * Continuous time t ∈ [0, 1] ↔ σ, for noise-level distributions over t (uniform, logit-normal) and
 * time-uniform sampling grids. Increasing in t: t = 0 is the least noise.
 */
export interface TimeMap {
  sigma(t: number): number;
  t(sigma: number): number;
}

/** What an objective may depend on besides σ: the discrete schedule of eps/x0/v models, σ_data of edm. */
export interface ObjectiveContext {
  schedule?: DiscreteSchedule;
  sigmaData: number;
}

export type NoiseSpec =
  | { distribution: 'uniform-discrete' }
  | { distribution: 'uniform' }
  | { distribution: 'log-normal'; pMean: number; pStd: number }
  | { distribution: 'logit-normal'; m: number; s: number };

export interface Objective {
  name: string;
  describe: string;
  /** the paper that defines it */
  cite: string;
  /** true where the objective is defined on a discrete DDPM schedule (the config's `schedule`) */
  usesSchedule: boolean;
  precond(sigma: number, ctx: ObjectiveContext): Preconditioning;
  /** Closed form of (x0 − c_skip·x)/c_out: exact at small σ, where forming it from x would cancel. */
  target(sigma: number, ctx: ObjectiveContext): TargetCoefficients;
  /** σ range the model is trained on and sampled over. */
  sigmaRange(ctx: ObjectiveContext): [number, number];
  timeMap(ctx: ObjectiveContext): TimeMap;
  /** grid the 'native' samplers (ddpm, ddim, plms) run on by default */
  nativeGrid: 'discrete' | 'uniform-t' | 'karras';
  defaultNoise: NoiseSpec;
  defaultWeighting: string;
}

/** The VP-form α = 1/√(1+σ²) and s = σ/√(1+σ²) of a σ-form noise level (x_t = α·x). */
export function vpOf(sigma: number): { alpha: number; s: number } {
  const alpha = 1 / Math.sqrt(1 + sigma * sigma);
  return { alpha, s: sigma * alpha };
}
