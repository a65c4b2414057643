// Runs every test/**/*.test.ts file with uvu, one file per process, on a pool of one process per core
// (at most 4; DIFFLAB_TEST_JOBS overrides). A tfjs process computes on one core, so a single uvu
// process leaves the other cores idle. Each file's output is printed whole when it finishes, then a
// summary with the slowest files; the exit code is 1 if any file failed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.dirname(new URL(import.meta.url).pathname);
const uvu = path.join(root, '..', 'node_modules', 'uvu', 'bin.js');
const files = [];
const walk = (d) => {
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(path.relative(root, p));
  }
};
walk(root);
files.sort();
const jobs = Number(process.env.DIFFLAB_TEST_JOBS) || Math.max(1, Math.min(4, os.availableParallelism()));
// The files already keep every core busy: training commands in them use one thread each
// (data-parallel training is tested where a test asks for it explicitly).
process.env.DIFFLAB_WORKERS ??= '1';

function runFile(rel) {
  const dir = path.join(root, path.dirname(rel)), name = path.basename(rel);
  const pattern = `^${name.replace(/[.]/g, '\\.')}$`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [uvu, '-r', 'tsx', dir, pattern], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    child.on('close', (code) => resolve({ rel, code, out, seconds: (performance.now() - t0) / 1000 }));
  });
}

const queue = [...files], results = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, async () => {
  for (let f = queue.shift(); f; f = queue.shift()) {
    const r = await runFile(f);
    results.push(r);
    process.stdout.write(`\n── ${r.rel} (${r.seconds.toFixed(1)} s)${r.code ? ' FAILED' : ''}\n${r.out.trimEnd()}\n`);
  }
}));
const count = (re) => results.reduce((a, r) => a + Number((re.exec(r.out.replace(/\x1b\[[0-9;]*m/g, '')) ?? [])[1] ?? 0), 0);
const failed = results.filter((r) => r.code !== 0);
const total = count(/Total:\s+(\d+)/), passed = count(/Passed:\s+(\d+)/);
console.log(`\n${files.length} files, ${total} tests, ${passed} passed, ${failed.length} file(s) failed, ${((performance.now() - t0) / 1000).toFixed(0)} s on ${jobs} process(es)`);
console.log('slowest: ' + [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 6).map((r) => `${r.rel} ${r.seconds.toFixed(0)} s`).join(', '));
if (failed.length) console.log(`failed: ${failed.map((r) => r.rel).join(', ')}`);
process.exit(failed.length || total !== passed || total === 0 ? 1 : 0);
