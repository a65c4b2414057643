// Noise schedules: β, ᾱ, σ and log-SNR tables (discrete), continuous-time VP/VE, and sampling sigmas.
//
// Conventions: a discrete schedule has T steps indexed t = 0..T−1, where t = 0 is the least noisy.
// σ_t = √((1−ᾱ_t)/ᾱ_t) is the noise level of the equivalent variance-exploding process
// x/√ᾱ = x0 + σ·ε (Karras et al. 2022), and logSnr_t = log(ᾱ_t/(1−ᾱ_t)) = −2·log σ_t.
// All tables are float64.

export type DiscreteScheduleName = 'linear' | 'scaled-linear' | 'cosine' | 'sigmoid';
export const DISCRETE_SCHEDULES: DiscreteScheduleName[] = ['linear', 'scaled-linear', 'cosine', 'sigmoid'];

export interface DiscreteSchedule {
  kind: 'discrete';
  name: string;
  T: number;
  betas: Float64Array;
  alphas: Float64Array;
  alphasCumprod: Float64Array;
  sigmas: Float64Array;
  logSnr: Float64Array;
}

export interface DiscreteScheduleOptions {
  T?: number;
  betaStart?: number;
  betaEnd?: number;
  /** cosine: the offset s of Nichol & Dhariwal (2021). */
  cosineS?: number;
  /** cosine: β is clipped to this (0.999 in improved-diffusion). */
  maxBeta?: number;
  /** Rescale to zero terminal SNR (Lin et al. 2024, Algorithm 1). */
  zeroTerminalSnr?: boolean;
}

export class ScheduleError extends Error {
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ScheduleError';
  }
}

function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? a : a + ((b - a) * i) / (n - 1);
  return out;
}

/** Builds every table of a discrete schedule from its β_t. */
export function fromBetas(name: string, betas: Float64Array): DiscreteSchedule {
  const T = betas.length;
  const alphas = new Float64Array(T), alphasCumprod = new Float64Array(T), sigmas = new Float64Array(T), logSnr = new Float64Array(T);
  let prod = 1;
  for (let t = 0; t < T; t++) {
    if (!(betas[t] > 0 && betas[t] <= 1)) throw new ScheduleError(`${name}.betas[${t}]`, `β must lie in (0, 1], got ${betas[t]}`);
    alphas[t] = 1 - betas[t];
    prod *= alphas[t];
    alphasCumprod[t] = prod;
    sigmas[t] = Math.sqrt((1 - prod) / prod);
    logSnr[t] = Math.log(prod) - Math.log1p(-prod);
  }
  return { kind: 'discrete', name, T, betas, alphas, alphasCumprod, sigmas, logSnr };
}

/** Builds the tables from ᾱ_t directly (β_t = 1 − ᾱ_t/ᾱ_{t−1}), keeping ᾱ exact, e.g. ᾱ_T = 0. */
export function fromAlphasCumprod(name: string, alphasCumprod: Float64Array): DiscreteSchedule {
  const T = alphasCumprod.length;
  const betas = new Float64Array(T), alphas = new Float64Array(T), sigmas = new Float64Array(T), logSnr = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    alphas[t] = t === 0 ? alphasCumprod[0] : alphasCumprod[t] / alphasCumprod[t - 1];
    betas[t] = 1 - alphas[t];
    const a = alphasCumprod[t];
    sigmas[t] = a === 0 ? Infinity : Math.sqrt((1 - a) / a);
    logSnr[t] = a === 0 ? -Infinity : Math.log(a) - Math.log1p(-a);
  }
  return { kind: 'discrete', name, T, betas, alphas, alphasCumprod: Float64Array.from(alphasCumprod), sigmas, logSnr };
}

/**
 * Zero-terminal-SNR rescale (Lin et al. 2024, Alg. 1): shift and scale √ᾱ so that √ᾱ_{T−1} = 0
 * while √ᾱ_0 is unchanged.
 */
export function rescaleZeroTerminalSnr(s: DiscreteSchedule): DiscreteSchedule {
  const sq = Array.from(s.alphasCumprod, Math.sqrt);
  const first = sq[0], last = sq[sq.length - 1];
  const ac = new Float64Array(sq.length);
  for (let t = 0; t < sq.length; t++) {
    const v = ((sq[t] - last) * first) / (first - last);
    ac[t] = v * v;
  }
  ac[sq.length - 1] = 0;
  return fromAlphasCumprod(`${s.name}+zero-snr`, ac);
}

