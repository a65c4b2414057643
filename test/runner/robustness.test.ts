// What survives kills, overlapping runs and hand-edited files, on the analytic backend (seconds).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../../src/compute/backend.js';
import { loadExperiment } from '../../src/runner/config.js';
import { readRows } from '../../src/runner/results.js';
import { runExperiment, type RunOptions } from '../../src/runner/run.js';
import { BIN } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-robust-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.before(async () => { await selectBackend('wasm'); });
const GMM = path.resolve('configs/gmm/8-gaussians.json');

function experiment(name: string): string {
  const f = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(f, `
name: ${name}
analytic: { gmm: ${GMM} }
grid:
  backends: [analytic]
  samplers: [euler, heun, euler-ancestral]
  steps: [3, 5]
  seeds: [0]
  metrics: [path-rms, sw2, cost]
eval: { n: 100 }
charts: [sampler-error]
`);
  return f;
}

const run = (file: string, extra: Partial<RunOptions> = {}) => runExperiment({ file, resultsRoot: path.join(dir, 'results'), log: () => {}, ...extra });
const keysOf = (rows: { point: string; metric: string }[]) => rows.map((r) => `${r.point} ${r.metric}`);

test('a --jobs 2 run killed after one shard, resumed with --jobs 1: metrics.jsonl and the report hold every point once', async () => {
  const file = experiment('killed');
  // What a killed two-job run leaves: shard 0 complete, shard 1 with one point cut short mid-write.
  await run(file, { shard: { index: 0, count: 2 } });
  await run(file, { shard: { index: 1, count: 2 } });
  const runDir = path.join(dir, 'results', 'killed', fs.readdirSync(path.join(dir, 'results', 'killed'))[0]);
  const s1 = path.join(runDir, 'metrics.shard-1-of-2.jsonl');
  const lines = fs.readFileSync(s1, 'utf8').trim().split('\n');
  const cut = JSON.parse(lines[lines.length - 1]).point as string;
  const keep = lines.filter((l) => JSON.parse(l).point !== cut);
  const partialRows = lines.filter((l) => JSON.parse(l).point === cut);
  assert.ok(partialRows.length >= 2, 'the last point wrote several rows');
  fs.writeFileSync(s1, [...keep, partialRows[0], partialRows[1].slice(0, 20)].join('\n'));
  const reference = await run(experiment('reference'));
  const r = await run(file, { resume: true });
  assert.is(r.evaluated, 1, 'only the cut point is evaluated again');
  const rows = readRows(path.join(runDir, 'metrics.jsonl'));
  const want = readRows(path.join(reference.dir, 'metrics.jsonl'));
  assert.equal(keysOf(rows).sort(), keysOf(want).sort());
  assert.is(new Set(keysOf(rows)).size, rows.length, 'every point and metric once');
  // The report's results table has one row per grid point: all 6 of them, once each.
  const html = fs.readFileSync(path.join(runDir, 'report.html'), 'utf8');
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(html)![1];
  const listed = [...body.matchAll(/<tr><td>analytic<\/td><td>([^<]+)<\/td><td>(\d+)<\/td>/g)].map((m) => `${m[1]} ${m[2]}`);
  assert.equal(listed.sort(), ['euler 3', 'euler 5', 'euler-ancestral 3', 'euler-ancestral 5', 'heun 3', 'heun 5']);
});

test('a second run of the same experiment fails at once, naming the holder; a stale lock is taken over with a note', async () => {
  const file = experiment('locked');
  const exp = loadExperiment(file);
  const first = await run(file);
  const lockFile = path.join(first.dir, 'metrics.jsonl.lock');
  assert.not.ok(fs.existsSync(lockFile), 'released after the run');
  const holder = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(lockFile, JSON.stringify({ pid: holder.pid, host: os.hostname(), command: `/x/bin/difflab.js run ${file}`, since: '2026-01-01T00:00:00Z' }));
    let msg = '';
    try { await run(file, { resume: true }); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, new RegExp(`results file .*metrics\\.jsonl is in use by process ${holder.pid} \\(difflab run .*locked\\.yaml, since 2026-01-01`));
    holder.kill('SIGKILL');
    await new Promise((res) => holder.on('exit', res));
    const notes: string[] = [];
    await run(file, { resume: true, log: (l) => notes.push(l) });
    assert.ok(notes.some((n) => /taking over a stale lock of process \d+ \(no longer running/.test(n)), notes.join('\n'));
    assert.is(readRows(path.join(first.dir, 'metrics.jsonl')).length, first.rows.length, 'no duplicated rows');
    assert.ok(exp.name === 'locked');
  } finally {
    holder.kill('SIGKILL');
  }
});

