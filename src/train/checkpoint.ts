// Checkpoints: parameters, EMA and optimizer moments in one safetensors file, plus a JSON sidecar.
//
// Layout of a run directory: step-000120.safetensors and step-000120.json per checkpoint, and
// latest.json naming the newest complete one. Every file is written atomically (temp file + rename),
// and latest.json only after both files of its checkpoint exist, so an interrupted write never
// replaces the last good checkpoint. The sidecar records the safetensors file's SHA-256, so a file
// cut short or overwritten later is told from an intact one; damaged pairs are moved to damaged/.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { currentKernels, tf } from '../compute/backend.js';
import { readJsonFile, writeFileAtomic } from '../util/fs.js';
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';
import type { AdamW, Ema } from './optim.js';
import { DIFFLAB_LAYOUT } from '../interop/torch.js';
import { MAX_SIGMA_REL, POSTHOC_WARN_ERROR, PowerEma, reconstructPosthoc } from './posthoc-ema.js';

export const CHECKPOINT_FORMAT = 'difflab-checkpoint/1';

export interface CheckpointMeta {
  format: string;
  libraryVersion: string;
  step: number;
  optimizerStep: number;
  config: unknown;
  dataHash?: string;
  /** Anything else a run must restore to continue exactly (RNG and batch-sampler state, …). */
  state?: Record<string, unknown>;
  /** written by earlier versions; left out now, so that one config trained twice gives identical files */
  createdAt?: string;
  /** SHA-256 of the .safetensors file as written (checkpoints before this field have none) */
  sha256?: string;
  /** the kernel set the training steps ran on (see BackendChoice.kernels; absent before it was recorded) */
  kernels?: string;
}

export interface TrainState {
  params: Map<string, tf.Variable>;
  ema?: Ema;
  optimizer?: AdamW;
  /** power-function EMAs of post-hoc EMA */
  powerEma?: PowerEma;
}

function libraryVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * A config as checkpoints and exports store it: without the run directory (`out`), which can name a
 * user's home and would make one config trained in two directories give different files.
 */
export function portableConfig(c: unknown): unknown {
  if (typeof c !== 'object' || c === null || Array.isArray(c) || !('out' in c)) return c;
  const { out: _out, ...rest } = c as Record<string, unknown>;
  return rest;
}

const stem = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** The checkpoint of `step` in a stage directory, as a path without extension. */
export const checkpointBase = (dir: string, step: number) => path.join(dir, stem(step));

/**
 * The checkpoint of a stage directory at a training step (or its newest with no step), as a path
 * without extension; a missing one is an error that lists the saved steps.
 */
export function checkpointAt(dir: string, step?: number): string {
  if (step === undefined) {
    const base = latestCheckpoint(dir);
    if (base) return base;
    // Say what is wrong with the newest one on disk, if any is there.
    const steps = savedSteps(dir);
    if (steps.length) {
      const newest = path.join(dir, stem(steps[steps.length - 1]));
      throw new Error(`${newest}.safetensors: damaged, and no older checkpoint of ${dir} is intact: ${checkpointProblem(newest)}`);
    }
    throw new Error(`${dir}: no checkpoint (expected ${path.join(dir, 'latest.json')})`);
  }
  const base = path.join(dir, stem(step));
  if (fs.existsSync(`${base}.safetensors`) && fs.existsSync(`${base}.json`)) return base;
  const saved = savedSteps(dir);
  throw new Error(`${dir}: no checkpoint at step ${step}; saved steps: ${saved.join(', ') || 'none'}`);
}

/**
 * Writes the checkpoint of `meta.step`. A checkpoint that already exists at that step is never
 * overwritten unless `overwrite` (a run started over with --force).
 */
