import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSafetensors, encodeSafetensors, writeSafetensors } from '../../src/util/safetensors.js';

const TENSORS = {
  'down.0.conv.weight': { shape: [3, 3, 1, 4], data: Float32Array.from({ length: 36 }, (_, i) => i / 7 - 2) },
  'ema.step': { shape: [1], data: Int32Array.from([1234]) },
  'stats.mean': { shape: [2], data: Float64Array.from([Math.PI, -1e-300]) },
};

test('header: u64 LE length, JSON with dtype/shape/data_offsets and string metadata, 8-byte aligned', () => {
  const bytes = encodeSafetensors(TENSORS, { step: '10', format: 'difflab' });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(n % 8, 0);
  const h = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  assert.equal(h.__metadata__, { step: '10', format: 'difflab' });
  assert.equal(h['down.0.conv.weight'], { dtype: 'F32', shape: [3, 3, 1, 4], data_offsets: [0, 144] });
  assert.equal(h['ema.step'], { dtype: 'I32', shape: [1], data_offsets: [144, 148] });
  assert.equal(h['stats.mean'], { dtype: 'F64', shape: [2], data_offsets: [148, 164] });
  assert.is(bytes.length, 8 + n + 164);
});

test('round trip is bit-exact', () => {
  const { tensors, metadata } = decodeSafetensors(encodeSafetensors(TENSORS, { a: 'b' }));
  assert.equal(metadata, { a: 'b' });
  for (const [k, v] of Object.entries(TENSORS)) {
    assert.equal(tensors[k].shape, v.shape);
    assert.equal(Array.from(tensors[k].data), Array.from(v.data));
  }
});

test('an independent reader (Python stdlib, from the spec) sees the same tensors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-st-'));
  const file = path.join(dir, 'm.safetensors');
  writeSafetensors(file, TENSORS, { step: '10' });
  const py = `import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n]); buf = b[8 + n:]
fmt = {'F32': 'f', 'F64': 'd', 'I32': 'i'}
out = {k: list(struct.unpack('<%d%s' % ((v['data_offsets'][1] - v['data_offsets'][0]) // struct.calcsize(fmt[v['dtype']]), fmt[v['dtype']]), buf[v['data_offsets'][0]:v['data_offsets'][1]])) for k, v in h.items() if k != '__metadata__'}
print(json.dumps({'meta': h.get('__metadata__'), 'tensors': out}))`;
  const r = spawnSync('python3', ['-c', py, file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.equal(got.meta, { step: '10' });
  for (const [k, v] of Object.entries(TENSORS)) assert.equal(got.tensors[k], Array.from(v.data), k);
  fs.rmSync(dir, { recursive: true });
});

test('invalid files are rejected with the reason', () => {
  const good = encodeSafetensors(TENSORS);
  assert.throws(() => decodeSafetensors(good.slice(0, good.length - 4), 'cut.safetensors'), /cut.safetensors: .*(outside|cover)/);
  const n = Number(new DataView(good.buffer).getBigUint64(0, true));
  const h = JSON.parse(Buffer.from(good.subarray(8, 8 + n)).toString('utf8'));
  h['ema.step'].data_offsets = [148, 152]; // overlaps stats.mean
  let json = JSON.stringify(h);
  json += ' '.repeat(n - json.length);
  const bad = Uint8Array.from(good);
  bad.set(Buffer.from(json), 8);
  assert.throws(() => decodeSafetensors(bad, 'overlap.safetensors'), /overlap.safetensors: tensor ema.step starts at byte 148, expected 144 \(gap or overlap\)/);
  assert.throws(() => decodeSafetensors(new Uint8Array(4), 'tiny'), /tiny: too short/);
});

test.run();
