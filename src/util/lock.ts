// Advisory locks on files and directories that a run writes (a results file, a training stage), so
// two processes never append to the same place. A lock is a small JSON file created exclusively; one
// left by a process that no longer runs (kill -9, a crash) is taken over with a note.
import fs from 'node:fs';
import os from 'node:os';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface Lock {
  file: string;
  release(): void;
}

/** Worker processes of a parallel run name their parent here: its locks cover them. */
export const LOCK_PARENT_ENV = 'DIFFLAB_LOCK_PARENT';

const held = new Map<string, Holder>();
let handlersInstalled = false;

/** True when the process `pid` on this host still runs (for temp files and locks named by pid). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseAll(): void {
  for (const [file, h] of held) {
    try {
      const cur = JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
      if (cur.pid === h.pid) fs.rmSync(file, { force: true });
    } catch { /* already gone or replaced */ }
  }
  held.clear();
}

/**
 * Released on every exit Node sees. No signal handlers: a listener would keep SIGINT/SIGTERM from
 * stopping a process in the middle of a long synchronous computation (a grid point), and the lock of
 * a process killed by a signal is taken over as stale by the next run anyway.
 */
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', releaseAll);
}

/**
 * Takes the lock file `file` for `what` (named in the error a second process gets), or throws a
 * one-line error saying who holds it. Re-entrant within a process and its parallel-run workers.
 */
export function acquireLock(file: string, what: string, note: (line: string) => void = (l) => process.stderr.write(l + '\n')): Lock {
  const me: Holder = { pid: process.pid, host: os.hostname(), command: process.argv.slice(1).join(' '), since: new Date().toISOString() };
  const parent = Number(process.env[LOCK_PARENT_ENV]) || undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify(me) + '\n');
      fs.closeSync(fd);
      held.set(file, me);
      installHandlers();
      return { file, release: () => { if (held.delete(file)) fs.rmSync(file, { force: true }); } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${file}: cannot create the lock for ${what}: ${(e as Error).message}`);
    }
    let h: Holder | undefined;
    try {
      h = JSON.parse(fs.readFileSync(file, 'utf8')) as Holder;
    } catch {
      // Being written this instant, or a torn lock file: stale only once it is a few seconds old.
      const age = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < 5000) throw new Error(`${file}: ${what} is being locked by another process right now; try again`);
    }
    if (h && (h.pid === process.pid || h.pid === parent)) return { file, release: () => undefined };
    if (h && h.host === me.host && processAlive(h.pid)) {
      throw new Error(`${what} is in use by process ${h.pid} (difflab ${h.command.replace(/^.*?difflab(\.js)? ?/, '')}, since ${h.since}); lock file ${file}. Wait for it to finish or stop it`);
    }
    if (h && h.host !== me.host) {
      throw new Error(`${what} is locked by process ${h.pid} on host ${h.host} (since ${h.since}); if that run is gone, remove ${file}`);
    }
    note(`note: ${file}: taking over a stale lock${h ? ` of process ${h.pid} (no longer running, since ${h.since})` : ''}`);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`${file}: could not take the lock for ${what}`);
}
