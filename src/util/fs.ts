// File helpers: atomic writes so an interrupted run never leaves a half-written file behind.
import fs from 'node:fs';
import path from 'node:path';

/** Writes via a temp file in the same directory and renames it over the target (atomic on POSIX). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw writeError(file, e);
  }
}

/** A write error that names the file (Node's ENOSPC and EACCES messages name only the temp file or nothing). */
export function writeError(file: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on the device' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'EROFS' ? 'read-only file system' : err.message;
  return new Error(`${file}: cannot write: ${why}${err.code ? ` (${err.code})` : ''}`);
}

/** Appends text to a file; errors name the file. */
export function appendFileNamed(file: string, text: string): void {
  try {
    fs.appendFileSync(file, text);
  } catch (e) {
    throw writeError(file, e);
  }
}

/**
 * Removes temp files (.NAME.<pid>.<time>.tmp, from writeFileAtomic) that processes no longer running
 * left in `dir` when they were killed mid-write; returns how many it removed.
 */
export function sweepStaleTemps(dir: string, alive: (pid: number) => boolean): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(f);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
      fs.rmSync(path.join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}

/** A JSON file's value; an unreadable, empty or truncated file is a one-line error naming it. */
export function readJsonFile<T = unknown>(file: string, what = 'JSON'): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!text.trim()) throw new Error(`${file}: empty; expected ${what}`);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message.split('\n')[0]}); expected ${what} — was it truncated?`);
  }
}

export interface JsonLines<T> {
  rows: T[];
  /** bytes of a torn last record (a process killed mid-write) that were left out */
  tornBytes: number;
  /** where the torn record starts, in characters of the text (its length when there is none) */
  tornAt: number;
}

/**
 * The records of a JSON-lines file. A torn tail (an unterminated or unparsable last line) is left out
 * and counted; a bad line before the end is an error naming the file and the line.
 */
export function readJsonLines<T = unknown>(file: string): JsonLines<T> {
  return fs.existsSync(file) ? parseJsonLines<T>(fs.readFileSync(file, 'utf8'), file) : { rows: [], tornBytes: 0, tornAt: 0 };
}

function parseJsonLines<T>(text: string, file: string): JsonLines<T> {
  const lines = text.split('\n');
  const rows: T[] = [];
  let at = 0;
  for (let i = 0; i < lines.length; at += lines[i].length + 1, i++) {
    const l = lines[i];
    if (!l.trim()) continue;
    const last = lines.slice(i + 1).every((x) => !x.trim());
    try {
      if (last && !text.endsWith('\n')) throw new Error('unterminated');
      rows.push(JSON.parse(l) as T);
    } catch {
      if (!last) throw new Error(`${file}: line ${i + 1} is not JSON`);
      return { rows, tornBytes: Buffer.byteLength(text.slice(at)), tornAt: at };
    }
  }
  return { rows, tornBytes: 0, tornAt: text.length };
}

/** Rewrites a JSON-lines file without its torn tail; returns the bytes dropped (0: untouched). */
export function dropTornTail(file: string): number {
  if (!fs.existsSync(file)) return 0;
  const text = fs.readFileSync(file, 'utf8');
  const { tornBytes, tornAt } = parseJsonLines(text, file);
  if (tornBytes) writeFileAtomic(file, text.slice(0, tornAt));
  return tornBytes;
}