/** One of the named discrete schedules, with the defaults of the paper that introduced it. */
export function discreteSchedule(name: DiscreteScheduleName, opts: DiscreteScheduleOptions = {}): DiscreteSchedule {
  const T = opts.T ?? 1000;
  if (!Number.isInteger(T) || T < 2) throw new ScheduleError('T', `expected an integer ≥ 2, got ${T}`);
  let s: DiscreteSchedule;
  switch (name) {
    case 'linear': // Ho et al. 2020
      s = fromBetas(name, linspace(opts.betaStart ?? 1e-4, opts.betaEnd ?? 0.02, T));
      break;
    case 'scaled-linear': { // LDM / Stable Diffusion: √β linear
      const b = linspace(Math.sqrt(opts.betaStart ?? 0.00085), Math.sqrt(opts.betaEnd ?? 0.012), T);
      s = fromBetas(name, b.map((v) => v * v));
      break;
    }
    case 'cosine': { // Nichol & Dhariwal 2021, eq. 17 with β clipped at maxBeta
      const sOff = opts.cosineS ?? 0.008, maxBeta = opts.maxBeta ?? 0.999;
      const f = (u: number) => Math.cos(((u + sOff) / (1 + sOff)) * (Math.PI / 2)) ** 2;
      const betas = new Float64Array(T);
      for (let i = 0; i < T; i++) betas[i] = Math.min(1 - f((i + 1) / T) / f(i / T), maxBeta);
      s = fromBetas(name, betas);
      break;
    }
    case 'sigmoid': { // as diffusers' beta_schedule="sigmoid": β = σ(linspace(−6, 6)) scaled into [start, end]
      const start = opts.betaStart ?? 1e-4, end = opts.betaEnd ?? 0.02;
      s = fromBetas(name, linspace(-6, 6, T).map((v) => start + (end - start) / (1 + Math.exp(-v))));
      break;
    }
    default:
      throw new ScheduleError('schedule.name', `unknown schedule '${name as string}'; expected one of ${DISCRETE_SCHEDULES.join(', ')}`);
  }
  return opts.zeroTerminalSnr ? rescaleZeroTerminalSnr(s) : s;
}

// ---- continuous time ----

/** Continuous VP SDE (Song et al. 2021): β(t) = β_min + t(β_max − β_min), t ∈ [0, 1]. */
export interface VpContinuous {
  kind: 'vp';
  betaMin: number;
  betaMax: number;
}

export function vpSchedule(betaMin = 0.1, betaMax = 20): VpContinuous {
  return { kind: 'vp', betaMin, betaMax };
}

/** log ᾱ(t) = −½∫₀ᵗ β(s) ds = −¼t²(β_max − β_min) − ½tβ_min. */
export function vpLogAlphaCumprod(s: VpContinuous, t: number): number {
  return -0.25 * t * t * (s.betaMax - s.betaMin) - 0.5 * t * s.betaMin;
}

export function vpSigma(s: VpContinuous, t: number): number {
  return Math.sqrt(Math.expm1(-vpLogAlphaCumprod(s, t)));
}

/** The t ∈ [0, 1] at which the VP process has noise level σ (inverse of vpSigma). */
export function vpSigmaToT(s: VpContinuous, sigma: number): number {
  // Solve ¼Δβ t² + ½β_min t − log(1+σ²) = 0 for the positive root.
  const a = 0.25 * (s.betaMax - s.betaMin), b = 0.5 * s.betaMin, c = -Math.log1p(sigma * sigma);
  return a === 0 ? -c / b : (-b + Math.sqrt(b * b - 4 * a * c)) / (2 * a);
}

/** Continuous VE SDE (Song et al. 2021): σ(t) = σ_min (σ_max/σ_min)^t. */
export interface VeContinuous {
  kind: 've';
  sigmaMin: number;
  sigmaMax: number;
}

export function veSchedule(sigmaMin = 0.01, sigmaMax = 50): VeContinuous {
  return { kind: 've', sigmaMin, sigmaMax };
}

export function veSigma(s: VeContinuous, t: number): number {
  return s.sigmaMin * (s.sigmaMax / s.sigmaMin) ** t;
}

