// The results store: one JSON line per evaluated (grid point, metric), appended point by point so a
// killed run loses at most the point in flight.
import fs from 'node:fs';
import path from 'node:path';
import { appendFileNamed, dropTornTail, readJsonLines, writeFileAtomic } from '../util/fs.js';
import { acquireLock, type Lock } from '../util/lock.js';
import type { ResultRow } from '../metrics/result-row.js';

export type { ResultRow };

/** Reads a metrics.jsonl; a torn last line (a run killed mid-write) is skipped, other bad lines are errors. */
export function readRows(file: string): ResultRow[] {
  return readJsonLines<ResultRow>(file).rows;
}

/** Grid points whose rows are all in `rows` (see ResultRow.point_rows). */
export function completePoints(rows: ResultRow[]): Set<string> {
  const count = new Map<string, number>(), want = new Map<string, number | undefined>();
  for (const r of rows) {
    count.set(r.point, (count.get(r.point) ?? 0) + 1);
    want.set(r.point, r.point_rows);
  }
  return new Set([...count].filter(([p, n]) => want.get(p) === undefined || n >= want.get(p)!).map(([p]) => p));
}

/** Appends one grid point's rows in a single write, each stamped with the point's row count. */
export function appendRows(file: string, rows: ResultRow[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // A torn line from a killed run must not glue onto the next record.
  dropTornTail(file);
  appendFileNamed(file, rows.map((r) => JSON.stringify({ ...r, point_rows: rows.length })).join('\n') + '\n');
}

/** Removes every row of `points` from a results file (a partial point is recomputed whole). */
export function dropPoints(file: string, points: Set<string>): number {
  const { rows, tornBytes } = readJsonLines<ResultRow>(file);
  const kept = rows.filter((r) => !points.has(r.point));
  if (kept.length !== rows.length || tornBytes) writeRows(file, kept);
  return rows.length - kept.length;
}

/** Takes the lock of a results file (metrics.jsonl or a shard's): one writing process at a time. */
export function lockResults(file: string, log: (line: string) => void): Lock {
  return acquireLock(`${file}.lock`, `results file ${file}`, log);
}

export function writeRows(file: string, rows: ResultRow[]): void {
  writeFileAtomic(file, rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

/**
 * Every complete grid point of a run directory's result files, each point's rows taken from one file
 * (the first that holds it complete), in the order of `order` (the run's points.json).
 */
export function joinResults(files: string[], order: string[]): { rows: ResultRow[]; complete: Set<string> } {
  const taken = new Map<string, { file: string; rows: ResultRow[] }>();
  for (const f of files) {
    const rows = readRows(f);
    const complete = completePoints(rows);
    for (const r of rows) {
      if (!complete.has(r.point)) continue;
      const mine = taken.get(r.point) ?? { file: f, rows: [] };
      if (mine.file !== f) continue;
      mine.rows.push(r);
      taken.set(r.point, mine);
    }
  }
  const rank = new Map(order.map((k, i) => [k, i]));
  // Within a file a metric written twice for one point keeps its last value.
  const last = (rs: ResultRow[]) => [...new Map(rs.map((r) => [r.metric, r])).values()];
  const rows = [...taken.values()].flatMap((t) => last(t.rows)).sort((a, b) => (rank.get(a.point) ?? 1e9) - (rank.get(b.point) ?? 1e9));
  return { rows, complete: new Set(taken.keys()) };
}
