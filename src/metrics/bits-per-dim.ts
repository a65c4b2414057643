// Bits per dimension of 8-bit test images under a pixel or a latent diffusion model, in the same units.
//
// Both numbers are upper bounds on −log₂ P(x) / D for the integer pixels x (D = H·W·C), so they
// compare directly, and both are ≥ 0 (a probability of discrete data is ≤ 1).
import { tf } from '../compute/backend.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import {
  discretizedGaussianLogLik, EIGHT_BIT_SYMMETRIC, hutchinsonDivergence, odeNll, variationalBound,
} from '../diffusion/likelihood.js';
import type { DiscreteSchedule } from '../diffusion/schedules.js';
import type { Vae } from '../models/vae.js';
import { Rng } from '../util/rng.js';

const LN2 = Math.LN2;
const DEQUANT_BITS = EIGHT_BIT_SYMMETRIC.natsPerDim / LN2;
const LOG_2PIE = Math.log(2 * Math.PI * Math.E);

export interface BpdResult {
  /** 'vlb' (pixel), 'ode' (pixel), 'latent-vlb' */
  method: string;
  bitsPerDim: number;
  /** standard error of the mean over images */
  stderr: number;
  /** each image's own bound, in bits/dim (their mean is bitsPerDim) */
  perImage: Float64Array;
  n: number;
  /** data dimensions per image */
  dims: number;
  /** the bound's parts, in bits/dim of the data, summing to bitsPerDim */
  parts: Record<string, number>;
  /** every constant or modelling choice that enters the number, in words */
  notes: string[];
  nfe: number;
  seconds: number;
}

/** Mean and its standard error (sample variance, n − 1) of per-item values. */
export function meanStderr(v: Float64Array): { mean: number; stderr: number } {
  const n = v.length;
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, stderr: Math.sqrt(variance / n) };
}

function chunks(x: tf.Tensor4D, batch: number): { start: number; size: number }[] {
  const out = [];
  for (let i = 0; i < x.shape[0]; i += batch) out.push({ start: i, size: Math.min(batch, x.shape[0] - i) });
  return out;
}

const sliceBatch = (x: tf.Tensor4D, c: { start: number; size: number }) => x.slice([c.start, 0, 0, 0], [c.size, -1, -1, -1]);

export interface PixelBpdOptions {
  method: 'vlb' | 'ode';
  /** vlb: 'all' steps or K stratified steps (unbiased estimate of the sum) */
  terms?: 'all' | number;
  seed?: number;
  batch?: number;
  /** ode: solver tolerances */
  rtol?: number;
  atol?: number;
  /** ode: σ range of the integration (default: the schedule's) */
  sigmaRange?: [number, number];
  /** ode: uniform dequantization draws per image (default 1) */
  dequantDraws?: number;
}

/**
 * Pixel model. 'vlb': the discrete-time bound with the discretized Gaussian decoder (Ho et al. 2020,
 * eq. 5 and 13), a bound on the probability of the 8-bit data itself. 'ode': the probability-flow
 * ODE density of the [−1, 1] images (Hutchinson trace, one Rademacher probe per image) over the
 * model's σ range at x + u, u uniform within each pixel's 2/255-wide bin (K draws per image), plus
 * log 127.5 nats per dimension: E_u[−log p(x + u)] + D·log 127.5 ≥ −log P(x) (Theis et al. 2016), an
 * upper bound like 'vlb'. `schedule`: the steps of
 * the bound (the model's own, or a reference schedule for objectives without one).
 */
