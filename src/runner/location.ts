// A run's location and files: its id and directory under the results root, its results files, the
// git commit rows record.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SAFE_NAME, SAFE_NAME_MESSAGE } from '../util/config-files.js';
import { configHash, type ResolvedExperiment } from './config.js';
import type { Shard } from './grid.js';

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
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

export const metricsFile = (dir: string, shard?: Shard) => path.join(dir, shard ? `metrics.shard-${shard.index}-of-${shard.count}.jsonl` : 'metrics.jsonl');
