// Where an experiment's models live and whether they are trained: their own directory, a finished
// \`difflab train\` run or another experiment's model with the same config hash, and the autoencoders
// that latent models with the same seed, data and vae block share.
import fs from 'node:fs';
import path from 'node:path';
import { backendEntry } from '../backends/index.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { readJsonFile } from '../util/fs.js';
import { acquireLock, processAlive } from '../util/lock.js';
import { configHash, type ResolvedExperiment, type ResolvedModel } from './config.js';

/** The trained models an experiment's grid evaluates (its backends other than 'analytic' and 'toy'). */
export function modelBackends(exp: ResolvedExperiment): string[] {
  return [...new Set((exp.grid?.backends ?? []).filter((b) => b !== 'analytic' && b !== 'toy'))];
}

export function modelDir(exp: ResolvedExperiment, name: string, resultsRoot: string): string {
  const { out: _out, ...cfg } = exp.models[name];
  return path.join(resultsRoot, exp.name, 'models', `${name}-${configHash(cfg)}`);
}

/**
 * Where a model's checkpoints are: its own directory under the experiment, or — when that holds no
 * finished training — `<results>/train/<config name>/` if \`difflab train\` finished the same config
 * there (same hash), so a model trained once on its own is reused rather than trained again.
 */
export function resolveModelDir(exp: ResolvedExperiment, name: string, resultsRoot: string): string {
  const own = modelDir(exp, name, resultsRoot), cfg = exp.models[name];
  if (trained(own, cfg)) return own;
  const { out: _out, ...wanted } = cfg;
  const hash = configHash(wanted);
  const standalone = path.join(resultsRoot, 'train', cfg.name);
  if (savedHash(standalone, 'diffusion') === hash && trained(standalone, cfg)) return standalone;
  // The same model (same config, name included) trained by another experiment under this results root.
  for (const d of trainedElsewhere(resultsRoot, (dir) => dir.endsWith(`-${hash}`) && dir !== own)) {
    if (savedHash(d, 'diffusion') === hash && trained(d, cfg)) return d;
  }
  return own;
}

/** The config hash a stage's latest checkpoint was trained with (the keys the trainer adds left out). */
function savedHash(dir: string, stage: string, pick?: (c: Record<string, unknown>) => unknown): string | undefined {
  const base = latestCheckpoint(path.join(dir, stage));
  if (!base) return undefined;
  const { out: _o, scaleFactor: _s, dataShape: _d, trainImages: _t, ...saved } = readJsonFile<{ config: Record<string, unknown> }>(`${base}.json`, 'a checkpoint sidecar').config;
  return configHash(pick ? pick(saved) : saved);
}

/** Model directories of every experiment under a results root (results/<experiment>/models/<dir>) that `keep` accepts. */
function trainedElsewhere(root: string, keep: (dir: string) => boolean): string[] {
  if (!fs.existsSync(root)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(root).sort()) {
    const models = path.join(root, e, 'models');
    if (!fs.existsSync(models) || !fs.statSync(models).isDirectory()) continue;
    for (const m of fs.readdirSync(models).sort()) if (keep(path.join(models, m))) out.push(path.join(models, m));
  }
  return out;
}

/**
 * The latent models among `names` that would share one autoencoder, grouped (each group's models in
 * order), leaving out models already trained and groups whose autoencoder exists under the root.
 */
export function autoencoderGroups(exp: ResolvedExperiment, names: string[], root = 'results'): string[][] {
  const groups = new Map<string, string[]>();
  for (const n of names) {
    const cfg = { ...exp.models[n], out: resolveModelDir(exp, n, root) };
    if (cfg.backend !== 'latent' || trained(cfg.out, cfg) || latestCheckpoint(path.join(cfg.out, 'vae'))) continue;
    const k = configHash(vaeKey(cfg as unknown as Record<string, unknown>));
    groups.set(k, [...(groups.get(k) ?? []), n]);
  }
  return [...groups.values()].filter((g) => !hasAutoencoder(exp.models[g[0]], root));
}

