// DDIM (Song et al. 2021) and ancestral DDPM (Ho et al. 2020) written over a σ grid.
//
// A discrete VP step t has ᾱ_t = 1/(1 + σ_t²) exactly, so both samplers run on any decreasing σ grid
// (usually the training timesteps chosen by a spacing rule) and move between σ form x and VP form
// x_vp = √ᾱ·x internally.
import { tf } from '../../compute/backend.js';
import { noiseLike, requireRng, runSingleEvalSteps, type SampleResult, type SamplerOptions, type Denoiser } from './types.js';

const abar = (sigma: number) => 1 / (1 + sigma * sigma);

/**
 * DDIM (eq. 12): x_{t'} = √ᾱ'·x̂0 + √(1 − ᾱ' − σ_η²)·ε̂ + σ_η·z with
 * σ_η = η·√((1−ᾱ')/(1−ᾱ))·√(1 − ᾱ/ᾱ'). η = 0 is deterministic (and equals Euler in σ space);
 * η = 1 equals ancestral DDPM with the β̃ variance.
 */
export function sampleDdim(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const eta = opts.eta ?? 0;
  const rng = eta > 0 ? requireRng(opts, 'ddim with eta > 0') : undefined;
  const s = opts.sigmas;
  return runSingleEvalSteps(denoiser, xT, opts, (x, den, i) => {
    const a = abar(s[i]), aN = abar(s[i + 1]);
    const eps = x.sub(den).div(s[i]);
    const sEta = eta * Math.sqrt((1 - aN) / (1 - a)) * Math.sqrt(1 - a / aN);
    let xvp = den.mul(Math.sqrt(aN)).add(eps.mul(Math.sqrt(Math.max(0, 1 - aN - sEta * sEta))));
    if (sEta > 0) xvp = xvp.add(noiseLike(rng!, x).mul(sEta));
    return xvp.div(Math.sqrt(aN));
  });
}

/**
 * Ancestral sampling from p(x_{t'}|x_t) = q(x_{t'}|x_t, x̂0) (Ho et al. 2020, eqs. 6–7), generalised
 * to skipped steps with β = 1 − ᾱ_t/ᾱ_{t'}: variance β̃ = (1−ᾱ')/(1−ᾱ)·β or β itself. No noise is
 * added on the last step (to σ = 0), which returns the posterior mean x̂0.
 */
export function sampleDdpm(denoiser: Denoiser, xT: tf.Tensor, opts: SamplerOptions): SampleResult {
  const rng = requireRng(opts, 'ddpm');
  const s = opts.sigmas;
  return runSingleEvalSteps(denoiser, xT, opts, (x, den, i) => {
    const a = abar(s[i]), aN = abar(s[i + 1]), beta = 1 - a / aN;
    const coefX0 = (Math.sqrt(aN) * beta) / (1 - a);
    const coefXt = (Math.sqrt(a / aN) * (1 - aN)) / (1 - a);
    const variance = opts.variance === 'beta' ? beta : ((1 - aN) / (1 - a)) * beta;
    const mean = den.mul(coefX0).add(x.mul(Math.sqrt(a)).mul(coefXt));
    return mean.add(noiseLike(rng, x).mul(Math.sqrt(variance))).div(Math.sqrt(aN));
  });
}
