// Workers of `difflab run --jobs N` and their parent: kept apart from the runner so that the CLI can
// watch its parent without loading the runner.

/** Workers learn their parent's pid here, and exit when it is gone (killed with -9, say). */
export const PARENT_ENV = 'DIFFLAB_PARENT_PID';

/** In a worker: exits as soon as the parent that started it no longer runs (checked once a second). */
export function exitWithParent(): void {
  const parent = Number(process.env[PARENT_ENV]);
  if (!parent) return;
  const check = () => {
    if (process.ppid !== parent) {
      process.stderr.write(`difflab worker ${process.pid}: its parent ${parent} is gone; stopping\n`);
      process.exit(1);
    }
  };
  check();
  setInterval(check, 1000).unref();
}
