// Advisory locks on files and directories that a run writes (a results file, a training stage), so
// two processes never append to the same place. A lock is a small JSON file created exclusively; one
// whose holder is provably gone is taken over with a note: on this host, no process with its pid, or
// one that started at another time (the pid was reused) or before the last boot; on another host,
// only a lock of this very Slurm job (a requeued job runs once at a time).
import fs from 'node:fs';
import os from 'node:os';

interface Holder {
  pid: number;
  host: string;
  command: string;
  since: string;
  /** the holder's start time in clock ticks since boot (/proc/<pid>/stat, field 22), and the boot's id */
  start?: string;
  boot?: string;
  /** the Slurm job (and array task) that held it */
  slurmJob?: string;
}

/** A process's start time (clock ticks after boot), where /proc tells it. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start at the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

const slurmJob = () => (process.env.SLURM_JOB_ID ? `${process.env.SLURM_ARRAY_JOB_ID ?? process.env.SLURM_JOB_ID}_${process.env.SLURM_ARRAY_TASK_ID ?? ''}` : undefined);

/** Why the holder of a lock is provably gone, or undefined while it may still run. */
export function holderGone(h: Holder, me: { host: string; boot?: string; slurmJob?: string }): string | undefined {
  if (h.host === me.host) {
    if (h.boot && me.boot && h.boot !== me.boot) return 'held before this machine last booted';
    if (!processAlive(h.pid)) return 'no longer running';
    if (h.start !== undefined) {
      const now = processStart(h.pid);
      if (now !== undefined && now !== h.start) return `pid ${h.pid} now belongs to another process`;
    }
    return undefined;
  }
  if (h.slurmJob && h.slurmJob === me.slurmJob) return `held by an earlier run of this Slurm job (${h.slurmJob}) on host ${h.host}`;
  return undefined;
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
 * Released on every exit Node sees. No signal handlers here: a listener would keep SIGINT/SIGTERM
 * from stopping a process in the middle of a long synchronous computation (util/interrupt.ts installs
 * them only around loops that return to the event loop), and the lock of a process killed by a signal
 * is provably stale for the next run (see holderGone).
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
  const me: Holder = { pid: process.pid, host: os.hostname(), command: process.argv.slice(1).join(' '), since: new Date().toISOString(), start: processStart(process.pid), boot: bootId(), slurmJob: slurmJob() };
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
    if (h && h.host === me.host && (h.pid === process.pid || h.pid === parent)) return { file, release: () => undefined };
    const gone = h ? holderGone(h, me) : 'unreadable';
    if (h && !gone && h.host === me.host) {
      throw new Error(`${what} is in use by process ${h.pid} (difflab ${h.command.replace(/^.*?difflab(\.js)? ?/, '')}, since ${h.since}); lock file ${file}. Wait for it to finish or stop it`);
    }
    if (h && !gone) {
      throw new Error(`${what} is locked by process ${h.pid} on host ${h.host} (since ${h.since}); if that run is gone, remove ${file}`);
    }
    note(`note: ${file}: taking over a stale lock${h ? ` of process ${h.pid} (${gone}, since ${h.since})` : ''}`);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`${file}: could not take the lock for ${what}`);
}
