// `difflab run`, `difflab merge`, `difflab config`: experiments from files, shards, resolved configs.
import { parseWorkers } from '../../train/data-parallel.js';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { closest } from '../suggest.js';
import { BACKEND_NAMES, type BackendRequest } from '../../compute/backend.js';
import { loadExperiment } from '../../runner/config.js';
import { defaultJobs, runParallel } from '../../runner/parallel.js';
import { mergeShards, modelBackends, parseShard, runExperiment } from '../../runner/run.js';
import { q, sbatchArgs, shellWords, slurmPlan, submitSlurm } from '../../runner/slurm.js';

interface RunArgs {
  experiment: string;
  resume: boolean;
  force: boolean;
  shard?: string;
  runId?: string;
  stage: 'all' | 'train' | 'autoencoders' | 'features' | 'eval';
  model?: string[];
  jobs: string;
  workers: string;
  quick: boolean;
  results: string;
  compute?: BackendRequest;
  slurm?: number;
  sbatchArgs?: string;
  printOnly: boolean;
}

/** The experiment files difflab ships (experiments/*.yaml beside the package). */
function shippedExperiments(): string[] {
  const dir = fileURLToPath(new URL('../../../experiments/', import.meta.url));
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(path.relative(process.cwd(), dir) || '.', f)) : [];
}

/**
 * The experiment file a user named, or a one-line error that says what `run` takes: the file's path
 * (with the closest shipped experiment when the name is near one) and the shipped experiments.
 */
