// The experiment runner: train (or reuse) the models an experiment names, evaluate its grid point by
// point into metrics.jsonl (resumable, shardable), then write charts and the HTML report.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { selectBackend, tf, type BackendRequest } from '../compute/backend.js';
import { discreteSchedule } from '../diffusion/schedules.js';
import { analyticPoint } from '../backends/analytic.js';
import { drawSamples, evaluateBitsPerDim } from '../backends/evaluate.js';
import {
  costValues, imagesOf, qualityFromFeatures, isQualityGroup, realReference, testImages, type RealReference,
} from '../metrics/evaluate.js';
import { resolveFeatureNet, type FeatureNet } from '../metrics/features.js';
import { loadGmm } from '../models/gmm.js';
import { qualityFloor } from '../metrics/floors.js';
import { readNpy, writeNpy } from '../util/npy.js';
import { buildClaims, type ClaimContext } from '../plots/claims.js';
import { pairedFidStatistic } from '../metrics/bootstrap.js';
import { trainingGuard, type GuardResult } from '../metrics/guard.js';
import { matrix, type Matrix } from '../util/linalg.js';
import { writeCharts } from '../plots/render.js';
import { renderReport } from '../plots/report.js';
import {
  bitsPerDim, costFrontier, family, finalCheckpointRows, type Floors, lossCurves, qualityVsEma, qualityVsGuidance, qualityVsTrainingCompute, qualityVsTrainingSteps, bitsPerDimVsTrainingSteps, likelihoodVsQuality, qualityVsDimension, toySampleScatter, autoencoderQuality, qualityVsShift, oodLikelihood, type OodSet, type ToySamples, qualityVsNfe, samplerError, sampleGrids, schedulePlots, type Chart, type GridImage, type LossPoint, withSource,
} from '../plots/specs.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { backendEntry, loadRun, type LoadedRun } from '../backends/index.js';
import { aurocWithInterval, compressedBitsPerDim, oodScores } from '../metrics/ood.js';
import { meanStderr } from '../metrics/bits-per-dim.js';
import { loadDataset, permutation, subset } from '../data/index.js';
import { Rng } from '../util/rng.js';
import { embeddedToyDir, EmbeddedToyModel, evaluateEmbeddedToy, type EmbeddedToySpec } from '../backends/embedded-toy.js';
import { parseSamplerSetting, type SamplerSetting } from '../diffusion/sampling.js';
import { runTraining } from '../backends/training.js';
import { lossLog } from '../train/loss-log.js';
import { writeFileAtomic } from '../util/fs.js';
import { encodeGrid, gridScale } from '../util/png.js';
import { configHash, loadExperiment, type ResolvedExperiment, type ResolvedModel } from './config.js';
import { appendRows, completePoints, dropPoints, joinResults, lockResults, readRows, writeRows, type ResultRow } from './results.js';
import { readJsonFile, sweepStaleTemps } from '../util/fs.js';
import { processAlive } from '../util/lock.js';
import { SAFE_NAME, SAFE_NAME_MESSAGE } from '../util/config-files.js';

export interface GridPoint {
  index: number;
  key: string;
  kind: 'sample' | 'nll' | 'analytic' | 'toy' | 'recon' | 'ood';
  /** toy points: the ambient dimension and the objective of the MLP denoiser */
  dim?: number;
  objective?: string;
  backend: string;
  /** diffusion-stage step of the checkpoint to evaluate; null: the final one */
  checkpoint: number | null;
  /** post-hoc EMA length of the weights; null: the classic EMA */
  ema: number | null;
  sampler: string | null;
  steps: number | null;
  seed: number;
}

