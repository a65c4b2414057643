// Progress for long work: a bar on a TTY, periodic plain lines otherwise (CI logs).
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A bar when stderr is a TTY; otherwise one line every `everySeconds` (and at the end), so logs show
 * steady progress without flooding.
 */
export function progress(label: string, total: number, everySeconds = 10, start = 0): Progress {
  const t0 = Date.now();
  if (process.stderr.isTTY && !process.env.CI) {
    const bar = new cliProgress.SingleBar({
      format: `${label} [{bar}] {value}/{total} | {info} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, start, { info: '' });
    return {
      update: (done, info) => bar.update(done, { info: info ? fmtInfo(info) : '' }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  const line = (done: number, info?: Record<string, string | number>) => {
    const secs = (Date.now() - t0) / 1000;
    // Rate from this session's steps only: a resumed run starts at `start`.
    const eta = done > start ? (secs / (done - start)) * (total - done) : NaN;
    process.stderr.write(`[${label}] ${done}/${total} (${((100 * done) / total).toFixed(0)}%) ${info ? fmtInfo(info) + ' ' : ''}elapsed ${secs.toFixed(0)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(0) + ' s' : '?'}\n`);
  };
  return {
    update: (done, info) => {
      if (Date.now() - last >= everySeconds * 1000 || done === total) { last = Date.now(); line(done, info); }
    },
    stop: () => {},
  };
}

function fmtInfo(info: Record<string, string | number>): string {
  return Object.entries(info).map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4 ? v.toExponential(3) : v.toFixed(4)) : v}`).join(', ');
}