test('a worker of a --jobs run exits when its parent is killed with -9', async () => {
  // A shell stands in for the parent: it starts the worker code with its own pid as the parent's.
  const child = path.join(dir, 'worker.mjs');
  const tsxApi = pathToFileURL(path.resolve('node_modules/tsx/dist/esm/api/index.mjs')).href;
  fs.writeFileSync(child, `import { register } from '${tsxApi}'; register();
const m = await import(${JSON.stringify(path.resolve('src/runner/parallel.ts'))});
m.exitWithParent(); console.log('ready'); setInterval(() => {}, 1000);\n`);
  const sh = spawn('sh', ['-c', `DIFFLAB_PARENT_PID=$$ node ${child} & echo $!; wait`], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'ignore'] });
  // The shell prints the worker's pid, then the worker prints 'ready' once it watches its parent
  // (loading the modules can take seconds on a busy machine).
  let out = '';
  await new Promise<void>((res) => sh.stdout.on('data', (b) => { out += String(b); if (/ready/.test(out)) res(); }));
  const workerPid = Number(out.trim().split(/\s+/)[0]);
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  assert.ok(alive(workerPid), 'the worker runs while its parent does');
  sh.kill('SIGKILL');
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) { await new Promise((res) => setTimeout(res, 100)); gone = !alive(workerPid); }
  if (!gone) process.kill(workerPid, 'SIGKILL');
  assert.ok(gone, 'the worker stopped within 5 s of its parent');
});