export interface Shard { index: number; count: number }

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new Error(`--shard: expected i/n with 0 ≤ i < n (e.g. 0/4), got '${s}'`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/**
 * A shard's points: every n-th point of the grid taken kind by kind (bits/dim, sampling, …), so that
 * each shard gets its share of every kind of work (in grid order a model's bits/dim point and its
 * sampling points alternate, and every n-th point would give one shard all the bits/dim points); the
 * points of one toy model count as one, since the first of them trains it.
 */
export function shardPoints(points: GridPoint[], shard: Shard): GridPoint[] {
  // Toy points train their model in the grid stage: all points of one toy model go to one shard.
  const unit = (p: GridPoint) => (p.kind === 'toy' ? `toy:${p.objective}:${p.dim}:${p.seed}` : p.key);
  const kinds = [...new Set(points.map((p) => p.kind))];
  const units = kinds.flatMap((k) => [...new Set(points.filter((p) => p.kind === k).map(unit))]);
  const mine = new Set(units.filter((_, i) => i % shard.count === shard.index));
  return points.filter((p) => mine.has(unit(p)));
}

/** Every grid point, in a fixed order (see shardPoints for the shards' share). */
export function gridPoints(exp: ResolvedExperiment): GridPoint[] {
  const g = exp.grid;
  if (!g) return [];
  const out: GridPoint[] = [];
  const perModel = g.metrics.some((m) => m === 'nll' || m === 'nll-ode');
  const sampling = g.metrics.some((m) => !['nll', 'nll-ode', 'recon', 'ood'].includes(m));
  for (const backend of g.backends) {
    if (backend === 'toy') {
      for (const dim of exp.toy!.dims) for (const objective of exp.toy!.objectives) for (const seed of g.seeds) {
        for (const sampler of g.samplers.map((x) => parseSamplerSetting(x).label)) {
          for (const steps of g.steps) out.push({ index: 0, key: `toy:${objective}:D${dim}|${sampler}|${steps}|${seed}`, kind: 'toy', backend, checkpoint: null, ema: null, sampler, steps, seed, dim, objective });
        }
      }
      continue;
    }
    // The autoencoder does not change with the diffusion checkpoints: one reconstruction point per model.
    if (g.metrics.includes('recon') && exp.models[backend]?.backend === 'latent') {
      for (const seed of g.seeds) out.push({ index: 0, key: `${backend}|recon|-|${seed}`, kind: 'recon', backend, checkpoint: null, ema: null, sampler: null, steps: null, seed });
    }
    if (g.metrics.includes('ood') && exp.models[backend]) {
      for (const seed of g.seeds) out.push({ index: 0, key: `${backend}|ood|-|${seed}`, kind: 'ood', backend, checkpoint: null, ema: null, sampler: null, steps: null, seed });
    }
    const ckpts: (number | null)[] = backend !== 'analytic' && g.checkpoints.length ? g.checkpoints : [null];
    const emas: (number | null)[] = backend !== 'analytic' && g.ema.length ? g.ema : [null];
    for (const checkpoint of ckpts) for (const ema of emas) {
      const model = `${backend}${checkpoint === null ? '' : `@${checkpoint}`}${ema === null ? '' : `~ema:${ema}`}`;
      for (const seed of g.seeds) {
        if (backend !== 'analytic' && perModel) out.push({ index: 0, key: `${model}|-|-|${seed}`, kind: 'nll', backend, checkpoint, ema, sampler: null, steps: null, seed });
        if (!sampling) continue;
        for (const sampler of g.samplers.map((x) => parseSamplerSetting(x).label)) {
          for (const steps of g.steps) {
            out.push({ index: 0, key: `${model}|${sampler}|${steps}|${seed}`, kind: backend === 'analytic' ? 'analytic' : 'sample', backend, checkpoint, ema, sampler, steps, seed });
          }
        }
      }
    }
  }
  out.forEach((p, i) => { p.index = i; });
  return out;
}

/** A grid point key or sampler label as a file name: characters other than [\w.+=,()@-] become '_'. */
export const safeFileName = (s: string) => s.replace(/[^\w.+=,()@-]+/g, '_');

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
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
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(cfg.out, { recursive: true });
  fs.cpSync(path.join(d, 'vae'), tmp, { recursive: true, filter: (f) => !/\.lock$/.test(f) });
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
function trained(dir: string, cfg: ResolvedModel): boolean {
  const stepOf = (d: string) => {
    const base = latestCheckpoint(d);
    return base ? readJsonFile<{ step: number }>(`${base}.json`, 'a checkpoint sidecar').step : -1;
  };
  return backendEntry(cfg.backend).stages(cfg).every((s) => stepOf(path.join(dir, s.stage)) >= s.steps);
}

export interface RunOptions {
  file: string;
  resume?: boolean;
  /** discard earlier results of this run id */
  force?: boolean;
  shard?: Shard;
  runId?: string;
  /**
   * train: models only; autoencoders: the autoencoder stage of latent models only; features: the
   * feature networks (trained once into the cache); eval: the grid
   */
  stage?: 'all' | 'train' | 'autoencoders' | 'features' | 'eval';
  /** train only these models (default: every model the grid uses) */
  models?: string[];
  resultsRoot?: string;
  /** compute device, overriding the experiment's `compute` (not part of the config hash) */
  compute?: BackendRequest;
  /** threads that train each model (data-parallel); default 1 */
  workers?: number;
  /** the experiment's quick preset (its `quick` block merged in) */
  quick?: boolean;
  log?: (line: string) => void;
}

export interface RunOutcome {
  dir: string;
  evaluated: number;
  skipped: number;
  rows: ResultRow[];
}

/** A feature network's name with its recorded test accuracy, for logs. */
const netLabel = (net: FeatureNet) => `${net.name}${net.testAccuracy !== undefined ? ` (test accuracy ${(100 * net.testAccuracy).toFixed(2)}%)` : ''}`;

function fmtSeconds(s: number): string {
  return s < 90 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(1)} min`;
}

/** metrics.jsonl and the shard files of a run directory. */
export function resultFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^metrics(\.shard-\d+-of-\d+)?\.jsonl$/.test(f)).sort().map((f) => path.join(dir, f));
}

/** A run's config hash, run id (default: the hash) and directory, results/<experiment>/<run-id>. */
export function runLocation(exp: ResolvedExperiment, root: string, runId?: string): { hash: string; runId: string; dir: string } {
  // What a run computes decides its id; its prose (description, the paper block with the recorded
  // finding) and the quick preset of a full run do not: writing down a result keeps the run.
  const { file: _file, description: _d, paper: _p, quick: _q, ...cfgForHash } = exp;
  const hash = configHash(cfgForHash);
  if (runId !== undefined && !SAFE_NAME.test(runId)) throw new Error(`--run-id '${runId}': expected ${SAFE_NAME_MESSAGE}`);
  return { hash, runId: runId ?? hash, dir: path.join(root, exp.name, runId ?? hash) };
}

export const existingResultsError = (file: string) => new Error(`${file} already has results: pass --resume to continue this run, or --force to start it over`);

/** The trained models an experiment's grid evaluates (its backends other than 'analytic' and 'toy'). */
export function modelBackends(exp: ResolvedExperiment): string[] {
  return [...new Set((exp.grid?.backends ?? []).filter((b) => b !== 'analytic' && b !== 'toy'))];
}

export const metricsFile = (dir: string, shard?: Shard) => path.join(dir, shard ? `metrics.shard-${shard.index}-of-${shard.count}.jsonl` : 'metrics.jsonl');

export async function runExperiment(opts: RunOptions): Promise<RunOutcome> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const exp = loadExperiment(opts.file, { quick: opts.quick });
  const root = opts.resultsRoot ?? 'results';
  const { hash, runId, dir } = runLocation(exp, root, opts.runId);
  const out = metricsFile(dir, opts.shard);
  const stage = opts.stage ?? 'all';
  // One process per results file (shards of one run have their own files and run side by side).
  fs.mkdirSync(dir, { recursive: true });
  const lock = stage === 'all' || stage === 'eval' ? lockResults(out, log) : undefined;
  try {
    return await runLocked(opts, exp, root, { hash, runId, dir, out, stage }, log);
  } finally {
    lock?.release();
  }
}

async function runLocked(opts: RunOptions, exp: ResolvedExperiment, root: string, where: { hash: string; runId: string; dir: string; out: string; stage: NonNullable<RunOptions['stage']> }, log: (l: string) => void): Promise<RunOutcome> {
  const { hash, runId, dir, out, stage } = where;
  const swept = sweepStaleTemps(dir, processAlive);
  if (swept) log(`[run ${exp.name}] removed ${swept} temp file(s) left by killed writes`);
  if (fs.existsSync(out) && !opts.resume && !opts.force) throw existingResultsError(out);
  if (opts.force) {
    // An unsharded run starts over completely; a shard discards only its own file.
    const files = opts.shard ? [out] : resultFiles(dir);
    for (const f of files) fs.rmSync(f, { force: true });
  }
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...exp, configHash: hash }, null, 2) + '\n');
  const points = gridPoints(exp);
  writeFileAtomic(path.join(dir, 'points.json'), JSON.stringify(points.map((p) => p.key)) + '\n');
  const choice = await selectBackend(opts.compute ?? exp.compute);
  log(`[run ${exp.name}] run id ${runId} → ${dir} (compute: ${choice.backend})`);

  // Stage 1: models.
  const usedModels = modelBackends(exp);
  for (const m of opts.models ?? []) if (!usedModels.includes(m)) throw new Error(`--model ${m}: not a model the grid uses; expected one of ${usedModels.join(', ') || '(none)'}`);
  if (stage === 'autoencoders') {
    for (const name of usedModels) {
      if (opts.models && !opts.models.includes(name)) continue;
      const cfg = { ...exp.models[name], out: resolveModelDir(exp, name, root) };
      if (cfg.backend !== 'latent' || trained(cfg.out, cfg)) continue;
      const donor = shareAutoencoder(cfg, root);
      if (donor) { log(`[autoencoder] ${name}: reused from ${donor} (same seed, data and vae block)`); continue; }
      for (const r of runTraining(cfg, 'vae', true, false, opts.workers ?? 1)) log(`[autoencoder] ${name}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${fmtSeconds(r.seconds)}`);
    }
    return { dir, evaluated: 0, skipped: 0, rows: [] };
  }
  if (stage === 'all' || stage === 'train') {
    for (const [i, name] of usedModels.entries()) {
      if (opts.models && !opts.models.includes(name)) continue;
      const cfg = { ...exp.models[name], out: resolveModelDir(exp, name, root) };
      if (trained(cfg.out, cfg)) {
        log(`[train ${i + 1}/${usedModels.length}] ${name}: reusing ${cfg.out} (same config hash)`);
        continue;
      }
      log(`[train ${i + 1}/${usedModels.length}] ${name} (${cfg.backend}) → ${cfg.out}`);
      const donor = shareAutoencoder(cfg, root);
      if (donor) log(`[train ${i + 1}/${usedModels.length}] ${name}: autoencoder reused from ${donor} (same seed, data and vae block)`);
      const reports = runTraining(cfg, 'all', true, false, opts.workers ?? 1);
      for (const r of reports) log(`[train ${i + 1}/${usedModels.length}] ${name} ${r.stage}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${fmtSeconds(r.seconds)}`);
    }
  }
  if (stage === 'train') return { dir, evaluated: 0, skipped: 0, rows: [] };
  if (stage === 'features') {
    const g = exp.grid;
    if (g?.metrics.some(isQualityGroup)) {
      for (const data of new Set(usedModels.map((n) => exp.models[n].data.name))) {
        const net = await resolveFeatureNet(exp.eval.features, { dataset: data });
        log(`[features] ${netLabel(net)} ready`);
        net.dispose();
      }
    }
    return { dir, evaluated: 0, skipped: 0, rows: [] };
  }
  for (const name of usedModels) {
    if (!trained(resolveModelDir(exp, name, root), exp.models[name])) throw new Error(`model '${name}' is not trained yet (${modelDir(exp, name, root)}): run with --stage train or all first`);
  }

  // Stage 2: the grid.
  const mine = opts.shard ? shardPoints(points, opts.shard) : points;
  // Points finished in any results file of this run (the joined one or any shard's) are done.
  // A point is done when all its rows are in one file; a partial one (killed mid-write) is redone
  // whole, its partial rows in this process's file removed first.
  const done = new Set((opts.force ? [out] : resultFiles(dir)).flatMap((f) => [...completePoints(readRows(f))]));
  const todo = mine.filter((p) => !done.has(p.key));
  const partial = dropPoints(out, new Set(todo.map((p) => p.key)));
  if (partial) log(`[grid] ${partial} row(s) of points cut short earlier removed from ${out}; those points are evaluated again`);
  log(`[grid] ${mine.length} point${mine.length === 1 ? '' : 's'}${opts.shard ? ` in shard ${opts.shard.index}/${opts.shard.count}` : ''}; ${mine.length - todo.length} already done, ${todo.length} to evaluate`);
  const commit = gitCommit();
  const g = exp.grid ?? { backends: [], samplers: [], steps: [], seeds: [], metrics: [], checkpoints: [], ema: [] };
  const runs = new Map<string, LoadedRun>();
  const refs = new Map<string, RealReference>();
  const getRun = (name: string, checkpoint: number | null = null, ema: number | null = null) => {
    const k = `${name}@${checkpoint}~${ema}`;
    if (!runs.has(k)) runs.set(k, loadRun(resolveModelDir(exp, name, root), ema === null ? 'ema' : `ema:${ema}`, checkpoint ?? undefined));
    return runs.get(k)!;
  };
  const quality = g.metrics.filter(isQualityGroup);
  const settings = new Map<string, SamplerSetting>(g.samplers.map((x) => { const st = parseSamplerSetting(x); return [st.label, st]; }));
  // Feature network and real-image statistics first (the LeNet trains once per dataset and cache),
  // so the grid's ETA counts only grid points.
  // Then each metric's floor (real training images against the same reference, at the grid's n),
  // which every chart and claim is read against; cached per dataset, network, n and seed.
  const floors: Floors = {}, floorsByData: Record<string, Floors> = {};
  if (quality.length) {
    for (const name of modelBackends(exp)) {
      const data = exp.models[name].data, dataKey = JSON.stringify(data);
      if (refs.has(dataKey)) continue;
      const tf0 = performance.now();
      const net = await resolveFeatureNet(exp.eval.features, { dataset: data.name });
      const test = testImages(data, exp.eval.realN, 0), real = imagesOf(test);
      const ref = realReference(net, real, quality.includes('class') ? test.labels : undefined);
      refs.set(dataKey, ref);
      real.dispose();
      log(`[features] ${netLabel(net)}: statistics of ${ref.n} real images, ${fmtSeconds((performance.now() - tf0) / 1000)}`);
      writeNpy(path.join(dir, 'features', `real-${net.name}.npy`), Float32Array.from(ref.features.data), [ref.features.rows, ref.features.cols]);
      const floor = qualityFloor(ref, data, exp.eval.n, { groups: quality, seed: exp.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap }, log);
      for (const v of floor.values) floors[v.metric] = { value: v.value, low: v.low, high: v.high, n: floor.n };
      // Per dataset too: models on other data (another resolution) have other floors.
      for (const v of floor.values) floorsByData[dataKey] = { ...floorsByData[dataKey], [v.metric]: { value: v.value, low: v.low, high: v.high, n: floor.n } };
    }
    writeFileAtomic(path.join(dir, 'floors.json'), JSON.stringify(floors, null, 2) + '\n');
    writeFileAtomic(path.join(dir, 'floors-by-data.json'), JSON.stringify(floorsByData, null, 2) + '\n');
  }
  const t0 = performance.now();
  let evaluated = 0;
  try {
    for (const p of todo) {
      const eta = evaluated ? ((performance.now() - t0) / 1000 / evaluated) * (todo.length - evaluated) : NaN;
      log(`[grid ${p.index + 1}/${points.length}] ${p.backend}${p.checkpoint !== null ? ` @ step ${p.checkpoint}` : ''}${p.ema !== null ? ` (post-hoc EMA σ_rel ${p.ema})` : ''} ${p.kind === 'nll' ? 'bits/dim' : p.kind === 'recon' ? 'autoencoder reconstructions' : p.kind === 'ood' ? 'out-of-distribution bits/dim' : `${p.kind === 'toy' ? `${p.objective} D=${p.dim} ` : ''}${p.sampler} ${p.steps} steps`} seed ${p.seed}${Number.isFinite(eta) ? ` (ETA ${fmtSeconds(eta)})` : ''}`);
      const setting = p.sampler ? settings.get(p.sampler) : undefined;
      const base = {
        experiment: exp.name, run_id: runId, point: p.key, backend: p.backend, sampler: p.sampler, steps: p.steps, seed: p.seed, config_hash: hash, git_commit: commit,
        ...(p.ema !== null ? { ema: p.ema } : {}), ...(setting?.guidance ? { guidance: setting.guidance.scale } : {}), ...(setting?.grid.shift !== undefined ? { shift: setting.grid.shift } : {}),
      };
      const rows: ResultRow[] = [];
      if (p.kind === 'toy') {
        const t = exp.toy!;
        const weighting = t.weighting === undefined ? undefined : typeof t.weighting === 'string' ? { name: t.weighting } : t.weighting;
        const spec: EmbeddedToySpec = { data: t.data, dim: p.dim!, objective: p.objective!, hidden: t.hidden, layers: t.layers, trainPoints: t.trainPoints, train: t.train, seed: p.seed, ...(weighting ? { weighting } : {}) };
        const model = new EmbeddedToyModel(spec);
        try {
          // Trained in the grid stage (once per dimension, objective and seed; a finished one is reused).
          const fit = model.fit(embeddedToyDir(path.join(root, exp.name, 'toy'), configHash(spec), spec));
          const r = evaluateEmbeddedToy(model, { setting: settings.get(p.sampler!)!, steps: p.steps!, n: exp.eval.n, seed: p.seed, bootstrap: exp.eval.bootstrap });
          const trainGflop = (3 * model.net.flops() * t.train.batchSize * fit.steps) / 1e9;
          const toyBase = { ...base, dim: p.dim, objective: p.objective, nfe: r.nfe, seconds: r.seconds / r.n, gflop: (model.net.flops() * r.nfe) / 1e9, n: r.n, train_step: fit.steps, train_gflop: trainGflop };
          rows.push({ ...toyBase, metric: 'sw2', value: r.sw2, std: null, ci_low: r.low, ci_high: r.high, unit: 'sliced W2 in the data plane (unit-variance coordinates)' });
          rows.push({ ...toyBase, metric: 'sw2-floor', value: r.floor, std: null });
          rows.push({ ...toyBase, metric: 'off-plane-rms', value: r.offPlaneRms, std: null, unit: 'RMS distance from the data plane' });
          rows.push({ ...toyBase, metric: 'nn-distance', value: r.nnDistance.value, std: null, ci_low: r.nnDistance.low, ci_high: r.nnDistance.high, unit: 'mean distance in the plane to the nearest of 10,000 fresh data points' });
          rows.push({ ...toyBase, metric: 'nn-distance-floor', value: r.nnDistance.floor, std: null });
          // The samples in the plane, for the report's scatter per dimension and objective.
          writeNpy(path.join(dir, 'toy-samples', `${safeFileName(p.key)}.npy`), Float32Array.from(r.plane), [r.n, 2]);
        } finally {
          model.dispose();
        }
      } else if (p.kind === 'analytic') {
        const gmm = loadGmm(path.resolve(path.dirname(exp.file), exp.analytic!.gmm));
        // Guidance w = 1 without an interval is plain conditional sampling; on the exact mixture with
        // classes drawn from its weights that is the mixture itself, whose exact denoiser is the
        // unconditional one: such a setting (shared with class-conditional models in one grid) runs
        // unguided here, with a note.
        const st = settings.get(p.sampler!)!;
        const plain = st.guidance?.scale === 1 && !st.guidance.interval;
        const r = analyticPoint(gmm, { sampler: plain ? { ...st, guidance: undefined } : st, steps: p.steps!, n: exp.eval.n, seed: p.seed });
        const notes = plain ? ['guidance w = 1 on the exact mixture: sampled from the mixture itself (classes drawn from its weights), unguided'] : undefined;
        const row = (metric: string, value: number) => rows.push({ ...base, nfe: r.nfe, metric, value, std: null, n: r.n, seconds: r.seconds / r.n, gflop: null, ...(notes ? { notes } : {}) });
        if (g.metrics.includes('sw2')) { row('sw2', r.sw2); row('sw2-floor', r.sw2Floor); }
        if (g.metrics.includes('path-rms') && r.path) {
          row('path-rms', r.path.rms);
          row('path-median', r.path.median);
          row('path-p90', r.path.p90);
          row('mode-switches', r.path.switched);
        }
        if (g.metrics.includes('cost')) row('nfe', r.nfe);
      } else if (p.kind === 'recon') {
        const run = getRun(p.backend);
        const ref = refs.get(JSON.stringify(run.config.data))!;
        const test = testImages(run.config.data, exp.eval.n, p.seed + 1), x = imagesOf(test);
        const t1 = performance.now();
        const xr = tf.tidy(() => run.backend.decode(run.backend.encode(x)).clipByValue(-1, 1) as tf.Tensor4D);
        const seconds = (performance.now() - t1) / 1000;
        // PSNR on the [−1, 1] pixel range (peak-to-peak 2), over all test pixels.
        const mse = tf.tidy(() => xr.sub(x).square().mean().dataSync()[0]);
        const common = { ...base, nfe: null, seconds, gflop: null, train_step: run.step, train_gflop: run.trainGflop };
        const q = { groups: ['fid' as const], seed: p.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap };
        // rFID: reconstructions against the reference; its floor: the same test images as they are.
        for (const [suffix, imgs] of [['', xr], ['-floor', x]] as const) {
          for (const v of qualityFromFeatures(ref, ref.net.features(imgs), q)) {
            const [fam, net] = v.metric.split('@');
            rows.push({ ...common, metric: `r${fam}${suffix}@${net}`, value: v.value, std: v.std ?? null, ci_low: v.low ?? null, ci_high: v.high ?? null, n: v.n, unit: v.unit, notes: [...(v.notes ?? []), suffix ? 'the same test images unreconstructed: the floor of rFID at this n' : 'reconstructions of held-out test images (encoder mean, decoder)'] });
          }
        }
        rows.push({ ...common, metric: 'psnr', value: 10 * Math.log10(4 / mse), std: null, n: test.n, unit: 'dB', notes: ['on the [−1, 1] pixel range (peak 2), mean squared error over all test pixels'] });
        tf.dispose([x, xr]);
      } else if (p.kind === 'ood') {
        const run = getRun(p.backend), data = run.config.data, n = exp.eval.nllN;
        const t1 = performance.now();
        const inDs = testImages(data, n, p.seed + 1);
        const oodDs = testImages({ ...data, name: exp.eval.ood!.name, dir: exp.eval.ood!.dir, limit: undefined }, n, p.seed + 1);
        const train = loadDataset({ ...data, split: 'train' });
        const order = permutation(train.n, new Rng(p.seed + 2));
        // The latent model's decoder σ is fit on 256 held-out training images (as for bits/dim); the
        // typicality score's mean comes from n others.
        const heldOut = () => imagesOf(subset(train, order.slice(0, 256)));
        const trainDs = subset(train, order.slice(256, 256 + n));
        const bpdOf = (ds: typeof inDs) => {
          const x = imagesOf(ds);
          try {
            return run.backend.bitsPerDim(x, { method: 'vlb', terms: exp.eval.nllTerms, seed: p.seed, heldOut }).perImage;
          } finally {
            x.dispose();
          }
        };
        const bpd = { inDist: bpdOf(inDs), ood: bpdOf(oodDs), train: bpdOf(trainDs) };
        const scores = oodScores(bpd, { inDist: compressedBitsPerDim(inDs.pixels, inDs.n), ood: compressedBitsPerDim(oodDs.pixels, oodDs.n) });
        const seconds = (performance.now() - t1) / 1000;
        const common = { ...base, nfe: null, seconds, gflop: null, train_step: run.step, train_gflop: run.trainGflop, n };
        const i = meanStderr(bpd.inDist), o = meanStderr(bpd.ood);
        rows.push({ ...common, metric: 'bpd-in-dist', value: i.mean, std: i.stderr, unit: 'bits/dim', notes: [`${data.name} test images (the training distribution); variational bound per image`] });
        rows.push({ ...common, metric: 'bpd-ood', value: o.mean, std: o.stderr, unit: 'bits/dim', notes: [`${exp.eval.ood!.name} test images (out of distribution), same size and channels`] });
        for (const [name, sc] of Object.entries(scores) as [keyof typeof scores, { inDist: Float64Array; ood: Float64Array }][]) {
          const a = aurocWithInterval(sc.inDist, sc.ood, exp.eval.bootstrap, p.seed);
          rows.push({ ...common, metric: `auroc-${name}`, value: a.value, std: null, ci_low: a.low, ci_high: a.high, notes: [`AUROC of flagging ${exp.eval.ood!.name} among ${data.name} test images by the ${name} score (0.5: chance; below: the other set looks more in-distribution)`] });
        }
        const table = new Float32Array(3 * n);
        for (let k = 0; k < n; k++) { table[3 * k] = bpd.inDist[k]; table[3 * k + 1] = bpd.ood[k]; table[3 * k + 2] = bpd.train[k]; }
        writeNpy(path.join(dir, 'ood', `${safeFileName(p.key)}.npy`), table, [n, 3]);
      } else if (p.kind === 'nll') {
        const methods = (['nll', 'nll-ode'] as const).filter((m) => g.metrics.includes(m));
        const run = getRun(p.backend, p.checkpoint, p.ema);
        Object.assign(base, { train_step: run.step, train_gflop: run.trainGflop });
        for (const { value: v, result: r } of evaluateBitsPerDim(run, methods, { nllN: exp.eval.nllN, terms: exp.eval.nllTerms, seed: p.seed })) {
          rows.push({ ...base, nfe: r.nfe, metric: v.metric, value: v.value, std: v.std ?? null, n: v.n, seconds: r.seconds, gflop: null, unit: v.unit, notes: v.notes });
        }
      } else {
        const run = getRun(p.backend, p.checkpoint, p.ema);
        // The grid's shift: the setting's, else the model's training shift (recorded when not 1).
        const shift = setting?.grid.shift ?? run.backend.sampling.shift;
        Object.assign(base, { train_step: run.step, train_gflop: run.trainGflop, ...(shift !== 1 ? { shift } : {}) });
        const { images, labels, cost } = drawSamples(run, { sampler: settings.get(p.sampler!)!, steps: p.steps!, n: exp.eval.n, seed: p.seed, batchSize: exp.eval.batchSize });
        const common = { ...base, nfe: cost.nfe, seconds: cost.secondsPerSample, gflop: cost.gflopPerSample };
        if (quality.length) {
          const ref = refs.get(JSON.stringify(run.config.data))!, f = ref.net.features(images);
          // The generated set's features, kept for paired comparisons between models (claims).
          writeNpy(path.join(dir, 'features', `${safeFileName(p.key)}.npy`), Float32Array.from(f.features.data), [f.features.rows, f.features.cols]);
          for (const v of qualityFromFeatures(ref, { ...f, labels }, { groups: quality, seed: p.seed, kidSubsets: exp.eval.kidSubsets, kidSubsetSize: exp.eval.kidSubsetSize, bootstrap: exp.eval.bootstrap })) {
            rows.push({ ...common, metric: v.metric, value: v.value, std: v.std ?? null, ci_low: v.low ?? null, ci_high: v.high ?? null, n: v.n, unit: v.unit, notes: v.notes });
          }
        }
        if (g.metrics.includes('cost')) for (const v of costValues(cost, exp.eval.n)) rows.push({ ...common, metric: v.metric, value: v.value, std: null, n: v.n, unit: v.unit, notes: v.notes });
        // A grid of the first 64 samples for the report.
        const k = Math.min(64, images.shape[0]);
        const first = tf.tidy(() => images.slice([0, 0, 0, 0], [k, -1, -1, -1]));
        const png = encodeGrid(first.dataSync() as Float32Array, k, images.shape[1], images.shape[2], images.shape[3], { scale: gridScale(images.shape[1]) });
        fs.mkdirSync(path.join(dir, 'samples'), { recursive: true });
        writeFileAtomic(path.join(dir, 'samples', `${p.backend}${p.checkpoint !== null ? `@${p.checkpoint}` : ''}${p.ema !== null ? `~ema${p.ema}` : ''}_${safeFileName(p.sampler!)}_${p.steps}_s${p.seed}.png`), png);
        tf.dispose([first, images]);
      }
      appendRows(out, rows);
      evaluated++;
    }
  } finally {
    for (const r of runs.values()) r.dispose();
    for (const r of refs.values()) r.net.dispose();
  }
  log(`[grid] evaluated ${evaluated} point${evaluated === 1 ? '' : 's'} in ${fmtSeconds((performance.now() - t0) / 1000)}`);
  if (!opts.shard) {
    // Points finished by earlier shard workers (a --jobs run resumed with --jobs 1) join the file.
    joinInto(dir, log);
    await finalize(dir, exp, root, log);
  } else {
    log(`[run ${exp.name}] shard written to ${out}; join the shards with: difflab merge ${dir}`);
  }
  const rows = readRows(out);
  return { dir, evaluated, skipped: mine.length - todo.length, rows };
}

/** Joins shard files into metrics.jsonl (grid order, one row per point and metric), then charts and report. */
export async function mergeShards(dir: string, log: (l: string) => void = (l) => process.stderr.write(l + '\n')): Promise<ResultRow[]> {
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new Error(`${dir}: not a run directory (no config.json)`);
  const lock = lockResults(metricsFile(dir), log);
  try {
    const rows = joinInto(dir, log);
    const exp = readJsonFile<ResolvedExperiment>(cfgFile, "the run's resolved experiment");
    await finalize(dir, exp, path.dirname(path.dirname(dir)), log);
    return rows;
  } finally {
    lock.release();
  }
}

/**
 * Joins every complete point of a run directory's result files (metrics.jsonl and the shards) into
 * metrics.jsonl, each point once, in grid order; the shard files are kept.
 */
function joinInto(dir: string, log: (l: string) => void): ResultRow[] {
  const order = readJsonFile<string[]>(path.join(dir, 'points.json'), "the grid's point keys");
  const files = resultFiles(dir);
  const { rows, complete } = joinResults(files, order);
  const missing = order.filter((k) => !complete.has(k));
  writeRows(metricsFile(dir), rows);
  log(`[merge] ${files.length} file(s), ${rows.length} rows, ${order.length - missing.length}/${order.length} grid points${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
  return rows;
}

/**
 * Paired bootstrap over a run's grid points from their kept features (features/<point>.npy) and the
 * real reference's: one real resample and one index resample shared by all points per replicate.
 */
function pairedFrom(dir: string, exp: ResolvedExperiment): ClaimContext['paired'] {
  const fdir = path.join(dir, 'features');
  const reals = fs.existsSync(fdir) ? fs.readdirSync(fdir).filter((f) => f.startsWith('real-')) : [];
  // Each feature file is read once, however many comparisons use it.
  const loaded = new Map<string, Matrix>();
  const load = (f: string) => {
    if (!loaded.has(f)) { const a = readNpy(f); loaded.set(f, matrix(a.shape[0], a.shape[1], a.data)); }
    return loaded.get(f)!;
  };
  return (points, stat) => {
    const file = (p: string) => path.join(fdir, `${safeFileName(p)}.npy`);
    if (reals.length !== 1 || points.some((p) => !fs.existsSync(file(p)))) return undefined;
    return pairedFidStatistic(load(path.join(fdir, reals[0])), points.map((p) => load(file(p))), stat, { replicates: exp.eval.bootstrap, seed: exp.seed });
  };
}

/** Per-image bits/dim of every ood point that kept them (ood/<point>.npy: in-distribution, other, training). */
function oodSets(dir: string, rows: ResultRow[], exp: ResolvedExperiment): OodSet[] {
  const out: OodSet[] = [];
  for (const r of rows.filter((x) => x.metric === 'auroc-raw')) {
    const f = path.join(dir, 'ood', `${safeFileName(r.point)}.npy`);
    if (!fs.existsSync(f)) continue;
    const a = readNpy(f), n = a.shape[0];
    out.push({ backend: r.backend, inName: exp.models[r.backend]?.data.name ?? 'training set', oodName: exp.eval.ood?.name ?? 'other', inDist: Array.from({ length: n }, (_, i) => a.data[3 * i]), ood: Array.from({ length: n }, (_, i) => a.data[3 * i + 1]) });
  }
  return out;
}

/** The first 500 plane samples of every toy point that kept them (toy-samples/<point>.npy). */
function toySamples(dir: string, rows: ResultRow[]): ToySamples[] {
  const out: ToySamples[] = [];
  for (const r of rows.filter((x) => x.metric === 'sw2' && x.dim != null)) {
    const f = path.join(dir, 'toy-samples', `${safeFileName(r.point)}.npy`);
    if (!fs.existsSync(f)) continue;
    const a = readNpy(f);
    out.push({ objective: r.objective!, dim: r.dim!, setting: `${r.sampler} ${r.steps} steps`, points: Array.from(a.data.subarray(0, 2 * Math.min(500, a.shape[0]))) });
  }
  return out;
}

function lossPoints(exp: ResolvedExperiment, root: string): LossPoint[] {
  return Object.keys(exp.models).flatMap((name) => lossLog(resolveModelDir(exp, name, root), name));
}

/** Charts (.vl.json, .svg, .png) and report.html for a run directory's metrics.jsonl. */
export async function finalize(dir: string, exp: ResolvedExperiment, root: string, log: (l: string) => void): Promise<void> {
  const allRows = readRows(path.join(dir, 'metrics.jsonl'));
  // Charts of finished models use each model's final checkpoint; earlier ones feed the compute chart.
  const rows = finalCheckpointRows(allRows);
  const grids: GridImage[] = [];
  const sdir = path.join(dir, 'samples');
  if (fs.existsSync(sdir)) {
    for (const f of fs.readdirSync(sdir).filter((x) => x.endsWith('.png')).sort()) {
      const buf = fs.readFileSync(path.join(sdir, f));
      const w = buf.readUInt32BE(16), h = buf.readUInt32BE(20);
      const scale = Math.max(1, Math.floor(320 / Math.max(w, h)));
      grids.push({ label: f.replace(/\.png$/, '').replace(/_/g, ' '), dataUri: `data:image/png;base64,${buf.toString('base64')}`, width: w * scale, height: h * scale });
    }
  }
  const want = new Set(exp.charts ?? ['quality-vs-nfe', 'cost-frontier', 'quality-vs-training-compute', 'quality-vs-guidance', 'quality-vs-ema', 'bits-per-dim', 'loss', 'schedules', 'sampler-error', 'samples']);
  const charts: Chart[] = [];
  const floorsFile = path.join(dir, 'floors.json');
  const floors = fs.existsSync(floorsFile) ? readJsonFile<Floors>(floorsFile, 'the metric floors') : undefined;
  if (want.has('quality-vs-nfe')) charts.push(...qualityVsNfe(rows, floors));
  if (want.has('cost-frontier')) charts.push(...costFrontier(rows, floors));
  if (want.has('quality-vs-training-compute')) charts.push(...qualityVsTrainingCompute(allRows, floors));
  if (want.has('quality-vs-training-steps')) charts.push(...qualityVsTrainingSteps(allRows, floors), ...bitsPerDimVsTrainingSteps(allRows));
  if (want.has('likelihood-vs-quality')) charts.push(...likelihoodVsQuality(rows, (b) => exp.models[b]?.backend ?? b, floors));
  if (want.has('quality-vs-dimension')) charts.push(...qualityVsDimension(rows), ...toySampleScatter(toySamples(dir, rows)));
  if (want.has('autoencoders')) charts.push(...autoencoderQuality(allRows));
  if (want.has('ood-likelihood')) charts.push(...oodLikelihood(oodSets(dir, rows, exp), rows));
  if (want.has('quality-vs-shift')) {
    const byData = fs.existsSync(path.join(dir, 'floors-by-data.json')) ? readJsonFile<Record<string, Floors>>(path.join(dir, 'floors-by-data.json'), 'the metric floors per dataset') : {};
    const info = (b: string) => {
      const m = exp.models[b];
      return m ? { kind: m.backend, resolution: m.data.resize?.[0] ?? null, floors: byData[JSON.stringify(m.data)] } : undefined;
    };
    charts.push(...qualityVsShift(rows, info));
  }
  if (want.has('quality-vs-guidance')) charts.push(...qualityVsGuidance(rows, floors));
  if (want.has('quality-vs-ema')) charts.push(...qualityVsEma(rows, floors));
  if (want.has('bits-per-dim')) charts.push(...bitsPerDim(rows));
  const losses = lossPoints(exp, root);
  if (want.has('loss')) charts.push(...lossCurves(losses));
  if (want.has('schedules') && exp.schedules) charts.push(...schedulePlots(exp.schedules.names.map((n) => discreteSchedule(n, { T: exp.schedules!.T }))));
  if (want.has('sampler-error')) charts.push(...samplerError(rows));
  if (want.has('samples')) charts.push(...sampleGrids(grids));
  if (exp.paper) charts.splice(0, charts.length, ...charts.map((c) => withSource(c, `${exp.paper!.cite}, ${exp.paper!.figure}`)));
  await writeCharts(path.join(dir, 'charts'), charts);
  const cfg = readJsonFile<{ configHash?: string }>(path.join(dir, 'config.json'), "the run's resolved experiment");
  // The under-training guard for every trained model the grid scored with FID.
  const guards: GuardResult[] = [];
  for (const name of modelBackends(exp)) {
    const fids = rows.filter((r) => r.backend === name && family(r.metric) === 'fid');
    if (!fids.length) continue;
    const best = Math.min(...fids.map((r) => r.value)), floor = floors?.[fids[0].metric]?.value;
    guards.push(trainingGuard(name, losses.filter((l) => l.model === name && l.stage === 'diffusion'), best, floor, exp.eval.guardFactor));
  }
  const tc = performance.now();
  const claims = exp.claims ? buildClaims(allRows, exp, { floors, guards, paired: pairedFrom(dir, exp) }) : undefined;
  if (claims) log(`[claims] ${claims.length} claims, differences by paired bootstrap (${exp.eval.bootstrap} resamples each), ${fmtSeconds((performance.now() - tc) / 1000)}`);
  const html = renderReport({
    title: `difflab · ${exp.name}`,
    description: exp.description,
    paper: exp.paper,
    runInfo: {
      'run directory': dir, 'config hash': cfg.configHash ?? '', 'git commit': rows[0]?.git_commit ?? gitCommit(),
      'grid points': String(new Set(rows.map((r) => r.point)).size), 'written': new Date().toISOString(),
    },
    charts, rows: allRows, grids: want.has('samples') ? grids : [],
    claims,
    floors, warnings: guards.filter((g) => !g.passed).map((g) => `${g.reason}. Comparisons with this model are shown but not judged: train it longer (or check its recipe) before reading a verdict.`),
    config: cfg,
    // Only the notes that apply to the metrics this run has.
    notes: [
      ...(allRows.some((r) => r.metric.includes('@lenet')) ? ['FID/KID/precision/recall are computed on difflab\'s own per-dataset LeNet features (metric@network): they rank models like Inception-FID but are not comparable to published Inception numbers.'] : []),
      ...(allRows.some((r) => r.metric.startsWith('bits_per_dim')) ? ['bits/dim are upper bounds on −log₂ P(x)/D of the 8-bit test pixels for both backends (see each row\'s notes in metrics.jsonl for offsets and estimators).'] : []),
      ...(allRows.some((r) => r.metric === 'path-rms') ? ['Sampler error on the exact mixture: the median per-sample distance shows a sampler\'s order; the RMS is dominated by the few paths that end in another mode than the exact solution (mode-switches).'] : []),
    ],
  });
  writeFileAtomic(path.join(dir, 'report.html'), html);
  log(`[report] ${charts.length} charts in ${path.join(dir, 'charts')}; ${path.join(dir, 'report.html')}`);
}
