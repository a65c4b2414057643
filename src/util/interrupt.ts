// Stopping a run at a clean boundary: a worker of `difflab run --jobs N` whose parent is gone, or a
// process asked to stop (SIGTERM, SIGINT) while its event loop runs, stops at the next training step
// or grid point, writes what it has, and releases its locks on the way out. The checks are
// synchronous, so that a training stage (one long synchronous computation) sees a dead parent at once.

import fs from 'node:fs';

/** Workers learn their parent's pid here, and stop when it is gone (killed with -9, say). */
export const PARENT_ENV = 'DIFFLAB_PARENT_PID';
/** A file whose existence asks a --jobs run's workers to stop (their parent writes it on a signal). */
export const STOP_FILE_ENV = 'DIFFLAB_STOP_FILE';

export class RunInterrupted extends Error {
  constructor(readonly reason: string) {
    super(`interrupted (${reason}); --resume continues where it stopped`);
    this.name = 'RunInterrupted';
  }
}

let requested: string | undefined;

/** Asks the run to stop at its next boundary (a signal handler calls this). */
export function requestStop(reason: string): void {
  requested ??= reason;
}

/** Why the run should stop now, or undefined: a stop was requested, or this worker's parent is gone. */
export function stopReason(): string | undefined {
  if (requested) return requested;
  const parent = Number(process.env[PARENT_ENV]);
  if (parent && process.ppid !== parent) return `its parent process ${parent} is gone`;
  const file = process.env[STOP_FILE_ENV];
  if (file && fs.existsSync(file)) return `asked to stop (${fs.readFileSync(file, 'utf8').trim() || 'by its parent'})`;
  return undefined;
}

/** At a step or point boundary: throws RunInterrupted when the run should stop. */
export function checkStop(): void {
  const why = stopReason();
  if (why) throw new RunInterrupted(why);
}

/**
 * While `work` runs, SIGTERM and SIGINT ask for a stop at the next boundary instead of ending the
 * process mid-write; a second signal ends it at once. Only for work that returns to the event loop
 * between boundaries (a loop that awaits): a listener cannot run inside synchronous code, where the
 * default action (immediate exit; every file is written atomically) is the right one.
 */
export async function stoppable<T>(work: () => Promise<T>, note: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<T> {
  const onSignal = (sig: NodeJS.Signals) => {
    if (requested) process.exit(sig === 'SIGINT' ? 130 : 143);
    requestStop(sig);
    note(`${sig}: stopping after the current step; a second ${sig} stops at once`);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    return await work();
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** Lets pending signal handlers run (a macrotask turn), then checks for a stop. */
export async function yieldAndCheck(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  checkStop();
}
