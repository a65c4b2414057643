// Post-hoc EMA (Karras et al. 2024, EDM2, §3): during training, power-function EMAs of the weights
// are kept for a few lengths σ_rel and saved as snapshots at an interval; afterwards, the weights of
// an EMA of any other length are reconstructed as the least-squares combination of the snapshots
// whose averaging profiles best match the wanted one.
//
// A power-function EMA of exponent γ averages θ_τ over τ ∈ [0, t] with density p(τ) = (γ+1)·τ^γ/t^{γ+1};
// its relative standard deviation is σ_rel = √((γ+1)/((γ+2)²(γ+3))) (at most 1/√12 ≈ 0.289, at γ = 0).
// It is updated as θ̂_t = β_t·θ̂_{t−1} + (1 − β_t)·θ_t with β_t = (1 − 1/t)^{γ+1}.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { solveLinear } from '../util/linalg.js';
import { averageInto } from './optim.js';
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';

/** The largest relative width a power-function EMA has (γ = 0: the plain running mean). */
export const MAX_SIGMA_REL = 1 / Math.sqrt(12);

/**
 * Profile-fit errors (relative L2 of the fitted averaging profile): above WARN a reconstruction is
 * flagged (refused with --strict); above MAX it is refused, since its weights are no EMA of that length.
 */
export const POSTHOC_WARN_ERROR = 0.1;
export const POSTHOC_MAX_ERROR = 0.25;

export function gammaToSigmaRel(gamma: number): number {
  return Math.sqrt((gamma + 1) / ((gamma + 2) ** 2 * (gamma + 3)));
}

