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
  // finding), its contrasts (read from the rows afterwards) and the quick preset of a full run do not:
  // writing down a result keeps the run.
  const { file: _file, description: _d, paper: _p, quick: _q, contrasts: _c, ...cfgForHash } = exp;
  const hash = configHash(cfgForHash);
  if (runId !== undefined && !SAFE_NAME.test(runId)) throw new Error(`--run-id '${runId}': expected ${SAFE_NAME_MESSAGE}`);
  return { hash, runId: runId ?? hash, dir: path.join(root, exp.name, runId ?? hash) };
}

export const existingResultsError = (file: string) => new Error(`${file} already has results: pass --resume to continue this run, or --force to start it over`);

export const metricsFile = (dir: string, shard?: Shard) => path.join(dir, shard ? `metrics.shard-${shard.index}-of-${shard.count}.jsonl` : 'metrics.jsonl');

/**
 * Creates a run directory, or says in one line why it cannot be (a read-only or full results root,
 * no permission) instead of a bare ENOENT from deep inside.
 */
export function makeRunDir(dir: string, root: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    // A read-only mount accepts access() for root: try a write.
    const probe = path.join(dir, `.write-test-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e0) {
    // A recursive mkdir under a read-only mount reports ENOENT: the first missing directory, made on
    // its own, tells the real reason.
    let e = e0;
    let d = path.resolve(dir);
    while (!fs.existsSync(path.dirname(d)) && path.dirname(d) !== d) d = path.dirname(d);
    if (!fs.existsSync(d)) { try { fs.mkdirSync(d); fs.rmdirSync(d); } catch (e1) { e = e1; } }
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'no permission to write there' : code === 'ENOSPC' ? 'no space left' : (e as Error).message;
    throw new Error(`--results ${root}: cannot write the run directory ${dir} (${why}, ${code}); pass --results DIR on a writable disk`);
  }
}
