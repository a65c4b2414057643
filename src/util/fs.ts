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
    throw e;
  }
}