/** True when a finished autoencoder for this model's seed, data and vae block exists under the root. */
function hasAutoencoder(cfg: ResolvedModel, root: string): boolean {
  return autoencoderDonor(cfg, root, '') !== undefined;
}

/** What decides a latent model's autoencoder: seed, data and the vae block. */
const vaeKey = (c: Record<string, unknown>) => ({ seed: c.seed, data: c.data, vae: c.vae });

/**
 * A latent model whose autoencoder stage has not run takes a finished one with the same seed, data and
 * vae block from another model under the results root (copied into its own vae/ directory, so that
 * each run directory stays whole): the diffusion models of one sweep share one autoencoder, as in
 * the LDM recipe, and it is trained once. Returns the directory it came from.
 */
export function shareAutoencoder(cfg: ResolvedModel & { out: string }, root: string): string | undefined {
  if (cfg.backend !== 'latent' || latestCheckpoint(path.join(cfg.out, 'vae'))) return undefined;
  const d = autoencoderDonor(cfg, root, cfg.out);
  if (!d) return undefined;
  const dst = path.join(cfg.out, 'vae'), tmp = `${dst}.copy-${process.pid}`;
  // An autoencoder stage that was stopped before its first checkpoint: refuse while its process still
  // runs (its lock says so); otherwise keep what it wrote (its loss log) beside the copy.
  const interrupted = fs.existsSync(dst);
  if (interrupted) acquireLock(path.join(dst, '.lock'), `the autoencoder stage in ${dst}`, () => undefined).release();
  fs.mkdirSync(cfg.out, { recursive: true });
  // Half-made copies of processes that died while copying (this one's own included).
  for (const f of fs.readdirSync(cfg.out)) {
    const m = /^vae\.copy-(\d+)$/.exec(f);
    if (m && (Number(m[1]) === process.pid || !processAlive(Number(m[1])))) fs.rmSync(path.join(cfg.out, f), { recursive: true, force: true });
  }
  fs.cpSync(path.join(d, 'vae'), tmp, { recursive: true, filter: (f) => !/\.lock$/.test(f) });
  if (interrupted) fs.renameSync(dst, `${dst}.interrupted-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  fs.renameSync(tmp, dst);
  return d;
}

/** A model directory under the root (not `self`) with a finished autoencoder stage for this model's seed, data and vae block. */
function autoencoderDonor(cfg: ResolvedModel, root: string, self: string): string | undefined {
  if (cfg.backend !== 'latent') return undefined;
  const want = configHash(vaeKey(cfg as unknown as Record<string, unknown>));
  const stepOf = (d: string) => readJsonFile<{ step: number }>(`${latestCheckpoint(path.join(d, 'vae'))}.json`, 'a checkpoint sidecar').step;
  const train = path.join(root, 'train');
  const donors = [...trainedElsewhere(root, () => true), ...(fs.existsSync(train) ? fs.readdirSync(train).sort().map((d) => path.join(train, d)) : [])];
  return donors.find((d) => (!self || path.resolve(d) !== path.resolve(self)) && savedHash(d, 'vae', vaeKey) === want && stepOf(d) >= cfg.vae!.train.steps);
}

/** True when the model's checkpoints reach the configured number of steps (all stages). */
export function trained(dir: string, cfg: ResolvedModel): boolean {
  const stepOf = (d: string) => {
    const base = latestCheckpoint(d);
    return base ? readJsonFile<{ step: number }>(`${base}.json`, 'a checkpoint sidecar').step : -1;
  };
  return backendEntry(cfg.backend).stages(cfg).every((s) => stepOf(path.join(dir, s.stage)) >= s.steps);
}

/** The thread count a model's diffusion stage was trained with (its newest checkpoint's state). */
export function trainedThreads(dir: string): number | undefined {
  const base = latestCheckpoint(path.join(dir, 'diffusion'));
  if (!base) return undefined;
  const meta = readJsonFile<{ state?: { workers?: number } }>(`${base}.json`, 'a checkpoint sidecar');
  return meta.state?.workers ?? 1;
}