export function saveCheckpoint(dir: string, s: TrainState, meta: Omit<CheckpointMeta, 'format' | 'libraryVersion' | 'createdAt' | 'optimizerStep' | 'sha256'>, overwrite = false, note: (line: string) => void = (l) => process.stderr.write(l + '\n')): string {
  const target = path.join(dir, stem(meta.step));
  if (!overwrite && (fs.existsSync(`${target}.safetensors`) || fs.existsSync(`${target}.json`))) {
    // A pair that never became whole (a crash or a full disk between its two files) is replaced;
    // an intact one is never overwritten.
    const problem = checkpointProblem(target);
    if (problem === undefined) throw new Error(`${target}.safetensors: a checkpoint of step ${meta.step} exists already; not overwriting it (--resume continues from the newest checkpoint, --force starts over)`);
    note(`note: ${target} is damaged (${problem}); moved to ${setAside(target)} and written again`);
  }
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  const put = (prefix: string, m: Map<string, tf.Variable>) => {
    for (const [name, v] of m) tensors[`${prefix}${name}`] = { shape: v.shape, data: v.dataSync() as Float32Array };
  };
  put('model.', s.params);
  if (s.ema) put('ema.', s.ema.shadow);
  if (s.optimizer) { put('optim.m.', s.optimizer.m); put('optim.v.', s.optimizer.v); }
  s.powerEma?.sigmaRels.forEach((sr, k) => put(PowerEma.prefix(sr), s.powerEma!.shadows[k]));
  const full: CheckpointMeta = {
    ...meta, config: portableConfig(meta.config), format: CHECKPOINT_FORMAT, libraryVersion: libraryVersion(), optimizerStep: s.optimizer?.step ?? 0,
    kernels: currentKernels(),
  };
  const base = path.join(dir, stem(meta.step));
  // The metadata makes the file self-describing for readers outside difflab (Python's safetensors).
  writeSafetensors(`${base}.safetensors`, tensors, {
    format: CHECKPOINT_FORMAT, step: String(meta.step), config: JSON.stringify(full.config),
    layout: `${DIFFLAB_LAYOUT}; tensors: model.<param>, ema.<param>, optim.m.<param>, optim.v.<param>, phema.<σ_rel>.<param>`,
  });
  // Hashed from the file as written (not the cache: a rewrite within one mtime tick must not reuse it).
  shaCache.delete(`${base}.safetensors`);
  full.sha256 = fileSha256(`${base}.safetensors`);
  writeFileAtomic(`${base}.json`, JSON.stringify(full, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'latest.json'), JSON.stringify({ checkpoint: stem(meta.step) }) + '\n');
  return base;
}

/** SHA-256 of a file (hex), cached by path, size and modification time. */
const shaCache = new Map<string, { size: number; mtimeMs: number; sha: string }>();
export function fileSha256(file: string): string {
  const st = fs.statSync(file), hit = shaCache.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.sha;
  const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  shaCache.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha });
  return sha;
}

/**
 * What is wrong with a checkpoint's two files, or undefined when both are intact: the sidecar parses
 * and names its step, the safetensors header and tensor data fit the file, and the file's SHA-256 is
 * the one the sidecar recorded.
 */
export function checkpointProblem(base: string): string | undefined {
  if (!fs.existsSync(`${base}.json`)) return `no ${path.basename(base)}.json sidecar (written after the tensors: the run stopped between the two)`;
  let meta: { step?: unknown; sha256?: unknown };
  try {
    meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  } catch {
    return `${path.basename(base)}.json is not valid JSON`;
  }
  if (typeof meta.step !== 'number') return `${path.basename(base)}.json names no step`;
  if (!fs.existsSync(`${base}.safetensors`)) return `no ${path.basename(base)}.safetensors`;
  const fd = fs.openSync(`${base}.safetensors`, 'r');
  try {
    const size = fs.fstatSync(fd).size, head = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, head, 0, 8, 0) !== 8) return `${size} bytes: shorter than a safetensors header`;
    const n = Number(head.readBigUInt64LE(0));
    if (n > 100_000_000 || 8 + n > size) return `its header declares ${n} bytes, more than the file's ${size}`;
    const header = Buffer.alloc(n);
    fs.readSync(fd, header, 0, n, 8);
    let end = 0;
    try {
      for (const [k, v] of Object.entries(JSON.parse(header.toString('utf8')) as Record<string, { data_offsets?: [number, number] }>)) if (k !== '__metadata__') end = Math.max(end, v.data_offsets?.[1] ?? 0);
    } catch {
      return 'its header is not valid JSON';
    }
    if (8 + n + end !== size) return `its tensor data is cut short or padded: the header declares ${end} bytes of data, the file holds ${size - 8 - n}`;
  } finally {
    fs.closeSync(fd);
  }
  if (typeof meta.sha256 === 'string' && fileSha256(`${base}.safetensors`) !== meta.sha256) return 'its SHA-256 differs from the one recorded when it was written (the file was changed or damaged since)';
  return undefined;
}

