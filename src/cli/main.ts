// The difflab command line: one module per command under ./commands, loaded only when its command
// runs, so that `difflab --help` and each command start without loading the others' dependencies.
import yargs, { type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitWithParent } from '../runner/parent.js';
import { RunInterrupted } from '../util/interrupt.js';
import { closest } from './suggest.js';

interface Entry {
  command: string;
  describe: string;
  load: () => Promise<CommandModule<object, never>>;
}

const COMMANDS: Entry[] = [
  { command: 'run [experiment]', describe: 'Run an experiment file: train (or reuse) its models, evaluate its grid into metrics.jsonl, write charts and report.html', load: async () => (await import('./commands/run.js')).runCommand as never },
  { command: 'merge <dir>', describe: 'Join the shard results of a run directory into metrics.jsonl and write its charts and report', load: async () => (await import('./commands/run.js')).mergeCommand as never },
  { command: 'config <file>', describe: 'Validate an experiment file; --print shows it fully resolved (presets merged, defaults filled)', load: async () => (await import('./commands/run.js')).configCommand as never },
  { command: 'info', describe: 'Show versions, the compute backend chosen (and why others were skipped), threads and memory', load: async () => (await import('./commands/info.js')).infoCommand as never },
  { command: 'schedule', describe: "Print a discrete noise schedule's tables: β, ᾱ, σ = √((1−ᾱ)/ᾱ) and log-SNR per step", load: async () => (await import('./commands/schedule.js')).scheduleCommand as never },
  { command: 'train', describe: 'Train a pixel or latent model from a config (YAML or JSON); checkpoints go to the run directory', load: async () => (await import('./commands/train.js')).trainCommand as never },
  { command: 'ema', describe: "Post-hoc EMA (EDM2): reconstruct EMA weights of any length σ_rel from a run's snapshots; sample or evaluate them with --weights ema:<σ_rel>", load: async () => (await import('./commands/ema.js')).emaCommand as never },
  { command: 'sample', describe: 'Draw samples with a sampler: from a Gaussian mixture (--gmm, writes .npy) or a trained run (--checkpoint, writes a .png grid or .npy)', load: async () => (await import('./commands/sample.js')).sampleCommand as never },
  { command: 'nll', describe: 'Estimate the NLL (nats and bits/dim) of data under a model, next to the exact value where the model knows it', load: async () => (await import('./commands/nll.js')).nllCommand as never },
  { command: 'fid', describe: 'FID (and KID, precision/recall, density/coverage) between two image or feature sets', load: async () => (await import('./commands/fid.js')).fidCommand as never },
  { command: 'eval', describe: 'Evaluate a trained run: FID/KID/PR/classifier score on a feature network, bits/dim, and sampling cost', load: async () => (await import('./commands/eval.js')).evalCommand as never },
  { command: 'export', describe: "Export a run's weights in PyTorch layout (safetensors) for bench/torch/difflab_torch.py", load: async () => (await import('./commands/export.js')).exportCommand as never },
];

/** Options whose value is itself a list of options: `--sbatch-args "--x"` is read as `--sbatch-args=--x`. */
const OPTION_VALUED = ['--sbatch-args'];

export function joinOptionValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (OPTION_VALUED.includes(argv[i]) && i + 1 < argv.length) out.push(`${argv[i]}=${argv[++i]}`);
    else out.push(argv[i]);
  }
  return out;
}

export async function main(rawArgv: string[]): Promise<void> {
  const argv = joinOptionValues(rawArgv);
  // Only the command being run is loaded; the others are listed by name and description.
  const name = argv.find((a) => !a.startsWith('-'));
  let cli: Argv = yargs(argv).scriptName('difflab').usage('$0 <command> [options]');
  // The options of the command being run, for "did you mean --…?" (its builder defines them).
  let known: Record<string, unknown> = {};
  for (const c of COMMANDS) {
    let full: CommandModule<object, never> | { command: string; describe: string; handler: () => void } = { command: c.command, describe: c.describe, handler: () => {} };
    if (c.command.split(' ')[0] === name) {
      const m = await c.load();
      const builder = m.builder as ((y: Argv) => Argv) | undefined;
      full = { ...m, describe: c.describe, builder: (y: Argv) => { const r = builder ? builder(y) : y; known = (r as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key; return r; } } as never;
    }
    cli = cli.command(full as never);
  }
  await cli
    .demandCommand(1, 'name a command; see difflab --help')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(withSuggestion(msg, argv, known));
    })
    .parseAsync();
}

/** A usage error with "did you mean …?" for a mistyped command or flag. */
function withSuggestion(msg: string, argv: string[], options: Record<string, unknown>): string {
  const commands = COMMANDS.map((c) => c.command.split(' ')[0]);
  const unknown = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!unknown) return msg;
  const words = unknown[1].split(', ');
  // The first word that is not an option is the command: if it is unknown, suggest a command.
  const first = argv.find((a) => !a.startsWith('-'));
  if (first !== undefined && words[0] === first && !commands.includes(first)) {
    const c = closest(first, commands);
    return `unknown command '${first}'${c ? `; did you mean \`difflab ${c}\`?` : ''} (difflab --help lists them)`;
  }
  // Option names as written on the command line (yargs also lists their camelCase aliases).
  const flags = Object.keys(options).filter((k) => k.length > 1 && !/[A-Z]/.test(k));
  const hints = words.map((w) => { const c = closest(w, flags); return c ? `--${w}: did you mean --${c}?` : undefined; }).filter(Boolean);
  return hints.length ? `${msg} (${hints.join('; ')})` : msg;
}

class UsageError extends Error {}

// `difflab schedule ... | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// A worker of `difflab run --jobs N` stops when its parent does, instead of running on as an orphan.
exitWithParent();

try {
  await main(hideBin(process.argv));
} catch (e) {
  // Errors are printed here, short: an uncaught one would be rethrown by the wasm runtime's
  // process handler and print its whole minified source.
  const err = e as Error;
  console.error(`difflab: ${err.message}`);
  if (process.env.DIFFLAB_DEBUG && err.stack) console.error(err.stack);
  // Interrupted by a signal: the shell's convention (128 + signal number).
  process.exitCode = err instanceof UsageError ? 2 : err instanceof RunInterrupted ? (/SIGINT/.test(err.reason) ? 130 : /SIGTERM/.test(err.reason) ? 143 : 1) : 1;
}