export function veSigmaToT(s: VeContinuous, sigma: number): number {
  return Math.log(sigma / s.sigmaMin) / Math.log(s.sigmaMax / s.sigmaMin);
}

// ---- sampling sigmas (σ space, decreasing, with a final 0) ----

/** Karras et al. 2022, eq. 5: σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then 0. */
export function karrasSigmas(n: number, sigmaMin = 0.002, sigmaMax = 80, rho = 7): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new ScheduleError('steps', `expected an integer ≥ 1, got ${n}`);
  const out = new Float64Array(n + 1);
  const a = sigmaMax ** (1 / rho), b = sigmaMin ** (1 / rho);
  for (let i = 0; i < n; i++) out[i] = (a + (n === 1 ? 0 : i / (n - 1)) * (b - a)) ** rho;
  return out; // out[n] = 0
}

/** Log-linear sigmas from σ_max to σ_min, then 0. */
export function exponentialSigmas(n: number, sigmaMin = 0.002, sigmaMax = 80): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new ScheduleError('steps', `expected an integer ≥ 1, got ${n}`);
  const out = new Float64Array(n + 1);
  const ls = linspace(Math.log(sigmaMax), Math.log(sigmaMin), n);
  for (let i = 0; i < n; i++) out[i] = Math.exp(ls[i]);
  return out;
}

// ---- discrete t ↔ σ ----

/** σ at a fractional discrete time, interpolating log σ linearly between table entries. */
export function tToSigma(s: DiscreteSchedule, t: number): number {
  if (t <= 0) return s.sigmas[0];
  if (t >= s.T - 1) return s.sigmas[s.T - 1];
  const lo = Math.floor(t), w = t - lo;
  return Math.exp((1 - w) * Math.log(s.sigmas[lo]) + w * Math.log(s.sigmas[lo + 1]));
}

/** The fractional discrete time whose σ is `sigma` (inverse of tToSigma, as k-diffusion's sigma_to_t). */
export function sigmaToT(s: DiscreteSchedule, sigma: number): number {
  const ls = Math.log(sigma), tab = s.sigmas;
  if (sigma <= tab[0]) return 0;
  if (sigma >= tab[s.T - 1]) return s.T - 1;
  let lo = 0, hi = s.T - 1; // σ increases with t: binary search
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (tab[mid] <= sigma) lo = mid; else hi = mid;
  }
  const a = Math.log(tab[lo]), b = Math.log(tab[hi]);
  return lo + (ls - a) / (b - a);
}

// ---- timestep spacing for sampling with fewer steps ----

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export const TIMESTEP_SPACINGS: TimestepSpacing[] = ['leading', 'trailing', 'linspace'];

/**
 * The default timestep spacing of discrete grids: 'trailing' (Lin et al. 2024, Table 2), which starts
 * at the schedule's last step and so at its full noise level; 'leading' never reaches it.
 */
export const DEFAULT_SPACING: TimestepSpacing = 'trailing';

/** Rounds half to even, as NumPy's np.round (and so diffusers' timestep spacings) does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The `steps` training timesteps a sampler visits, in decreasing order, named as diffusers names them
 * (see Lin et al. 2024, Table 2): linspace = round(linspace(0, T−1, n)); leading = k·⌊T/n⌋ + offset;
 * trailing = round(T − k·T/n) − 1.
 */
export function samplingTimesteps(T: number, steps: number, spacing: TimestepSpacing = DEFAULT_SPACING, offset = 0): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T) throw new ScheduleError('steps', `expected an integer in [1, ${T}], got ${steps}`);
  const out: number[] = [];
  switch (spacing) {
    case 'linspace':
      for (let k = 0; k < steps; k++) out.push(roundHalfEven(steps === 1 ? 0 : (k * (T - 1)) / (steps - 1)));
      return out.reverse();
    case 'leading': {
      const ratio = Math.floor(T / steps);
      for (let k = 0; k < steps; k++) out.push(k * ratio + offset);
      return out.reverse();
    }
    case 'trailing': {
      const ratio = T / steps;
      for (let k = 0; k < steps; k++) out.push(roundHalfEven(T - k * ratio) - 1);
      return out;
    }
    default:
      throw new ScheduleError('spacing', `unknown timestep spacing '${spacing as string}'; expected one of ${TIMESTEP_SPACINGS.join(', ')}`);
  }
}