/** Whether both files of a checkpoint are there and intact (see checkpointProblem). */
export function checkpointValid(base: string): boolean {
  return checkpointProblem(base) === undefined;
}

/**
 * Moves a damaged checkpoint's files into <dir>/damaged/ (never deleting what may once have been
 * whole); returns where they went.
 */
export function setAside(base: string): string {
  const dir = path.join(path.dirname(base), 'damaged');
  fs.mkdirSync(dir, { recursive: true });
  let to = path.join(dir, path.basename(base));
  for (let k = 1; fs.existsSync(`${to}.json`) || fs.existsSync(`${to}.safetensors`); k++) to = path.join(dir, `${path.basename(base)}.${k}`);
  for (const ext of ['safetensors', 'json']) if (fs.existsSync(`${base}.${ext}`)) fs.renameSync(`${base}.${ext}`, `${to}.${ext}`);
  return to;
}

/** A checkpoint file of this layout: step-NNNNNN.json or .safetensors. */
const CHECKPOINT_FILE = /^step-(\d+)\.(json|safetensors)$/;

/** Steps of the checkpoints saved in `dir`, valid or not, ascending. */
export function savedSteps(dir: string): number[] {
  if (!fs.existsSync(dir)) return [];
  return [...new Set(fs.readdirSync(dir).map((f) => CHECKPOINT_FILE.exec(f)?.[1]).filter((x): x is string => !!x).map(Number))].sort((a, b) => a - b);
}

/** Removes every checkpoint of `dir` and its latest.json (a run started over with --force). */
export function removeCheckpoints(dir: string): void {
  for (const f of fs.readdirSync(dir)) if (CHECKPOINT_FILE.test(f) || f === 'latest.json') fs.rmSync(path.join(dir, f));
}

/**
 * The newest complete checkpoint in `dir`, or undefined if there is none: the one latest.json names,
 * or, when latest.json is missing, unreadable or names a broken checkpoint, the newest valid
 * step-N pair on disk (with a note).
 */
export function latestCheckpoint(dir: string, note: (line: string) => void = (l) => process.stderr.write(l + '\n')): string | undefined {
  const pointer = path.join(dir, 'latest.json');
  let why: string | undefined;
  if (fs.existsSync(pointer)) {
    try {
      const { checkpoint } = readJsonFile<{ checkpoint: string }>(pointer, '{"checkpoint": "step-NNNNNN"}');
      if (typeof checkpoint === 'string' && /^step-\d+$/.test(checkpoint)) {
        const base = path.join(dir, checkpoint);
        if (checkpointValid(base)) return base;
        why = `latest.json names ${checkpoint}, which is missing or damaged`;
      } else {
        why = 'latest.json does not name a checkpoint';
      }
    } catch (e) {
      why = (e as Error).message;
    }
  }
  const steps = savedSteps(dir);
  for (let i = steps.length - 1; i >= 0; i--) {
    const base = path.join(dir, stem(steps[i]));
    if (checkpointValid(base)) {
      note(`note: ${why ?? `${pointer} is missing`}; using the newest intact checkpoint on disk, ${base}`);
      return base;
    }
  }
  if (why && steps.length) note(`note: ${why}, and no checkpoint in ${dir} is intact`);
  return undefined;
}

/**
 * Which weights of a run: the raw parameters ('model'), the classic EMA ('ema'), or a post-hoc EMA of
 * length σ_rel reconstructed from the run's snapshots ('ema:0.05').
 */
export type WeightsChoice = 'model' | 'ema' | `ema:${number}`;

/** Reads 'model', 'ema' or 'ema:<σ_rel>'; `where` names the flag or field in errors. */
export function parseWeights(v: string, where = '--weights'): WeightsChoice {
  if (v === 'model' || v === 'ema') return v;
  const m = /^ema:(\d*\.?\d+(?:e-?\d+)?)$/.exec(v);
  if (m && Number(m[1]) > 0 && Number(m[1]) < MAX_SIGMA_REL) return v as WeightsChoice;
  if (m) throw new Error(`${where}: ema:<σ_rel> needs σ_rel in (0, ${MAX_SIGMA_REL.toFixed(4)}) (the widest power-function EMA is the running mean), got '${v}'`);
  throw new Error(`${where}: expected model, ema or ema:<σ_rel> (a post-hoc EMA length, e.g. ema:0.05), got '${v}'`);
}

