// $ref as an attacker or a careless user writes it: files outside the project tree, devices, FIFOs,
// fan-out that doubles per file, nesting 100,000 deep, references into the same file and into arrays,
// and errors that must not echo the content of a file they refuse.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadGmm } from '../../src/models/gmm.js';
import { loadExperiment } from '../../src/runner/config.js';
import { readStructured, resolveRefs } from '../../src/util/config-files.js';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-refs-')));
const proj = path.join(tmp, 'proj'), elsewhere = path.join(tmp, 'elsewhere');
fs.mkdirSync(path.join(proj, 'experiments'), { recursive: true });
fs.mkdirSync(elsewhere, { recursive: true });
fs.writeFileSync(path.join(proj, 'package.json'), '{}');
const SECRET = 'hunter2-do-not-print';
fs.writeFileSync(path.join(elsewhere, 'credentials.json'), JSON.stringify({ token: SECRET }));
const write = (rel: string, text: string) => { const f = path.join(proj, rel); fs.mkdirSync(path.dirname(f), { recursive: true }); fs.writeFileSync(f, text); return f; };
const PRESET = path.resolve('configs/train/quick-pixel.yaml');
const exp = (extra: string) => `name: e\nmodels:\n  p: { $ref: ${PRESET} }\ngrid: { backends: [p], samplers: [ddim], steps: [2], metrics: [fid] }\n${extra}`;

/** The error a load throws (its message), or '' if it loaded. */
function failure(f: () => unknown): string {
  try { f(); return ''; } catch (e) { return (e as Error).message; }
}

test('a $ref outside the project tree is refused, relative, absolute or through a symlink; the file is not echoed', () => {
  for (const ref of ['../../elsewhere/credentials.json', path.join(elsewhere, 'credentials.json')]) {
    const file = write('experiments/out.yaml', exp(`quick: { $ref: ${ref} }\n`));
    const msg = failure(() => loadExperiment(file));
    assert.match(msg, /out\.yaml: quick\.\$ref: .*credentials\.json is outside the project tree/);
    assert.not.match(msg, new RegExp(SECRET));
  }
  fs.symlinkSync(path.join(elsewhere, 'credentials.json'), path.join(proj, 'experiments', 'link.json'));
  const file = write('experiments/link.yaml', exp('quick: { $ref: link.json }\n'));
  assert.match(failure(() => loadExperiment(file)), /link\.json is outside the project tree/);
});

test('DIFFLAB_REF_ROOTS allows another directory; difflab\'s presets are always allowed', () => {
  const file = write('experiments/allowed.yaml', exp(`description: { $ref: ../../elsewhere/credentials.json#/token }\n`));
  process.env.DIFFLAB_REF_ROOTS = elsewhere;
  try {
    assert.is(loadExperiment(file).description, SECRET);
  } finally {
    delete process.env.DIFFLAB_REF_ROOTS;
  }
  assert.is(loadExperiment(write('experiments/preset.yaml', exp(''))).models.p.backend, 'pixel');
});

test('a device or a FIFO is refused at once (no read that never ends or never starts)', () => {
  process.env.DIFFLAB_REF_ROOTS = '/dev';
  try {
    const t0 = performance.now();
    assert.match(failure(() => loadExperiment(write('experiments/zero.yaml', exp('quick: { $ref: /dev/zero }\n')))), /\/dev\/zero is not a regular file/);
    assert.ok(performance.now() - t0 < 2000);
  } finally {
    delete process.env.DIFFLAB_REF_ROOTS;
  }
  execFileSync('mkfifo', [path.join(proj, 'experiments', 'pipe.yaml')]);
  const t0 = performance.now();
  assert.match(failure(() => loadExperiment(write('experiments/fifo.yaml', exp('quick: { $ref: pipe.yaml }\n')))), /pipe\.yaml is not a regular file/);
  assert.match(failure(() => readStructured(path.join(proj, 'experiments', 'pipe.yaml'), 'x')), /not a regular file/);
  assert.ok(performance.now() - t0 < 2000);
});

