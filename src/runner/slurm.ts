// An experiment as Slurm jobs: a preparation job (train the models, prepare the feature network),
// an array of N shard tasks (task i runs `--shard i/N` from SLURM_ARRAY_TASK_ID), and a merge job
// that joins the shards into metrics.jsonl, charts and report once every task has succeeded.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendRequest } from '../compute/backend.js';
import { writeFileAtomic } from '../util/fs.js';
import { loadExperiment } from './config.js';
import { gridPoints, modelBackends, runLocation } from './run.js';

const BIN = fileURLToPath(new URL('../../bin/difflab.js', import.meta.url));

export interface SlurmOptions {
  file: string;
  tasks: number;
  resultsRoot: string;
  runId?: string;
  compute?: BackendRequest;
  /** the experiment's quick preset */
  quick?: boolean;
  /** extra sbatch options for every job, e.g. ['--partition=cpu', '--time=02:00:00'] (one option per word) */
  sbatchArgs?: string[];
  /** threads that train each model in the preparation job (its --cpus-per-task) */
  workers?: number;
}

export interface SlurmPlan {
  dir: string;
  /** array tasks: the --slurm count, at most one per grid point */
  tasks: number;
  /** script file → text, in submission order */
  scripts: { name: 'prepare' | 'shards' | 'merge'; file: string; text: string; dependsOn?: 'prepare' | 'shards' }[];
}

/** A word quoted for the shell: safe to paste, whatever it holds. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A path or word that goes into a job script: control characters (a newline would end an #SBATCH
 * comment and run the rest as a command) are refused, naming what holds them.
 */
export function scriptSafe(what: string, s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new Error(`${what} ${JSON.stringify(s)}: control characters (a newline, a tab, …) cannot go into a Slurm job script`);
  return s;
}

/** An #SBATCH option's value: sbatch reads "double quotes", so spaces are fine but '"' and '\\' are not. */
function directiveValue(what: string, s: string): string {
  scriptSafe(what, s);
  if (/["\\]/.test(s)) throw new Error(`${what} ${JSON.stringify(s)}: '"' and '\\' cannot go into an #SBATCH line`);
  return /\s/.test(s) ? `"${s}"` : s;
}

/**
 * Shell words of --sbatch-args: whitespace separates words, quotes ('…', "…") and backslashes keep
 * them together, as a shell would read them (`--comment="two words"` is one option).
 */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur: string | null = null, quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') { quote = c; cur ??= ''; }
    else if (c === '\\' && i + 1 < s.length) cur = (cur ?? '') + s[++i];
    else if (/\s/.test(c)) { if (cur !== null) words.push(cur); cur = null; }
    else cur = (cur ?? '') + c;
  }
  if (quote) throw new Error(`--sbatch-args: unclosed ${quote} in ${JSON.stringify(s)}`);
  if (cur !== null) words.push(cur);
  for (const w of words) if (!w.startsWith('-')) throw new Error(`--sbatch-args: expected sbatch options (each starting with '-'), got ${JSON.stringify(w)}`);
  return words;
}