export function experimentFile(name: string | undefined): string {
  const shipped = shippedExperiments();
  const listing = `shipped experiments: ${shipped.map((f) => path.basename(f, '.yaml')).join(', ')} (in ${path.dirname(shipped[0] ?? 'experiments/x')}/)`;
  if (!name) throw new Error(`run takes an experiment file, e.g. difflab run ${shipped.find((f) => f.endsWith('quickstart.yaml')) ?? 'experiments/quickstart.yaml'}; ${listing}`);
  if (fs.existsSync(name)) return name;
  const stem = path.basename(name).replace(/\.(ya?ml|json)$/, '');
  const guess = closest(stem, shipped.map((f) => path.basename(f, '.yaml')));
  const hint = guess ? `did you mean ${shipped.find((f) => path.basename(f, '.yaml') === guess)}? ` : '';
  throw new Error(`${name}: no such experiment file; ${hint}${listing}`);
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run [experiment]',
  builder: (y: Argv) => y
    .positional('experiment', { type: 'string', describe: 'experiment file (YAML or JSON), e.g. experiments/quickstart.yaml' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue a run: finished grid points are skipped, interrupted training resumes' })
    .option('force', { type: 'boolean', default: false, describe: 'discard earlier results of this run id and start over' })
    .option('shard', { type: 'string', describe: 'i/n: evaluate only every n-th grid point starting at i (0-based); join with difflab merge' })
    .option('run-id', { type: 'string', describe: 'results/<experiment>/<run-id> (default: the resolved config\'s hash)' })
    .option('stage', { choices: ['all', 'train', 'autoencoders', 'features', 'eval'] as const, default: 'all' as const, describe: 'train models only, the latent models\' autoencoders only, prepare the feature network only, evaluate only (models must exist), or all' })
    .option('model', { type: 'string', array: true, describe: 'with --stage train: train only these models' })
    .option('quick', { type: 'boolean', default: false, describe: "the experiment's quick preset: its `quick` block merged in (a short run that keeps the charts' shape), run as <name>-quick" })
    .option('workers', { type: 'string', default: 'auto', describe: 'threads that train one model together (data-parallel); auto = one per core (max 4) when models train one at a time, and the cores left per model when --jobs trains several side by side' })
    .option('jobs', { type: 'string', default: 'auto', describe: 'worker processes (one core each): models and the feature network train side by side, the grid runs in as many shards; auto = one per core (max 4), 1 for experiments without trained models' })
    .option('results', { type: 'string', default: 'results', describe: 'results root directory' })
    .option('compute', { choices: BACKEND_NAMES, describe: "tfjs compute device (default: the experiment's compute, auto)" })
    .option('slurm', { type: 'number', describe: 'submit to Slurm: a job that trains the models, an sbatch array of N shard tasks (task i runs --shard i/N from SLURM_ARRAY_TASK_ID), and a merge job that depends on it' })
    .option('sbatch-args', { type: 'string', describe: 'with --slurm: options for every sbatch job, e.g. "--partition=cpu --time=02:00:00"' })
    .option('print-only', { type: 'boolean', default: false, describe: 'with --slurm: print the job scripts and sbatch commands instead of submitting' }) as unknown as Argv<RunArgs>,
  handler: async (a: ArgumentsCamelCase<RunArgs>) => {
    a.experiment = experimentFile(a.experiment);
    if (a.slurm !== undefined) {
      if (a.shard || a.force || a.stage !== 'all' || a.model) throw new Error('--slurm runs the whole experiment as jobs: it takes no --shard, --force, --stage or --model');
      // Under Slurm the array's tasks are the processes; threads per training job come from --workers.
      if (a.jobs !== 'auto') throw new Error('--jobs does not apply with --slurm: each of the N array tasks is one process (--slurm N sets N); --workers sets the training job\'s threads');
      const workers = a.workers === 'auto' ? undefined : parseWorkers(a.workers);
      const plan = slurmPlan({ file: a.experiment, tasks: a.slurm, resultsRoot: a.results, runId: a.runId, compute: a.compute, quick: a.quick, sbatchArgs: a.sbatchArgs === undefined ? undefined : shellWords(a.sbatchArgs), workers });
      if (plan.tasks < a.slurm) console.error(`note: --slurm ${a.slurm}: the grid has ${plan.tasks} point(s), so ${plan.tasks} array task(s)`);
      if (a.printOnly) {
        const fake: Record<string, string> = {};
        for (const s of plan.scripts) {
          console.log(`# ${s.file}\n${s.text}`);
          // Quoted for the shell: a pasted line runs sbatch and nothing else, whatever the paths hold.
          console.log(`# submit: sbatch ${sbatchArgs(s, fake).map(q).join(' ')}\n`);
          fake[s.name] = `<${s.name} job id>`;
        }
        return;
      }
      const ids = submitSlurm(plan);
      console.log(`submitted ${Object.entries(ids).map(([k, v]) => `${k} ${v}`).join(', ')}; scripts and logs in ${plan.dir}/slurm; the merge job writes ${plan.dir}/report.html`);
      return;
    }
    if (a.printOnly || a.sbatchArgs) throw new Error('--print-only and --sbatch-args go with --slurm N');
    const exp = loadExperiment(a.experiment, { quick: a.quick });
    let jobs = a.jobs === 'auto' ? defaultJobs(modelBackends(exp).length > 0) : Number(a.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected a positive integer or auto, got '${a.jobs}'`);
    if (process.env.DIFFLAB_WORKER) jobs = 1; // a worker of a --jobs run never starts workers itself
    if (a.shard || a.model) {
      if (a.jobs !== 'auto' && jobs > 1) throw new Error(`--jobs ${jobs} cannot be combined with ${a.shard ? '--shard' : '--model'}: those run one slice in this process`);
      jobs = 1;
    }
    // A worker process of a --jobs run gets its thread count from its parent.
    const workers = a.workers === 'auto' && process.env.DIFFLAB_WORKER ? 1 : parseWorkers(a.workers);
    const r = jobs > 1
      ? await runParallel({ file: a.experiment, resume: a.resume, force: a.force, runId: a.runId, stage: a.stage, resultsRoot: a.results, jobs, compute: a.compute, workers: a.workers === 'auto' ? undefined : workers, quick: a.quick })
      : await runExperiment({ file: a.experiment, resume: a.resume, force: a.force, shard: a.shard ? parseShard(a.shard) : undefined, runId: a.runId, stage: a.stage, models: a.model, resultsRoot: a.results, compute: a.compute, workers, quick: a.quick });
    // A worker's parent reports for the whole run.
    if (!process.env.DIFFLAB_WORKER) console.log(`${r.dir}: ${r.evaluated} grid point(s) evaluated, ${r.skipped} skipped as done${a.shard || a.stage === 'train' || a.stage === 'features' ? '' : `; report: ${r.dir}/report.html`}`);
  },
};

export const mergeCommand: CommandModule<object, { dir: string }> = {
  command: 'merge <dir>',
  builder: (y: Argv) => y.positional('dir', { type: 'string', demandOption: true, describe: 'results/<experiment>/<run-id>' }) as unknown as Argv<{ dir: string }>,
  handler: async (a: ArgumentsCamelCase<{ dir: string }>) => {
    const rows = await mergeShards(a.dir);
    console.log(`${a.dir}: ${rows.length} rows in metrics.jsonl; report: ${a.dir}/report.html`);
  },
};

export const configCommand: CommandModule<object, { file: string; print: boolean; quick: boolean }> = {
  command: 'config <file>',
  builder: (y: Argv) => y
    .positional('file', { type: 'string', demandOption: true })
    .option('print', { type: 'boolean', default: false, describe: 'print the resolved config as JSON' })
    .option('quick', { type: 'boolean', default: false, describe: 'with the quick preset merged in' }) as unknown as Argv<{ file: string; print: boolean; quick: boolean }>,
  handler: (a: ArgumentsCamelCase<{ file: string; print: boolean; quick: boolean }>) => {
    const exp = loadExperiment(a.file, { quick: a.quick });
    const { file: _f, ...resolved } = exp;
    if (a.print) console.log(JSON.stringify(resolved, null, 2));
    else console.log(`${a.file}: valid (${Object.keys(exp.models).length} model(s), ${exp.grid?.backends.length ?? 0} backend(s) in the grid)`);
  },
};