/** σ_rel of a post-hoc choice, else undefined. */
export const posthocSigmaRel = (w: WeightsChoice): number | undefined => (w.startsWith('ema:') ? Number(w.slice(4)) : undefined);

/** Loads one set of weights (see WeightsChoice) of the checkpoint `base` into `params`. */
export function loadWeights(base: string, params: Map<string, tf.Variable>, which: WeightsChoice): CheckpointMeta {
  const meta = readJsonFile<CheckpointMeta>(`${base}.json`, 'a checkpoint sidecar');
  const sigmaRel = posthocSigmaRel(which);
  const tensors: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
  if (sigmaRel !== undefined) {
    const r = reconstructPosthoc(path.dirname(base), sigmaRel, meta.step);
    if (r.relError > POSTHOC_WARN_ERROR) process.stderr.write(`warning: post-hoc EMA σ_rel ${sigmaRel} at step ${r.step}: profile fit error ${(100 * r.relError).toFixed(1)}% (above ${100 * POSTHOC_WARN_ERROR}%): these weights only approximate an EMA of that length\n`);
    for (const [name, t] of r.weights) tensors[`ema.${name}`] = t;
    which = 'ema';
  } else {
    Object.assign(tensors, readSafetensors(`${base}.safetensors`).tensors);
  }
  for (const [name, v] of params) {
    const t = tensors[`${which}.${name}`];
    if (!t) throw new Error(`${base}.safetensors: missing tensor ${which}.${name}`);
    if (t.shape.join() !== v.shape.join()) throw new Error(`${base}.safetensors: ${which}.${name} has shape ${JSON.stringify(t.shape)}, the model expects ${JSON.stringify(v.shape)}`);
    const val = tf.tensor(t.data as Float32Array, v.shape);
    v.assign(val);
    val.dispose();
  }
  return meta;
}

/** Restores parameters, EMA and optimizer moments in place; returns the sidecar. */
export function loadCheckpoint(base: string, s: TrainState): CheckpointMeta {
  const meta = readJsonFile<CheckpointMeta>(`${base}.json`, 'a checkpoint sidecar');
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`${base}.json: format '${meta.format}' is not ${CHECKPOINT_FORMAT}`);
  const { tensors } = readSafetensors(`${base}.safetensors`);
  const take = (key: string, shape: number[]) => {
    const t = tensors[key];
    if (!t) throw new Error(`${base}.safetensors: missing tensor ${key}`);
    if (t.shape.join() !== shape.join()) throw new Error(`${base}.safetensors: ${key} has shape ${JSON.stringify(t.shape)}, the model expects ${JSON.stringify(shape)}`);
    return tf.tensor(t.data as Float32Array, shape);
  };
  const restore = (prefix: string, m: Map<string, tf.Variable>) => {
    for (const [name, v] of m) { const t = take(`${prefix}${name}`, v.shape); v.assign(t); t.dispose(); }
  };
  restore('model.', s.params);
  if (s.ema) restore('ema.', s.ema.shadow);
  if (s.powerEma) {
    const [first] = s.params.keys();
    s.powerEma.sigmaRels.forEach((sr, k) => {
      if (first !== undefined && !tensors[`${PowerEma.prefix(sr)}${first}`]) {
        throw new Error(`${base}.safetensors: no post-hoc EMA state for σ_rel ${sr}; its run was trained without train.posthocEma (or other σ_rel values): start it over with --force to keep post-hoc EMA snapshots`);
      }
      restore(PowerEma.prefix(sr), s.powerEma!.shadows[k]);
    });
  }
  if (s.optimizer) {
    s.optimizer.dispose();
    for (const [name, p] of s.params) {
      if (!tensors[`optim.m.${name}`]) continue;
      for (const [key, store] of [[`optim.m.${name}`, s.optimizer.m], [`optim.v.${name}`, s.optimizer.v]] as const) {
        const t = take(key, p.shape);
        store.set(name, tf.variable(t, false));
        t.dispose(); // the variable holds its own reference to the data
      }
    }
    s.optimizer.step = meta.optimizerStep;
  }
  return meta;
}
