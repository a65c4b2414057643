// The difflab command line: one module per command under ./commands.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { emaCommand } from './commands/ema.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { fidCommand } from './commands/fid.js';
import { infoCommand } from './commands/info.js';
import { nllCommand } from './commands/nll.js';
import { configCommand, mergeCommand, runCommand } from './commands/run.js';
import { sampleCommand } from './commands/sample.js';
import { scheduleCommand } from './commands/schedule.js';
import { trainCommand } from './commands/train.js';
import { exitWithParent } from '../runner/parallel.js';

const commands = [runCommand, mergeCommand, configCommand, infoCommand, scheduleCommand, trainCommand, emaCommand, sampleCommand, nllCommand, fidCommand, evalCommand, exportCommand];

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv).scriptName('difflab').usage('$0 <command> [options]');
  for (const c of commands) cli = cli.command(c as never);
  await cli
    .demandCommand(1, 'name a command; see difflab --help')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    .parseAsync();
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
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
