// Hand-edited, torn and corrupt files: each is a one-line error naming the file, or a torn tail that
// is dropped with a count; and the helpers that keep runs from losing or overwriting data.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gmmFromSpec } from '../../src/models/gmm.js';
import { checkpointAt, latestCheckpoint } from '../../src/train/checkpoint.js';
import { appendFileNamed, dropTornTail, readJsonFile, readJsonLines, sweepStaleTemps, writeError } from '../../src/util/fs.js';
import { processAlive } from '../../src/util/lock.js';
import { decodeNpy, requireFiniteRows } from '../../src/util/npy.js';
import { decodeSafetensors } from '../../src/util/safetensors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-files-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
const put = (name: string, text: string | Buffer) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };

test('JSON lines: a torn last record is dropped and counted; a bad line in the middle is an error with its number', () => {
  const f = put('a.jsonl', '{"step":1}\n{"step":2}\n{"st');
  assert.equal(readJsonLines(f), { rows: [{ step: 1 }, { step: 2 }], tornBytes: 4, tornAt: 22 });
  assert.is(dropTornTail(f), 4);
  assert.is(fs.readFileSync(f, 'utf8'), '{"step":1}\n{"step":2}\n');
  // A complete but unterminated last line is torn too: the writer died before its newline.
  assert.is(readJsonLines(put('b.jsonl', '{"step":1}\n{"step":2}')).tornBytes, 10);
  assert.throws(() => readJsonLines(put('c.jsonl', '{"step":1}\nnot json\n{"step":3}\n')), /c\.jsonl: line 2 is not JSON/);
});

test('truncated or empty sidecars and latest.json: one-line errors or the newest intact checkpoint', () => {
  assert.throws(() => readJsonFile(put('empty.json', ''), 'a checkpoint sidecar'), /empty\.json: empty; expected a checkpoint sidecar/);
  assert.throws(() => readJsonFile(put('cut.json', '{"step": 3, "conf'), 'a checkpoint sidecar'), /cut\.json: not valid JSON \(.*\); expected a checkpoint sidecar — was it truncated\?/);
  const ck = path.join(dir, 'ck');
  fs.mkdirSync(ck);
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).padEnd(16));
  const st = Buffer.concat([Buffer.from(new BigUint64Array([BigInt(header.length)]).buffer), header, Buffer.alloc(4)]);
  for (const s of [3, 6]) { fs.writeFileSync(path.join(ck, `step-00000${s}.safetensors`), st); fs.writeFileSync(path.join(ck, `step-00000${s}.json`), JSON.stringify({ step: s })); }
  fs.writeFileSync(path.join(ck, 'step-000009.json'), '{"step": 9'); // torn: not intact
  fs.writeFileSync(path.join(ck, 'step-000009.safetensors'), st);
  fs.writeFileSync(path.join(ck, 'latest.json'), '');
  const notes: string[] = [];
  assert.is(latestCheckpoint(ck, (l) => notes.push(l)), path.join(ck, 'step-000006'));
  assert.match(notes[0], /latest\.json: empty; expected \{"checkpoint": "step-NNNNNN"\}; using the newest intact checkpoint on disk, .*step-000006/);
  assert.throws(() => checkpointAt(ck, 4), /no checkpoint at step 4; saved steps: 3, 6, 9/);
});

test('safetensors headers that are null, lack data_offsets or have a non-array shape name the file', () => {
  const file = (h: unknown) => {
    const j = Buffer.from(JSON.stringify(h));
    return new Uint8Array(Buffer.concat([Buffer.from(new BigUint64Array([BigInt(j.length)]).buffer), j, Buffer.alloc(8)]));
  };
  assert.throws(() => decodeSafetensors(file(null), 'w.safetensors'), /w\.safetensors: header must be a JSON object of tensors, got null/);
  assert.throws(() => decodeSafetensors(file({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }), 'w.safetensors'), /w\.safetensors: tensor a: shape must be an array of non-negative integers, got 2/);
  assert.throws(() => decodeSafetensors(file({ a: { dtype: 'F32', shape: [2] } }), 'w.safetensors'), /w\.safetensors: tensor a: data_offsets must be two non-negative integers \[begin, end\], got undefined/);
  assert.throws(() => decodeSafetensors(file({ a: 5 }), 'w.safetensors'), /w\.safetensors: tensor a: expected \{dtype, shape, data_offsets\}, got 5/);
});