test('SIGTERM, then SIGKILL, to the --jobs parent mid-training: its workers stop within seconds at a step, save it, release their locks, and --resume continues', async () => {
  const file = path.join(dir, 'long.yaml');
  fs.writeFileSync(file, `name: long\nmodels:\n  pixel:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    name: long-pixel\n    diffusion: { train: { steps: 5000, checkpointEvery: 5000 } }\ngrid: { backends: [pixel], samplers: [ddim], steps: [2], metrics: [cost] }\neval: { n: 4 }\n`);
  const results = path.join(dir, 'long-results');
  const children = (pid: number) => spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  for (const [sig, resume] of [['SIGTERM', false], ['SIGKILL', true]] as const) {
    const parent = spawn('node', [BIN, 'run', file, '--jobs', '2', '--workers', '1', '--results', results, ...(resume ? ['--resume'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    parent.stderr.on('data', (b) => { out += String(b); });
    // Wait until the worker trains (a progress line), then signal the parent alone.
    for (let i = 0; i < 600 && !/\[diffusion\] \d+\/5000/.test(out); i++) await new Promise((res) => setTimeout(res, 100));
    assert.match(out, /\[diffusion\] \d+\/5000/, out);
    const workers = children(parent.pid!);
    assert.ok(workers.length >= 1, 'a worker process runs');
    const t0 = Date.now();
    process.kill(parent.pid!, sig);
    let gone = false;
    for (let i = 0; i < 200 && !gone; i++) { await new Promise((res) => setTimeout(res, 100)); gone = !alive(parent.pid!) && workers.every((w) => !alive(w)); }
    for (const w of workers) if (alive(w)) process.kill(w, 'SIGKILL');
    assert.ok(gone, `${sig}: parent and workers gone within 20 s`);
    assert.ok(Date.now() - t0 < 20_000);
    if (sig === 'SIGTERM') assert.match(out, /SIGTERM: the workers stop after their current step/);
    // The workers released their locks; a parent killed with -9 cannot release its own, which names
    // a dead process and is taken over by the next run.
    const locks = spawnSync('find', [results, '-name', '*.lock'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    if (sig === 'SIGTERM') assert.equal(locks, [], `${sig}: locks left: ${locks}`);
    else {
      assert.equal(locks.map((l) => path.basename(l)), ['metrics.jsonl.lock'], locks.join(', '));
      assert.is(JSON.parse(fs.readFileSync(locks[0], 'utf8')).pid, parent.pid);
    }
  }
  const ckpts = spawnSync('find', [results, '-name', 'step-*.safetensors'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  assert.ok(ckpts.length >= 2, `each stop saved the step it reached: ${ckpts.join(', ')}`);
  const again = spawnSync('node', [BIN, 'run', file, '--stage', 'train', '--jobs', '1', '--results', results, '--resume'], { encoding: 'utf8', timeout: 5000 });
  assert.match(again.stderr, /resuming from .*step-\d+ at step \d+/, again.stderr);
});

test('a lock whose pid now belongs to another process, or that an earlier run of the same Slurm job held on another host, is taken over', async () => {
  const { acquireLock, processStart } = await import('../../src/util/lock.js');
  const holder = spawn('sleep', ['30']);
  try {
    const file = path.join(dir, 'pid.lock');
    const write = (extra: object) => fs.writeFileSync(file, JSON.stringify({ pid: holder.pid, host: os.hostname(), command: 'difflab run x', since: '2026-01-01T00:00:00Z', ...extra }));
    // The live pid with its own start time: in use.
    write({ start: processStart(holder.pid!) });
    assert.throws(() => acquireLock(file, 'the thing', () => {}), /the thing is in use by process/);
    // The same pid recorded with another start time: that process is gone and the pid was reused.
    write({ start: '1' });
    const notes: string[] = [];
    acquireLock(file, 'the thing', (l) => notes.push(l)).release();
    assert.match(notes.join(''), new RegExp(`taking over a stale lock of process ${holder.pid} \\(pid ${holder.pid} now belongs to another process`));
    // Another host: refused, unless it was this very Slurm job (a requeue runs it once at a time).
    const other = (job?: string) => fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'other-node', command: 'difflab', since: '2026-01-01T00:00:00Z', ...(job ? { slurmJob: job } : {}) }));
    other('77_3');
    assert.throws(() => acquireLock(file, 'the thing', () => {}), /locked by process 1 on host other-node/);
    process.env.SLURM_JOB_ID = '80'; process.env.SLURM_ARRAY_JOB_ID = '77'; process.env.SLURM_ARRAY_TASK_ID = '3';
    try {
      const n2: string[] = [];
      acquireLock(file, 'the thing', (l) => n2.push(l)).release();
      assert.match(n2.join(''), /earlier run of this Slurm job \(77_3\) on host other-node/);
      other('77_4');
      assert.throws(() => acquireLock(file, 'the thing', () => {}), /locked by process 1 on host other-node/);
    } finally {
      delete process.env.SLURM_JOB_ID; delete process.env.SLURM_ARRAY_JOB_ID; delete process.env.SLURM_ARRAY_TASK_ID;
      fs.rmSync(file, { force: true });
    }
  } finally {
    holder.kill('SIGKILL');
  }
});

test('bounds: a 1e8-point grid, an oversized model or dataset, DIFFLAB_WORKERS=1000, a read-only results root, a one-row feature file: one-line errors naming the setting', async () => {
  const big = path.join(dir, 'huge.yaml');
  const list = (n: number) => `[${Array.from({ length: n }, (_, i) => i + 1).join(', ')}]`;
  fs.writeFileSync(big, `name: huge\nanalytic: { gmm: ${GMM} }\ngrid:\n  backends: [analytic]\n  samplers: [euler]\n  steps: ${list(10000)}\n  seeds: ${list(10000)}\n  metrics: [sw2]\n`);
  const t0 = performance.now();
  assert.throws(() => loadExperiment(big), /huge\.yaml: grid: up to 1\.00e\+8 points .*; at most 100000 per experiment/);
  assert.ok(performance.now() - t0 < 5000, 'refused before any point is made');
  const { UNet } = await import('../../src/models/unet.js');
  assert.throws(() => new UNet({ imageSize: 16, inChannels: 1, outChannels: 1, channels: 1024, channelMult: [16, 16], numResBlocks: 2, attentionResolutions: [], dropout: 0, heads: 1, scaleShiftNorm: true } as never, 0), /model\.channels 1024 × channelMult \[16, 16\] \(widest level 16384 channels\): about [\d.]+ billion parameters, [\d.]+ GiB as float32/);
  const { loadDataset } = await import('../../src/data/index.js');
  assert.throws(() => loadDataset({ name: 'mnist', split: 'all', resize: [4096, 4096] }), /data\.resize: \[4096, 4096\]: \d+ images of 4096×4096×1 need [\d.]+ GiB as float32/);
  const { parseWorkers } = await import('../../src/train/data-parallel.js');
  process.env.DIFFLAB_WORKERS = '1000';
  try { assert.throws(() => parseWorkers('auto'), /DIFFLAB_WORKERS: expected a positive integer \(at most 64\), got '1000'/); } finally { delete process.env.DIFFLAB_WORKERS; }
  // A feature file of one row: the error names it.
  const { writeNpy } = await import('../../src/util/npy.js');
  const one = path.join(dir, 'one.npy'), five = path.join(dir, 'five.npy');
  writeNpy(one, new Float32Array(4), [1, 4]);
  writeNpy(five, Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), [5, 4]);
  const r = spawnSync('node', [BIN, 'fid', '--real', five, '--fake', one], { encoding: 'utf8' });
  assert.match(r.stderr, new RegExp(`--fake ${one.replace(/[.]/g, '\\.')}: 1 sample\\(s\\); FID needs at least 2`));
  if (process.getuid?.() !== 0) { console.log('  note: skipped the read-only results root: mounting needs root'); return; }
  const ro = path.join(dir, 'ro');
  fs.mkdirSync(ro);
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
  try {
    let msg = '';
    try { await run(experiment('readonly'), { resultsRoot: ro }); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, /--results .*ro: cannot write the run directory .*readonly.* \(a read-only file system, EROFS\); pass --results DIR on a writable disk/);
  } finally {
    spawnSync('umount', [ro]);
  }
});

test('Ctrl-C (SIGINT) to difflab run stops between grid points with a note and exit 130; --resume finishes; a finished run answers at once', async () => {
  const file = path.join(dir, 'ctrlc.yaml');
  fs.writeFileSync(file, `name: ctrlc\nanalytic: { gmm: ${GMM} }\ngrid:\n  backends: [analytic]\n  samplers: [euler, heun, dpm-solver++-2m, ddim]\n  steps: [8, 16, 32, 64, 128]\n  metrics: [path-rms, sw2, cost]\neval: { n: 400 }\ncharts: [sampler-error]\n`);
  const results = path.join(dir, 'ctrlc-results');
  const child = spawn('node', [BIN, 'run', file, '--results', results], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b) => { err += String(b); });
  for (let i = 0; i < 600 && !/\[grid 3\/20\]/.test(err); i++) await new Promise((res) => setTimeout(res, 50));
  const t0 = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.is(code, 130, err);
  assert.ok(Date.now() - t0 < 15_000, 'stopped within one grid point');
  assert.match(err, /SIGINT: stopping after the current step/);
  assert.match(err, /difflab: interrupted \(SIGINT\); --resume continues where it stopped/);
  const runDir = fs.readdirSync(path.join(results, 'ctrlc')).map((d) => path.join(results, 'ctrlc', d))[0];
  assert.not.ok(fs.existsSync(path.join(runDir, 'metrics.jsonl.lock')), 'the lock is released');
  const again = spawnSync('node', [BIN, 'run', file, '--results', results], { encoding: 'utf8' });
  assert.match(again.stderr, /metrics\.jsonl already has results: pass --resume/);
  const resumed = spawnSync('node', [BIN, 'run', file, '--results', results, '--resume'], { encoding: 'utf8' });
  assert.is(resumed.status, 0, resumed.stderr);
  const rows = readRows(path.join(runDir, 'metrics.jsonl'));
  assert.is(new Set(rows.map((r) => r.point)).size, 20);
  assert.is(rows.length, new Set(rows.map((r) => `${r.point} ${r.metric}`)).size, 'every row once');
  // Finished: a plain run says so and names the report; --resume answers without redoing anything.
  const done = spawnSync('node', [BIN, 'run', file, '--results', results], { encoding: 'utf8' });
  assert.is.not(done.status, 0);
  assert.match(done.stderr, /this run is complete \(20 grid points\); its report is .*report\.html/);
  const t1 = Date.now();
  const quick = spawnSync('node', [BIN, 'run', file, '--results', results, '--resume'], { encoding: 'utf8' });
  assert.is(quick.status, 0);
  assert.match(quick.stderr, /complete \(20 grid points\): .*report\.html/);
  assert.not.match(quick.stderr, /\[report\]|\[grid 1/);
  assert.ok(Date.now() - t1 < 10_000);
});

test('names must be single safe path segments; sizes are bounded', () => {
  const bad = (text: string) => {
    const f = path.join(dir, 'bad.yaml');
    fs.writeFileSync(f, text);
    try { loadExperiment(f); } catch (e) { return (e as Error).message; }
    return 'no error';
  };
  assert.match(bad(`name: ..\nanalytic: { gmm: ${GMM} }\n`), /bad\.yaml: name: a single path segment: letters, digits, '\.', '_' and '-' \(at most 120\), not '\.' or '\.\.'/);
  assert.match(bad(`name: x\nmodels:\n  ..: { $ref: ${path.resolve('configs/train/quick-pixel.yaml')} }\n`), /bad\.yaml: models\.\.\.: a single path segment/);
  assert.match(bad(`name: x\nmodels:\n  p:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    name: '..'\n`), /bad\.yaml: models\.p\.name: a single path segment/);
  assert.match(bad(`name: x\nmodels:\n  p:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    diffusion: { schedule: { name: linear, T: 100000000 } }\n`), /models\.p\.diffusion\.schedule\.T: Too big: expected number to be <=100000/);
  // Train-config errors list the accepted keys, as experiment errors do.
  assert.match(bad(`name: x\nmodels:\n  p:\n    $ref: ${path.resolve('configs/train/quick-pixel.yaml')}\n    diffusion: { trian: {} }\n`), /models\.p\.diffusion: unknown key 'trian'; accepted: model, objective, schedule, noise, weighting, offsetNoise, conditioning, train/);
});

test('bad input files are one-line errors naming the file: NaN and empty .npy data, overflowing GMM weights', () => {
  const cli = (...args: string[]) => spawnSync('node', [BIN, ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  const npy = (name: string, data: Float32Array, shape: number[]) => {
    const f = path.join(dir, name);
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
    const pad = ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64);
    const h = Buffer.from(header + pad + '\n', 'latin1');
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, h.length & 255, h.length >> 8]);
    fs.writeFileSync(f, Buffer.concat([pre, h, Buffer.from(data.buffer)]));
    return f;
  };
  const nan = npy('nan.npy', Float32Array.from([0, 1, NaN, 2]), [2, 2]);
  const empty = npy('empty.npy', new Float32Array(0), [0, 2]);
  const gmm1 = path.resolve('configs/gmm/8-gaussians.json');
  const nll = cli('nll', '--gmm', gmm1, '--data', nan, '--method', 'ode');
  assert.is(nll.status, 1);
  assert.match(nll.stderr, /--data .*nan\.npy: 1 value\(s\) are NaN or infinite \(the first in row 1\)/);
  const e = cli('nll', '--gmm', gmm1, '--data', empty);
  assert.match(e.stderr, /--data .*empty\.npy: has no rows \(shape \[0, 2\]\)/);
  const fid = cli('fid', '--real', nan, '--fake', nan);
  assert.is(fid.status, 1);
  assert.match(fid.stderr, /--real .*nan\.npy: 1 value\(s\) are NaN or infinite/);
  const imgs = npy('nan-images.npy', Float32Array.from({ length: 2 * 16 }, (_, i) => (i === 5 ? NaN : 0)), [2, 4, 4, 1]);
  assert.match(cli('fid', '--real', 'mnist:test', '--fake', imgs).stderr, /--fake .*nan-images\.npy: 1 value\(s\) are NaN or infinite \(the first in row 0\)/);
  const noise = npy('z-nan.npy', Float32Array.from([NaN, 0, 0, 0]), [2, 2]);
  assert.match(cli('sample', '--gmm', gmm1, '--sampler', 'euler', '--n', '2', '--init-noise', noise, '--out', path.join(dir, 'o.npy')).stderr, /--init-noise .*z-nan\.npy: 1 value\(s\) are NaN or infinite/);
  const g = path.join(dir, 'inf.json');
  fs.writeFileSync(g, JSON.stringify({ weights: [1e308, 1e308], means: [[0], [1]], stds: 1 }));
  const r = cli('sample', '--gmm', g, '--sampler', 'euler', '--n', '2', '--out', path.join(dir, 'o.npy'));
  assert.match(r.stderr, /inf\.json: weights: their sum overflows \(Infinity\)/);
});

test.run();