/** The job scripts of an experiment (nothing is written or submitted). */
export function slurmPlan(o: SlurmOptions): SlurmPlan {
  if (!Number.isInteger(o.tasks) || o.tasks < 1) throw new Error(`--slurm: expected a positive number of array tasks, got ${o.tasks}`);
  const exp = loadExperiment(o.file, { quick: o.quick });
  // More tasks than grid points would only start empty ones.
  const tasks = Math.min(o.tasks, Math.max(1, gridPoints(exp).length));
  const root = scriptSafe('--results', path.resolve(o.resultsRoot));
  const { dir } = runLocation(exp, root, o.runId);
  const file = scriptSafe('the experiment file', path.resolve(o.file));
  scriptSafe('the working directory', process.cwd());
  scriptSafe('the node binary', process.execPath);
  scriptSafe('difflab', BIN);
  for (const a of o.sbatchArgs ?? []) directiveValue('--sbatch-args', a);
  const common = [`--results ${q(root)}`, o.runId ? `--run-id ${q(o.runId)}` : '', o.compute ? `--compute ${o.compute}` : '', o.quick ? '--quick' : ''].filter(Boolean).join(' ');
  const output = (name: string) => directiveValue('the results directory', `${logs}/${name}-%A${name === 'shards' ? '_%a' : ''}.out`);
  const run = (args: string) => `${q(process.execPath)} ${q(BIN)} run ${q(file)} ${args} ${common}`.trim();
  const logs = path.join(dir, 'slurm');
  const header = (name: string, extra: string[] = []) => [
    '#!/bin/bash',
    `#SBATCH --job-name=difflab-${exp.name}-${name}`,
    `#SBATCH --output=${output(name)}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${name === 'prepare' ? o.workers ?? 1 : 1}`,
    ...extra,
    ...(o.sbatchArgs ?? []).map((a) => `#SBATCH ${directiveArg(a)}`),
    'set -euo pipefail',
    `cd ${q(process.cwd())}`,
  ];
  const scripts: SlurmPlan['scripts'] = [];
  const trains = modelBackends(exp).length > 0;
  const quality = (exp.grid?.metrics ?? []).some((m) => ['fid', 'kid', 'pr', 'is', 'class'].includes(m));
  if (trains || quality) {
    scripts.push({
      name: 'prepare', file: path.join(logs, 'prepare.sbatch'),
      text: [...header('prepare'), '# Train (or reuse) every model and prepare the feature network once, before the shards start.',
        run(`--stage train --resume${o.workers ? ` --workers ${o.workers}` : ''}`), ...(quality ? [run('--stage features')] : []), ''].join('\n'),
    });
  }
  scripts.push({
    name: 'shards', file: path.join(logs, 'shards.sbatch'), dependsOn: scripts.length ? 'prepare' : undefined,
    text: [...header('shards', [`#SBATCH --array=0-${tasks - 1}`]), `# Task i evaluates every ${tasks}-th grid point from point i; --resume makes a resubmitted task skip finished points.`,
      run(`--stage eval --shard "\${SLURM_ARRAY_TASK_ID}/${tasks}" --resume`), ''].join('\n'),
  });
  scripts.push({
    name: 'merge', file: path.join(logs, 'merge.sbatch'), dependsOn: 'shards',
    text: [...header('merge'), '# Join the shards into metrics.jsonl, then charts and report.html.', `${q(process.execPath)} ${q(BIN)} merge ${q(dir)}`, ''].join('\n'),
  });
  return { dir, tasks, scripts };
}

/** One --sbatch-args option as an #SBATCH line's text: `--comment=two words` → `--comment="two words"`. */
function directiveArg(a: string): string {
  const eq = a.indexOf('=');
  return eq < 0 ? directiveValue('--sbatch-args', a) : `${a.slice(0, eq + 1)}${directiveValue('--sbatch-args', a.slice(eq + 1))}`;
}

/** The sbatch command line of a script, with its dependency on the job ids already submitted. */
export function sbatchArgs(s: SlurmPlan['scripts'][number], ids: Record<string, string>): string[] {
  const dep = s.dependsOn && ids[s.dependsOn] ? [`--dependency=afterok:${ids[s.dependsOn]}`] : [];
  return ['--parsable', ...dep, s.file];
}

/** Writes the scripts under <run dir>/slurm/ and submits them in order; returns the job ids. */
export function submitSlurm(plan: SlurmPlan, sbatch = 'sbatch'): Record<string, string> {
  fs.mkdirSync(path.join(plan.dir, 'slurm'), { recursive: true });
  const ids: Record<string, string> = {};
  for (const s of plan.scripts) {
    writeFileAtomic(s.file, s.text);
    fs.chmodSync(s.file, 0o755);
    let out: string;
    try {
      out = execFileSync(sbatch, sbatchArgs(s, ids), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`sbatch ${s.file}: ${(err.stderr || err.message).trim()}`);
    }
    ids[s.name] = out.split(';')[0];
  }
  return ids;
}