export function pixelBitsPerDim(D: Denoiser, schedule: DiscreteSchedule, x: tf.Tensor4D, opts: PixelBpdOptions): BpdResult {
  const rng = new Rng(opts.seed ?? 0);
  const dims = x.shape[1] * x.shape[2] * x.shape[3];
  const perImage = new Float64Array(x.shape[0]);
  const vlbParts = { prior: 0, diffusion: 0, decoder: 0 };
  const notes: string[] = [];
  let nfe = 0;
  const t0 = performance.now();
  for (const c of chunks(x, opts.batch ?? 64)) {
    const xb = sliceBatch(x, c);
    if (opts.method === 'vlb') {
      const r = variationalBound(D, schedule, xb, { decoder: 'discretized', rng, terms: opts.terms ?? 'all' });
      perImage.set(r.nats, c.start);
      const w = c.size / x.shape[0] / (dims * LN2);
      vlbParts.prior += r.prior * w; vlbParts.diffusion += r.diffusion * w; vlbParts.decoder += r.decoder * w;
      nfe += r.nfe;
    } else {
      const [sigmaMin, sigmaMax] = opts.sigmaRange ?? [schedule.sigmas[0], schedule.sigmas[schedule.T - 1]];
      const div = hutchinsonDivergence(D, 'rademacher', rng);
      const K = opts.dequantDraws ?? 1;
      for (let k = 0; k < K; k++) {
        // u ~ U(−1/255, 1/255): uniform over the bin of width 2/255 around each level.
        const xu = tf.tidy(() => xb.add(tf.tensor(Float32Array.from({ length: xb.size }, () => (2 * rng.uniform() - 1) / 255), xb.shape)));
        const r = odeNll(D, div, xu, { sigmaMin, sigmaMax, rtol: opts.rtol ?? 1e-4, atol: opts.atol ?? 1e-4, dequantization: EIGHT_BIT_SYMMETRIC });
        xu.dispose();
        for (let i = 0; i < c.size; i++) perImage[c.start + i] += r.nats[i] / K;
        nfe += r.nfe;
      }
    }
    xb.dispose();
  }
  const { mean, stderr } = meanStderr(perImage);
  const bpd = mean / (dims * LN2);
  if (opts.method === 'vlb') {
    const terms = opts.terms ?? 'all';
    notes.push('variational bound with a discretized Gaussian decoder over the 256 levels: already a probability of the 8-bit data, no dequantization offset');
    notes.push(terms === 'all' ? `every one of the ${schedule.T - 1} KL terms evaluated` : `the ${schedule.T - 1} KL terms estimated without bias from ${terms} stratified timesteps per batch`);
    notes.push('model variance β̃_t; decoder variance β̃_1');
  } else {
    notes.push('probability-flow ODE density (Hutchinson trace estimator, Rademacher probe) from σ_min to σ_max of the model');
    notes.push(`at x + u with u uniform within each pixel's bin, ${opts.dequantDraws ?? 1} draw(s) per image: E_u[−log p(x + u)] + offset bounds −log P(x) from above (Theis et al. 2016)`);
    notes.push(EIGHT_BIT_SYMMETRIC.note);
  }
  const parts: Record<string, number> = opts.method === 'vlb' ? vlbParts : { ode: bpd - DEQUANT_BITS, dequantization: DEQUANT_BITS };
  return { method: opts.method, bitsPerDim: bpd, stderr: stderr / (dims * LN2), perImage: perImage.map((v) => v / (dims * LN2)), n: x.shape[0], dims, parts, notes, nfe, seconds: (performance.now() - t0) / 1000 };
}

/**
 * The decoder's σ for the latent model's likelihood, fit on held-out images: the maximum-likelihood σ
 * of a Gaussian on the reconstruction error, √mean((x − D(z))²), with z ~ q(z|x). A single scalar for
 * all pixels (the autoencoder was trained with an L1/L2 loss and has no variance output of its own).
 */
export function fitDecoderStd(vae: Vae, heldOut: tf.Tensor4D, seed = 0, batch = 64): number {
  const rng = new Rng(seed);
  let sq = 0, count = 0;
  for (const c of chunks(heldOut, batch)) {
    const err = tf.tidy(() => {
      const xb = sliceBatch(heldOut, c);
      const { mean, logvar } = vae.encode(xb);
      const eps = tf.tensor(rng.normals(mean.size), mean.shape);
      const z = mean.add(logvar.mul(0.5).exp().mul(eps)) as tf.Tensor4D;
      return vae.decode(z).sub(xb).square().sum();
    });
    sq += err.dataSync()[0];
    count += c.size * heldOut.shape[1] * heldOut.shape[2] * heldOut.shape[3];
    err.dispose();
  }
  return Math.sqrt(sq / count);
}

export interface LatentBpdOptions {
  /** σ of the discretized Gaussian decoder (see fitDecoderStd) */
  decoderStd: number;
  /** how decoderStd was obtained, for the notes */
  decoderStdSource: string;
  terms?: 'all' | number;
  seed?: number;
  batch?: number;
}

