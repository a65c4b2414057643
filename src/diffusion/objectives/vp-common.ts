// What eps, x0 and v share: a discrete DDPM schedule, VP input scaling and the (fractional) timestep as
// the network's noise input, as k-diffusion wraps discrete-time models.
import { discreteSchedule, sigmaToT, tToSigma, type DiscreteSchedule } from '../schedules.js';
import { vpOf, type ObjectiveContext, type TimeMap } from './types.js';

function scheduleOf(ctx: ObjectiveContext): DiscreteSchedule {
  return ctx.schedule ?? discreteSchedule('linear');
}

/** The VP network input x_t = x/√(1+σ²) and the fractional timestep whose σ_t is σ. */
export function vpInput(sigma: number, ctx: ObjectiveContext): { cIn: number; cNoise: number } {
  return { cIn: vpOf(sigma).alpha, cNoise: sigmaToT(scheduleOf(ctx), sigma) };
}

function vpSigmaRange(ctx: ObjectiveContext): [number, number] {
  const s = scheduleOf(ctx);
  return [s.sigmas[0], s.sigmas[s.T - 1]];
}

/** t ∈ [0, 1] ↔ the fractional timestep t·(T − 1), log σ interpolated between table entries. */
export function vpTimeMap(ctx: ObjectiveContext): TimeMap {
  const s = scheduleOf(ctx);
  return { sigma: (t) => tToSigma(s, t * (s.T - 1)), t: (sigma) => sigmaToT(s, sigma) / (s.T - 1) };
}

export const vpCommon = {
  usesSchedule: true,
  sigmaRange: vpSigmaRange,
  timeMap: vpTimeMap,
  nativeGrid: 'discrete' as const,
  defaultNoise: { distribution: 'uniform-discrete' as const },
  defaultWeighting: 'simple',
};
