// The noise levels a model is trained on: distributions over σ (or over a time t that maps to σ), the
// resolution shift of those levels, and the density of λ = log SNR = −2·log σ they induce (which the
// λ-weightings 'vlb' and 'sigmoid' divide by, so that their objective does not depend on the sampling
// distribution; Kingma & Gao 2023, eq. 5).
import type { Rng } from '../util/rng.js';
import type { NoiseSpec, Objective, ObjectiveContext, TimeMap } from './objectives/index.js';
import type { DiscreteSchedule } from './schedules.js';

export const NOISE_DISTRIBUTIONS = ['uniform-discrete', 'uniform', 'log-normal', 'logit-normal'] as const;

/**
 * A resolution shift, as a factor α on σ. SD3's t' = α·t/(1 + (α−1)·t) on rectified-flow time
 * (Esser et al. 2024, eq. 23) is exactly σ' = α·σ with σ = t/(1−t); simple diffusion's
 * logSNR' = logSNR + 2·log(base/resolution) (Hoogeboom et al. 2023) is σ' = (resolution/base)·σ.
 * So every shift is a multiplication of σ, applied the same way to training levels and sampling grids.
 */
export type ShiftSpec = number | { base: number; resolution: number };

export function shiftFactor(s: ShiftSpec | undefined): number {
  if (s === undefined) return 1;
  const a = typeof s === 'number' ? s : s.resolution / s.base;
  if (!(a > 0) || !Number.isFinite(a)) throw new Error(`noise.shift: expected a positive factor, got ${JSON.stringify(s)}`);
  return a;
}

/** SD3's shifted time (Esser et al. 2024): t' = α·t / (1 + (α − 1)·t). */
export function sd3ShiftT(t: number, alpha: number): number {
  return (alpha * t) / (1 + (alpha - 1) * t);
}

/** Simple diffusion's shifted log-SNR (Hoogeboom et al. 2023, §3.1): logSNR + 2·log(base/resolution). */
export function shiftLogSnr(logSnr: number, base: number, resolution: number): number {
  return logSnr + 2 * Math.log(base / resolution);
}

export type NoiseConfig = NoiseSpec & { shift?: ShiftSpec };

export interface NoiseLevels {
  spec: NoiseConfig;
  /** the shift factor α (1: none) */
  alpha: number;
  /** n noise levels σ (shift applied) */
  sample(rng: Rng, n: number): Float64Array;
  /**
   * Density of λ = −2·log σ at a σ this distribution draws. For the discrete distribution, the
   * density that makes ½·e^λ/p(λ) the discrete bound's weight T·½·(SNR_{t−1} − SNR_t) of that step.
   */
  lambdaDensity(sigma: number): number;
  describe: string;
}

const logitOf = (t: number) => Math.log(t / (1 - t));
const normalPdf = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);

/** |dλ/dt| of a time map, by a central difference in log σ (exact for piecewise log-linear maps). */
function dLambdaDt(map: TimeMap, t: number): number {
  const h = 1e-6, lo = Math.max(0, t - h), hi = Math.min(1, t + h);
  return Math.abs((2 * (Math.log(map.sigma(hi)) - Math.log(map.sigma(lo)))) / (hi - lo));
}

function discreteLevels(s: DiscreteSchedule, alpha: number): Pick<NoiseLevels, 'sample' | 'lambdaDensity'> {
  const snr = (t: number) => 1 / (alpha * s.sigmas[t]) ** 2;
  const index = (sigma: number) => {
    // The table is increasing in t: binary search for the entry equal to σ/α.
    const target = sigma / alpha;
    let lo = 0, hi = s.T - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.sigmas[mid] < target) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  return {
    sample: (rng, n) => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = alpha * s.sigmas[rng.int(s.T)];
      return out;
    },
    lambdaDensity: (sigma) => {
      const t = index(sigma);
      // At t = 0 the bound's term is the decoder's, weight 1/(2β_0) = ½(SNR_0 + 1) unshifted.
      const dSnr = t > 0 ? snr(t - 1) - snr(t) : snr(0) + 1;
      return snr(t) / (s.T * dSnr);
    },
  };
}

/** The training noise levels of a config's `noise` block for a model with this objective. */
export function noiseLevels(spec: NoiseConfig, objective: Objective, ctx: ObjectiveContext): NoiseLevels {
  const alpha = shiftFactor(spec.shift);
  const shiftNote = alpha === 1 ? '' : `, σ shifted ×${+alpha.toFixed(4)}`;
  const map = objective.timeMap(ctx);
  switch (spec.distribution) {
    case 'uniform-discrete': {
      if (!ctx.schedule) throw new Error(`noise.distribution: 'uniform-discrete' needs a discrete schedule; the '${objective.name}' objective has none (use uniform, log-normal or logit-normal)`);
      return { spec, alpha, ...discreteLevels(ctx.schedule, alpha), describe: `t uniform over the ${ctx.schedule.T} steps of the ${ctx.schedule.name} schedule${shiftNote}` };
    }
    case 'uniform': {
      // Uniform over the objective's σ range in time (flow: t ∈ [10⁻⁴, 0.999], since t = 1 is σ = ∞).
      const [lo, hi] = objective.sigmaRange(ctx).map((x) => map.t(x));
      return {
        spec, alpha,
        sample: (rng, n) => Float64Array.from({ length: n }, () => alpha * map.sigma(lo + (hi - lo) * rng.uniform())),
        lambdaDensity: (sigma) => 1 / ((hi - lo) * dLambdaDt(map, map.t(sigma / alpha))),
        describe: `t ~ U(${+lo.toPrecision(3)}, ${+hi.toPrecision(3)}) through the ${objective.name} objective's time map${shiftNote}`,
      };
    }
    case 'log-normal': {
      // log σ ~ N(P_mean, P_std²) (Karras et al. 2022): λ = −2·log σ ~ N(−2·(P_mean + log α), (2·P_std)²).
      const { pMean, pStd } = spec;
      return {
        spec, alpha,
        sample: (rng, n) => Float64Array.from(rng.normals(n), (z) => alpha * Math.exp(pMean + pStd * z)),
        lambdaDensity: (sigma) => normalPdf((Math.log(sigma / alpha) - pMean) / pStd) / (2 * pStd),
        describe: `log σ ~ N(${pMean}, ${pStd}²)${shiftNote}`,
      };
    }
    case 'logit-normal': {
      // logit t ~ N(m, s²) (Esser et al. 2024) on the objective's time map; p(λ) = p(t)·|dt/dλ|.
      const { m, s } = spec;
      return {
        spec, alpha,
        sample: (rng, n) => Float64Array.from(rng.normals(n), (z) => alpha * map.sigma(1 / (1 + Math.exp(-(m + s * z))))),
        lambdaDensity: (sigma) => {
          const t = map.t(sigma / alpha);
          if (!(t > 0 && t < 1)) return 0;
          const pt = normalPdf((logitOf(t) - m) / s) / (s * t * (1 - t));
          return pt / dLambdaDt(map, t);
        },
        describe: `logit t ~ N(${m}, ${s}²) through the ${objective.name} objective's time map${shiftNote}`,
      };
    }
  }
}