/** γ ≥ 0 with the given σ_rel (bisection: σ_rel decreases monotonically in γ on [0, ∞)). */
export function sigmaRelToGamma(sigmaRel: number): number {
  if (!(sigmaRel > 0 && sigmaRel < MAX_SIGMA_REL)) throw new Error(`post-hoc EMA: σ_rel must lie in (0, ${MAX_SIGMA_REL.toFixed(4)}), got ${sigmaRel}`);
  let lo = 0, hi = 1;
  while (gammaToSigmaRel(hi) > sigmaRel) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (gammaToSigmaRel(mid) > sigmaRel) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * ∫ p_a(τ)·p_b(τ) dτ of two power-function profiles (t_a, γ_a) and (t_b, γ_b):
 * (γa+1)(γb+1)·min^{γa+γb+1}/((γa+γb+1)·ta^{γa+1}·tb^{γb+1}), written with the ratio of the two times
 * so that large γ (short EMAs: σ_rel 0.01 is γ ≈ 100) at thousands of steps does not overflow.
 */
export function profileDot(ta: number, ga: number, tb: number, gb: number): number {
  const c = ((ga + 1) * (gb + 1)) / (ga + gb + 1);
  return ta <= tb ? (c * (ta / tb) ** gb) / tb : (c * (tb / ta) ** ga) / ta;
}

export interface Profile { t: number; gamma: number }

/**
 * Coefficients x minimising ∫(Σ_i x_i·p_i − p_target)², i.e. the normal equations A·x = b with A_ij =
 * ⟨p_i, p_j⟩ and b_i = ⟨p_i, p_target⟩; also the relative L2 error of the fitted profile.
 */
export function posthocCoefficients(snapshots: Profile[], target: Profile): { x: number[]; relError: number } {
  if (!snapshots.length) throw new Error('post-hoc EMA: no snapshots');
  const A = snapshots.map((a) => snapshots.map((b) => profileDot(a.t, a.gamma, b.t, b.gamma)));
  const b = snapshots.map((a) => profileDot(a.t, a.gamma, target.t, target.gamma));
  // A tiny ridge keeps nearly collinear profiles (close snapshot times) solvable.
  const trace = A.reduce((s, row, i) => s + row[i], 0) / A.length;
  A.forEach((row, i) => { row[i] += 1e-12 * trace; });
  // Normalised to sum to 1, as EDM2's solve_posthoc_coefficients does (X / X.sum(0)): every profile
  // integrates to 1, and weights that stay constant through training must be reconstructed as they are.
  const raw = solveLinear(A, b), sum = raw.reduce((s, v) => s + v, 0);
  const x = raw.map((v) => v / sum);
  const pp = profileDot(target.t, target.gamma, target.t, target.gamma);
  let fit = 0;
  for (let i = 0; i < x.length; i++) for (let j = 0; j < x.length; j++) fit += x[i] * x[j] * A[i][j];
  const cross = x.reduce((s, xi, i) => s + xi * b[i], 0);
  return { x, relError: Math.sqrt(Math.max(0, fit - 2 * cross + pp) / pp) };
}

/** Power-function EMAs of a parameter set, one per σ_rel, updated after every optimizer step. */
export class PowerEma {
  readonly gammas: number[];
  readonly shadows: Map<string, tf.Variable>[];

  constructor(readonly sigmaRels: number[], params: Map<string, tf.Variable>) {
    this.gammas = sigmaRels.map(sigmaRelToGamma);
    this.shadows = sigmaRels.map(() => new Map([...params].map(([name, p]) => [name, tf.variable(p.clone(), false)])));
  }

  /** After optimizer step `step` (1-based): θ̂ ← β·θ̂ + (1 − β)·θ, β = (1 − 1/step)^{γ+1}. */
  update(params: Map<string, tf.Variable>, step: number): void {
    this.gammas.forEach((g, k) => averageInto(this.shadows[k], params, (1 - 1 / step) ** (g + 1)));
  }

  /** Checkpoint tensor names: phema.<σ_rel>.<param>. */
  static prefix(sigmaRel: number): string {
    return `phema.${sigmaRel}.`;
  }

  dispose(): void {
    for (const m of this.shadows) for (const v of m.values()) v.dispose();
  }
}

const SNAPSHOT = /^snapshot-(\d+)\.safetensors$/;
export const snapshotDir = (stageDir: string) => path.join(stageDir, 'posthoc');

/** Writes the EMAs at `step` to <stage>/posthoc/snapshot-<step>.safetensors (atomically). */
export function saveSnapshot(stageDir: string, ema: PowerEma, step: number): string {
  const dir = snapshotDir(stageDir);
  fs.mkdirSync(dir, { recursive: true });
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  ema.sigmaRels.forEach((s, k) => {
    for (const [name, v] of ema.shadows[k]) tensors[`${PowerEma.prefix(s)}${name}`] = { shape: v.shape, data: v.dataSync() as Float32Array };
  });
  const file = path.join(dir, `snapshot-${String(step).padStart(6, '0')}.safetensors`);
  writeSafetensors(file, tensors, { step: String(step), sigmaRels: JSON.stringify(ema.sigmaRels), gammas: JSON.stringify(ema.gammas) });
  return file;
}

/** Removes the snapshots of a stage directory (a run started over), or those after `afterStep` (a resume). */
export function removeSnapshots(stageDir: string, afterStep = -1): void {
  const dir = snapshotDir(stageDir);
  if (!fs.existsSync(dir)) return;
  for (const f of fs.readdirSync(dir)) {
    const m = SNAPSHOT.exec(f);
    if (m && Number(m[1]) > afterStep) fs.rmSync(path.join(dir, f));
  }
}

export interface SnapshotSet {
  files: { file: string; step: number }[];
  sigmaRels: number[];
}

/** The snapshots saved up to `maxStep`, in step order. */
export function listSnapshots(stageDir: string, maxStep = Infinity): SnapshotSet {
  const dir = snapshotDir(stageDir);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => ({ f, m: SNAPSHOT.exec(f) })).filter((e) => e.m && Number(e.m[1]) <= maxStep)
    .map((e) => ({ file: path.join(dir, e.f), step: Number(e.m![1]) })).sort((a, b) => a.step - b.step) : [];
  if (!files.length) throw new Error(`${dir}: no post-hoc EMA snapshots${Number.isFinite(maxStep) ? ` up to step ${maxStep}` : ''}; train with train.posthocEma to keep them`);
  const { metadata } = readSafetensors(files[0].file);
  return { files, sigmaRels: JSON.parse(metadata.sigmaRels ?? '[]') as number[] };
}

