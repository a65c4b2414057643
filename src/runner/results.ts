// The results store: one JSON line per evaluated (grid point, metric), appended point by point so a
// killed run loses at most the point in flight.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

export interface ResultRow {
  experiment: string;
  run_id: string;
  /** grid point key: backend[@checkpoint]|sampler|steps|seed (sampler and steps '-' for per-model metrics such as bits/dim) */
  point: string;
  backend: string;
  sampler: string | null;
  steps: number | null;
  nfe: number | null;
  metric: string;
  value: number;
  std: number | null;
  /** samples (or test images) the value is computed from */
  n: number;
  /** sampling points: wall-clock seconds per sample; per-model metrics: seconds the evaluation took */
  seconds: number | null;
  /** GFLOP per sample (denoiser FLOPs × NFE + VAE decoder), where counted */
  gflop: number | null;
  seed: number;
  config_hash: string;
  git_commit: string;
  unit?: string;
  notes?: string[];
  /** model backends: the diffusion-stage training step of the evaluated checkpoint */
  train_step?: number | null;
  /**
   * model backends: training compute spent to reach that checkpoint, in GFLOP (3 × forward FLOPs per
   * image × batch × steps for each network trained; latent adds its VAE stage and the encoding pass)
   */
  train_gflop?: number | null;
}

/** Reads a metrics.jsonl; a torn last line (a run killed mid-write) is skipped, other bad lines are errors. */
export function readRows(file: string): ResultRow[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const rows: ResultRow[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      rows.push(JSON.parse(l) as ResultRow);
    } catch {
      if (i < lines.length - 1 && lines.slice(i + 1).some((x) => x.trim())) throw new Error(`${file}: line ${i + 1} is not JSON`);
    }
  });
  return rows;
}

/** Appends one grid point's rows in a single write. */
export function appendRows(file: string, rows: ResultRow[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // A torn line from a killed run must not glue onto the next record.
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length && !text.endsWith('\n')) writeFileAtomic(file, text.slice(0, text.lastIndexOf('\n') + 1));
  }
  fs.appendFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

export function writeRows(file: string, rows: ResultRow[]): void {
  writeFileAtomic(file, rows.map((r) => JSON.stringify(r) + '\n').join(''));
}