/**
 * The latent model's bound, as LSGM writes it for a VAE with a diffusion prior:
 *   −log P(x) ≤ E_q[−log P(x|z)] − H(q(z|x)) + E_q[−log p(z)],
 * with one z ~ q(z|x) per image. P(x|z) is the discretized Gaussian over 256 levels around the
 * decoder's mean; H is the diagonal Gaussian's entropy; −log p(z) comes from the latent diffusion
 * model's own variational bound on s·z (a continuous density), where s is the latent scale factor:
 * p(z) = p_s(s·z)·s^{d_z}, so −log p(z) = −log p_s(s·z) − d_z log s.
 */
export interface LatentModelParts {
  vae: Vae;
  scaleFactor: number;
  /** the latent diffusion model's denoiser on s·z */
  prior: Denoiser;
  /** the steps of the prior's bound */
  schedule: DiscreteSchedule;
}

export function latentBitsPerDim(b: LatentModelParts, x: tf.Tensor4D, opts: LatentBpdOptions): BpdResult {
  const rng = new Rng(opts.seed ?? 0);
  const dims = x.shape[1] * x.shape[2] * x.shape[3];
  const n = x.shape[0];
  const perImage = new Float64Array(n);
  const acc = { decoder: 0, negEntropy: 0, prior: 0, scaleJacobian: 0 };
  const logStd = Math.log(opts.decoderStd);
  let nfe = 0, zDims = 0;
  const t0 = performance.now();
  for (const c of chunks(x, opts.batch ?? 64)) {
    const xb = sliceBatch(x, c);
    const { mean, logvar } = tf.tidy(() => b.vae.encode(xb));
    const eps = tf.tensor(rng.normals(mean.size), mean.shape);
    const z = tf.tidy(() => mean.add(logvar.mul(0.5).exp().mul(eps))) as tf.Tensor4D;
    const xhat = tf.tidy(() => b.vae.decode(z));
    const zs = tf.tidy(() => z.mul(b.scaleFactor));
    const xv = xb.dataSync(), mv = xhat.dataSync(), lv = logvar.dataSync();
    zDims = mean.size / c.size;
    const prior = variationalBound(b.prior, b.schedule, zs, { decoder: 'gaussian', rng, terms: opts.terms ?? 'all' });
    nfe += prior.nfe + 1; // + the VAE decode, counted as one evaluation
    for (let i = 0; i < c.size; i++) {
      let dec = 0;
      for (let j = 0; j < dims; j++) dec -= discretizedGaussianLogLik(xv[i * dims + j], mv[i * dims + j], logStd);
      let negH = 0;
      for (let j = 0; j < zDims; j++) negH -= 0.5 * (LOG_2PIE + lv[i * zDims + j]);
      const jac = -zDims * Math.log(b.scaleFactor);
      const pz = prior.nats[i] + jac;
      perImage[c.start + i] = dec + negH + pz;
      acc.decoder += dec / n; acc.negEntropy += negH / n; acc.prior += prior.nats[i] / n; acc.scaleJacobian += jac / n;
    }
    tf.dispose([xb, mean, logvar, eps, z, xhat, zs]);
  }
  const { mean, stderr } = meanStderr(perImage);
  const toBpd = (v: number) => v / (dims * LN2);
  const terms = opts.terms ?? 'all';
  return {
    method: 'latent-vlb', bitsPerDim: toBpd(mean), stderr: toBpd(stderr), perImage: perImage.map(toBpd), n, dims,
    parts: { decoder: toBpd(acc.decoder), negEntropy: toBpd(acc.negEntropy), latentPrior: toBpd(acc.prior), scaleJacobian: toBpd(acc.scaleJacobian) },
    notes: [
      `decoder: discretized Gaussian over the 256 levels, σ = ${opts.decoderStd.toFixed(4)} (${opts.decoderStdSource})`,
      'one z ~ q(z|x) per image; −H(q) of the diagonal Gaussian posterior',
      `latent prior: the latent diffusion model's variational bound on s·z (Gaussian decoder, continuous latents), ${terms === 'all' ? 'every step' : `${terms} stratified timesteps`}`,
      `scale factor s = ${b.scaleFactor.toFixed(4)}: −log p(z) = −log p(s·z) − d_z·log s, d_z = ${zDims} (${toBpd(acc.scaleJacobian).toFixed(4)} bits/dim)`,
      'bits/dim over the data dimensions H·W·C, the same images and units as the pixel model',
    ],
    nfe, seconds: (performance.now() - t0) / 1000,
  };
}
