// Timing helpers for benchmarks: warm-up, repeated runs, robust summaries.
export interface TimingSummary {
  /** Median wall-clock milliseconds. */
  ms: number;
  minMs: number;
  reps: number;
}

/**
 * Times several functions round-robin (a, b, c, a, b, c, …) so that drift in machine speed (other
 * tenants, frequency scaling) hits all of them alike and their ratios stay fair.
 */
export function timeInterleaved(fns: Record<string, () => void>, reps: number, warmup = 1): Record<string, TimingSummary> {
  const names = Object.keys(fns);
  for (let i = 0; i < warmup; i++) for (const n of names) fns[n]();
  const ts: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < reps; i++) {
    for (const n of names) {
      const t0 = performance.now();
      fns[n]();
      ts[n].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, summarize(ts[n])]));
}

export function median(samples: number[]): number {
  const ts = [...samples].sort((a, b) => a - b);
  const mid = ts.length >> 1;
  return ts.length % 2 ? ts[mid] : (ts[mid - 1] + ts[mid]) / 2;
}

function summarize(samples: number[]): TimingSummary {
  return { ms: median(samples), minMs: Math.min(...samples), reps: samples.length };
}