test('20 files each referencing the next twice: each is read once, and the 2^20-fold result is refused with the file named', () => {
  const chain = (n: number, dir: string) => {
    for (let i = 0; i < n; i++) write(`${dir}/f${i}.yaml`, `a: { $ref: f${i + 1}.yaml }\nb: { $ref: f${i + 1}.yaml }\n`);
    write(`${dir}/f${n}.yaml`, 'x: 1\n');
    return path.join(proj, dir, 'f0.yaml');
  };
  const t0 = performance.now();
  const big = chain(20, 'fan20');
  assert.match(failure(() => resolveRefs(readStructured(big, big), big)), /f0\.yaml: its \$refs expand to more than 100000 values/);
  assert.ok(performance.now() - t0 < 3000, `${performance.now() - t0} ms`);
  // 2^10 = 1024 leaves is a legitimate (if odd) config: it resolves, each file read once.
  const small = chain(10, 'fan10');
  const out = resolveRefs(readStructured(small, small), small);
  let leaves = 0;
  const walk = (v: unknown): void => { if (typeof v === 'object' && v) Object.values(v).forEach(walk); else leaves++; };
  walk(out);
  assert.is(leaves, 1024);
});

test('JSON nested 100,000 deep gives an error naming the file, not a bare stack overflow', () => {
  write('experiments/deep.json', '['.repeat(100_000) + ']'.repeat(100_000));
  const msg = failure(() => loadExperiment(write('experiments/deep.yaml', exp('quick: { $ref: deep.json }\n'))));
  assert.match(msg, /deep\.json/);
  assert.match(msg, /nested (too deeply|deeper than)/);
});

test('pointers into the same file and into arrays resolve; a real cycle is named as one', () => {
  const same = write('experiments/same.yaml', `name: same\nmodels:\n  base: { $ref: ${PRESET}, name: base }\n  other: { $ref: '#/models/base', seed: 7 }\n  third: { $ref: './same.yaml#/models/base', seed: 8 }\ngrid: { backends: [other], samplers: [ddim], steps: [2], metrics: [fid] }\n`);
  const e = loadExperiment(same);
  assert.is(e.models.other.seed, 7);
  assert.is(e.models.third.seed, 8);
  assert.is(e.models.other.name, 'base');
  write('experiments/list.yaml', 'steps: [2, 5, 9]\nsamplers: [{ name: ddim }, { name: euler }]\n');
  const arr = write('experiments/arr.yaml', exp('description: x\neval: { n: { $ref: list.yaml#/steps/2 } }\n'));
  assert.is(loadExperiment(arr).eval.n, 9);
  assert.match(failure(() => loadExperiment(write('experiments/arr2.yaml', exp('eval: { n: { $ref: list.yaml#/steps/3 } }\n')))), /has nothing at \/steps\/3 \('3' not found\)/);
  const cyc = write('experiments/cyc.yaml', `a: { $ref: '#/b' }\nb: { $ref: '#/a' }\n`);
  assert.match(failure(() => resolveRefs(readStructured(cyc, cyc), cyc)), /circular reference: .*cyc\.yaml#\/b → .*cyc\.yaml#\/a → .*cyc\.yaml#\/b/);
});

test('parse errors and a text file given as a mixture do not echo the file', () => {
  const txt = write('experiments/secret.json', `password=${SECRET}`);
  const msg = failure(() => loadExperiment(write('experiments/bad.yaml', exp('quick: { $ref: secret.json }\n'))));
  assert.match(msg, /secret\.json: not valid JSON/);
  assert.not.match(msg, /hunter2/);
  const g = failure(() => loadGmm(txt));
  assert.match(g, /not valid JSON/);
  assert.not.match(g, /passw|hunter2/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