test('.npy headers with bad shapes, and a v2 header whose length runs past the file, name the file', () => {
  const npy = (shape: string, major = 1) => {
    const h = Buffer.from(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`, 'latin1');
    const len = major === 1 ? Buffer.from([h.length & 255, h.length >> 8]) : Buffer.from(new Uint32Array([h.length]).buffer);
    return new Uint8Array(Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]), len, h, Buffer.alloc(16)]));
  };
  assert.throws(() => decodeNpy(npy('(-1, 2)'), 'z.npy'), /z\.npy: header shape \(-1, 2\) must list non-negative integers/);
  assert.throws(() => decodeNpy(npy('(abc, 2)'), 'z.npy'), /z\.npy: header shape \(abc, 2\) must list non-negative integers/);
  assert.equal(decodeNpy(npy('(2, 2)', 2), 'z.npy').shape, [2, 2]);
  const short = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff]);
  assert.throws(() => decodeNpy(short, 'z.npy'), /z\.npy: truncated: a version 2 header needs 12 bytes before it, the file has 10/);
  const long = npy('(2, 2)', 2);
  new DataView(long.buffer).setUint32(8, 1e6, true);
  assert.throws(() => decodeNpy(long, 'z.npy'), /z\.npy: truncated: the header claims 1000000 bytes/);
  assert.throws(() => requireFiniteRows({ shape: [0, 3], data: new Float32Array(0) }, '--data z.npy'), /--data z\.npy: has no rows \(shape \[0, 3\]\)/);
  assert.throws(() => requireFiniteRows({ shape: [2, 2], data: Float32Array.from([1, 2, 3, Infinity]) }, '--data z.npy'), /1 value\(s\) are NaN or infinite \(the first in row 1\)/);
});

test('GMM weights whose sum overflows are refused', () => {
  assert.throws(() => gmmFromSpec({ weights: [1e308, 1e308], means: [[0], [1]], stds: 1 }, 'g.json'), /g\.json: weights: their sum overflows \(Infinity\)/);
});

test('write errors name the file; temp files of dead writers are swept, those of live ones kept', async () => {
  // /dev/full answers every write with ENOSPC.
  assert.throws(() => appendFileNamed('/dev/full', 'x'), /^\/dev\/full: cannot write: no space left on the device \(ENOSPC\)$/);
  assert.is(writeError('/r/m.jsonl', Object.assign(new Error('x'), { code: 'EROFS' })).message, '/r/m.jsonl: cannot write: read-only file system (EROFS)');
  const dead = spawn('true');
  await new Promise((res) => dead.on('exit', res));
  const live = spawn('sleep', ['30']);
  try {
    const t = path.join(dir, 'tmp');
    fs.mkdirSync(t);
    fs.writeFileSync(path.join(t, `.step-000003.safetensors.${dead.pid}.1700000000000.tmp`), 'x');
    fs.writeFileSync(path.join(t, `.step-000006.safetensors.${live.pid}.1700000000000.tmp`), 'x');
    fs.writeFileSync(path.join(t, 'step-000003.safetensors'), 'x');
    assert.is(sweepStaleTemps(t, processAlive), 1);
    assert.equal(fs.readdirSync(t).sort(), [`.step-000006.safetensors.${live.pid}.1700000000000.tmp`, 'step-000003.safetensors']);
  } finally {
    live.kill('SIGKILL');
  }
});

test.run();
