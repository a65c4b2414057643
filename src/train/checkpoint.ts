// Checkpoints: parameters, EMA and optimizer moments in one safetensors file, plus a JSON sidecar.
//
// Layout of a run directory: step-000120.safetensors and step-000120.json per checkpoint, and
// latest.json naming the newest complete one. Every file is written atomically (temp file + rename),
// and latest.json only after both files of its checkpoint exist, so an interrupted write never
// replaces the last good checkpoint.
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '../compute/backend.js';
import { writeFileAtomic } from '../util/fs.js';
import { readSafetensors, writeSafetensors } from '../util/safetensors.js';
import type { AdamW, Ema } from './optim.js';

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
  createdAt: string;
}

export interface TrainState {
  params: Map<string, tf.Variable>;
  ema?: Ema;
  optimizer?: AdamW;
}

function libraryVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const stem = (step: number) => `step-${String(step).padStart(6, '0')}`;

/**
 * The checkpoint of a stage directory at a training step (or its newest with no step), as a path
 * without extension; a missing one is an error that lists the saved steps.
 */
export function checkpointAt(dir: string, step?: number): string {
  if (step === undefined) {
    const base = latestCheckpoint(dir);
    if (!base) throw new Error(`${dir}: no checkpoint (expected ${path.join(dir, 'latest.json')})`);
    return base;
  }
  const base = path.join(dir, stem(step));
  if (fs.existsSync(`${base}.safetensors`) && fs.existsSync(`${base}.json`)) return base;
  const saved = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^step-\d+\.json$/.test(f)).map((f) => Number(f.slice(5, -5))).sort((a, b) => a - b) : [];
  throw new Error(`${dir}: no checkpoint at step ${step}; saved steps: ${saved.join(', ') || 'none'}`);
}

export function saveCheckpoint(dir: string, s: TrainState, meta: Omit<CheckpointMeta, 'format' | 'libraryVersion' | 'createdAt' | 'optimizerStep'>): string {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  const put = (prefix: string, m: Map<string, tf.Variable>) => {
    for (const [name, v] of m) tensors[`${prefix}${name}`] = { shape: v.shape, data: v.dataSync() as Float32Array };
  };
  put('model.', s.params);
  if (s.ema) put('ema.', s.ema.shadow);
  if (s.optimizer) { put('optim.m.', s.optimizer.m); put('optim.v.', s.optimizer.v); }
  const full: CheckpointMeta = {
    ...meta, format: CHECKPOINT_FORMAT, libraryVersion: libraryVersion(), optimizerStep: s.optimizer?.step ?? 0, createdAt: new Date().toISOString(),
  };
  const base = path.join(dir, stem(meta.step));
  writeSafetensors(`${base}.safetensors`, tensors, { format: CHECKPOINT_FORMAT, step: String(meta.step) });
  writeFileAtomic(`${base}.json`, JSON.stringify(full, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'latest.json'), JSON.stringify({ checkpoint: stem(meta.step) }) + '\n');
  return base;
}

/** The newest complete checkpoint in `dir`, or undefined if there is none. */
export function latestCheckpoint(dir: string): string | undefined {
  const pointer = path.join(dir, 'latest.json');
  if (!fs.existsSync(pointer)) return undefined;
  const { checkpoint } = JSON.parse(fs.readFileSync(pointer, 'utf8')) as { checkpoint: string };
  const base = path.join(dir, checkpoint);
  return fs.existsSync(`${base}.safetensors`) && fs.existsSync(`${base}.json`) ? base : undefined;
}

/** Loads one set of weights, the raw parameters ('model') or their EMA ('ema'), into `params`. */
export function loadWeights(base: string, params: Map<string, tf.Variable>, which: 'model' | 'ema'): CheckpointMeta {
  const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as CheckpointMeta;
  const { tensors } = readSafetensors(`${base}.safetensors`);
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
  const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as CheckpointMeta;
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