/**
 * The weights of the power-function EMA of length σ_rel at step `atStep` (default: the last
 * snapshot's), as the least-squares combination of every snapshot up to it.
 */
export function reconstructPosthoc(stageDir: string, sigmaRel: number, atStep?: number, maxError = POSTHOC_MAX_ERROR): { weights: Map<string, { shape: number[]; data: Float32Array }>; coefficients: number[]; relError: number; snapshots: number; step: number } {
  const all = listSnapshots(stageDir);
  const last = all.files[all.files.length - 1].step;
  if (atStep !== undefined && atStep > last) throw new PosthocFitError(`post-hoc EMA at step ${atStep}: the last snapshot is at step ${last}; an EMA can be reconstructed at steps up to it`);
  const set = listSnapshots(stageDir, atStep);
  const step = atStep ?? last;
  const profiles: Profile[] = [], keys: { file: string; prefix: string }[] = [];
  for (const f of set.files) for (const s of set.sigmaRels) { profiles.push({ t: f.step, gamma: sigmaRelToGamma(s) }); keys.push({ file: f.file, prefix: PowerEma.prefix(s) }); }
  const { x, relError } = posthocCoefficients(profiles, { t: step, gamma: sigmaRelToGamma(sigmaRel) });
  if (!(relError <= maxError)) {
    const r = reachableSigmaRels(profiles, step, maxError);
    throw new PosthocFitError(`post-hoc EMA σ_rel ${sigmaRel} at step ${step}: the ${set.files.length} snapshots (σ_rel ${set.sigmaRels.join(', ')}) fit its averaging profile with ${Number.isFinite(relError) ? `${(100 * relError).toFixed(1)}%` : 'unbounded'} error, above the ${(100 * maxError).toFixed(0)}% bound; ${r ? `with these snapshots σ_rel ${r[0].toPrecision(2)}–${r[1].toPrecision(2)} reconstructs within it` : 'no σ_rel reconstructs within it at this step'} (other train.posthocEma lengths or more snapshots widen the range); nothing written`);
  }
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  let cache: { file: string; tensors: ReturnType<typeof readSafetensors>['tensors'] } | undefined;
  keys.forEach((k, i) => {
    if (cache?.file !== k.file) cache = { file: k.file, tensors: readSafetensors(k.file).tensors };
    for (const [key, t] of Object.entries(cache.tensors)) {
      if (!key.startsWith(k.prefix)) continue;
      const name = key.slice(k.prefix.length);
      if (!weights.has(name)) weights.set(name, { shape: t.shape, data: new Float32Array(t.data.length) });
      const acc = weights.get(name)!.data, src = t.data as Float32Array;
      for (let j = 0; j < acc.length; j++) acc[j] += x[i] * src[j];
    }
  });
  return { weights, coefficients: x, relError, snapshots: set.files.length, step };
}

export class PosthocFitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PosthocFitError';
  }
}

/** The σ_rel range (lowest, highest on a log grid) that `profiles` reconstruct at step t within `bound`. */
export function reachableSigmaRels(profiles: Profile[], t: number, bound: number): [number, number] | undefined {
  const ok: number[] = [];
  for (let i = 0; i <= 120; i++) {
    const s = 1e-3 * (MAX_SIGMA_REL * 0.999 / 1e-3) ** (i / 120);
    if (posthocCoefficients(profiles, { t, gamma: sigmaRelToGamma(s) }).relError <= bound) ok.push(s);
  }
  return ok.length ? [ok[0], ok[ok.length - 1]] : undefined;
}

/** Writes reconstructed weights as <stage>/posthoc/ema-<σ_rel>-step-<step>.safetensors (ema.<param> names). */
export function writeReconstruction(stageDir: string, sigmaRel: number, r: ReturnType<typeof reconstructPosthoc>): string {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of r.weights) tensors[`ema.${name}`] = t;
  const file = path.join(snapshotDir(stageDir), `ema-${sigmaRel}-step-${String(r.step).padStart(6, '0')}.safetensors`);
  writeSafetensors(file, tensors, { sigmaRel: String(sigmaRel), step: String(r.step), snapshots: String(r.snapshots), relError: String(r.relError) });
  return file;
}

