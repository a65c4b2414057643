import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/util/npy.js';

test('header follows the v1.0 spec: magic, version, LE length, dict, 64-byte aligned data', () => {
  const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  assert.equal(Array.from(bytes.subarray(0, 8)), [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const hlen = bytes[8] | (bytes[9] << 8);
  assert.is((10 + hlen) % 64, 0);
  const header = Buffer.from(bytes.subarray(10, 10 + hlen)).toString('latin1');
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  // The data is the raw little-endian float32 bytes of 1..6.
  const dv = new DataView(bytes.buffer, 10 + hlen);
  assert.equal([0, 1, 2, 3, 4, 5].map((i) => dv.getFloat32(4 * i, true)), [1, 2, 3, 4, 5, 6]);
});

test('round trip of each dtype, 1-D shapes written as (n,)', () => {
  for (const data of [new Float32Array([1.5, -2]), new Float64Array([Math.PI, 1e-300]), new Int32Array([-7, 9]), new Uint8Array([0, 255])]) {
    const r = decodeNpy(encodeNpy(data, [2]));
    assert.equal(Array.from(r.data), Array.from(data));
    assert.equal(r.shape, [2]);
  }
  assert.match(Buffer.from(encodeNpy(new Float32Array(3), [3])).toString('latin1'), /'shape': \(3,\)/);
});

test('bad files are named in the error with what was expected', () => {
  assert.throws(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), /x.npy: not a NumPy .npy file/);
  const big = encodeNpy(new Float64Array([1, 2]), [2]).slice(0, -4);
  assert.throws(() => decodeNpy(big, 'y.npy'), /y.npy: truncated/);
  const c8 = Buffer.from(encodeNpy(new Float32Array(2), [2])).toString('latin1').replace("'<f4'", "'<c8'");
  assert.throws(() => decodeNpy(Uint8Array.from(Buffer.from(c8, 'latin1')), 'z.npy'), /z.npy: dtype '<c8' is not supported/);
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

test('interoperates with NumPy both ways (skipped where numpy is not installed)', () => {
  if (!hasNumpy) { console.log('  (numpy not available: NumPy interop not checked)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-npy-'));
  const ours = path.join(dir, 'ours.npy'), theirs = path.join(dir, 'theirs.npy');
  writeNpy(ours, new Float32Array([0.5, -1, 2, 3, 4, 5]), [3, 2]);
  const py = `import numpy as np
a = np.load('${ours}'); assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)
assert a.tolist() == [[0.5, -1.0], [2.0, 3.0], [4.0, 5.0]], a
np.save('${theirs}', np.arange(12, dtype=np.float64).reshape(2, 3, 2) / 7)`;
  const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const t = readNpy(theirs);
  assert.is(t.dtype, 'float64');
  assert.equal(t.shape, [2, 3, 2]);
  assert.equal(Array.from(t.data), Array.from({ length: 12 }, (_, i) => i / 7));
  fs.rmSync(dir, { recursive: true });
});

test.run();
