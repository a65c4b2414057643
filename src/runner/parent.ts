// Workers of `difflab run --jobs N` and their parent: kept apart from the runner so that the CLI can
// watch its parent without loading the runner.
import { PARENT_ENV, stopReason } from '../util/interrupt.js';

export { PARENT_ENV };

/**
 * In a worker: exits as soon as the parent that started it no longer runs, checked once a second
 * while the event loop is free (training steps and grid points check it themselves, synchronously).
 */
export function exitWithParent(): void {
  if (!Number(process.env[PARENT_ENV])) return;
  const check = () => {
    const why = stopReason();
    if (why) {
      process.stderr.write(`difflab worker ${process.pid}: ${why}; stopping\n`);
      process.exit(1);
    }
  };
  check();
  setInterval(check, 1000).unref();
}
