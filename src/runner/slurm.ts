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
import { modelBackends, runLocation } from './run.js';

const BIN = fileURLToPath(new URL('../../bin/difflab.js', import.meta.url));

export interface SlurmOptions {
  file: string;
  tasks: number;
  resultsRoot: string;
  runId?: string;
  compute?: BackendRequest;
  /** the experiment's quick preset */
  quick?: boolean;
  /** extra sbatch options for every job, e.g. ['--partition=cpu', '--time=02:00:00'] */
  sbatchArgs?: string[];
}

export interface SlurmPlan {
  dir: string;
  /** script file → text, in submission order */
  scripts: { name: 'prepare' | 'shards' | 'merge'; file: string; text: string; dependsOn?: 'prepare' | 'shards' }[];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The job scripts of an experiment (nothing is written or submitted). */
export function slurmPlan(o: SlurmOptions): SlurmPlan {
  if (!Number.isInteger(o.tasks) || o.tasks < 1) throw new Error(`--slurm: expected a positive number of array tasks, got ${o.tasks}`);
  const exp = loadExperiment(o.file, { quick: o.quick });
  const root = path.resolve(o.resultsRoot);
  const { dir } = runLocation(exp, root, o.runId);
  const file = path.resolve(o.file);
  const common = [`--results ${q(root)}`, o.runId ? `--run-id ${q(o.runId)}` : '', o.compute ? `--compute ${o.compute}` : '', o.quick ? '--quick' : ''].filter(Boolean).join(' ');
  const run = (args: string) => `${q(process.execPath)} ${q(BIN)} run ${q(file)} ${args} ${common}`.trim();
  const logs = path.join(dir, 'slurm');
  const header = (name: string, extra: string[] = []) => [
    '#!/bin/bash',
    `#SBATCH --job-name=difflab-${exp.name}-${name}`,
    `#SBATCH --output=${logs}/${name}-%A${name === 'shards' ? '_%a' : ''}.out`,
    '#SBATCH --ntasks=1',
    '#SBATCH --cpus-per-task=1',
    ...extra,
    ...(o.sbatchArgs ?? []).map((a) => `#SBATCH ${a}`),
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
        run('--stage train --resume'), ...(quality ? [run('--stage features')] : []), ''].join('\n'),
    });
  }
  scripts.push({
    name: 'shards', file: path.join(logs, 'shards.sbatch'), dependsOn: scripts.length ? 'prepare' : undefined,
    text: [...header('shards', [`#SBATCH --array=0-${o.tasks - 1}`]), `# Task i evaluates every ${o.tasks}-th grid point from point i; --resume makes a resubmitted task skip finished points.`,
      run(`--stage eval --shard "\${SLURM_ARRAY_TASK_ID}/${o.tasks}" --resume`), ''].join('\n'),
  });
  scripts.push({
    name: 'merge', file: path.join(logs, 'merge.sbatch'), dependsOn: 'shards',
    text: [...header('merge'), '# Join the shards into metrics.jsonl, then charts and report.html.', `${q(process.execPath)} ${q(BIN)} merge ${q(dir)}`, ''].join('\n'),
  });
  return { dir, scripts };
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
