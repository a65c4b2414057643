import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const BIN = new URL('../../bin/difflab.js', import.meta.url).pathname;

test('difflab info --json reports the chosen backend with reasons, threads and memory', () => {
  const out = JSON.parse(execFileSync('node', [BIN, 'info', '--json', '--backend', 'wasm'], { encoding: 'utf8' }));
  assert.is(out.backend.backend, 'wasm');
  assert.is(out.backend.attempts.at(-1).ok, true);
  assert.ok(out.backend.threads >= 1);
  assert.ok(out.memory.freeBytes > 0 && out.memory.totalBytes >= out.memory.freeBytes);
  assert.type(out.tfjs['tfjs-core'], 'string');
});

test('every command has --help; an unknown command exits 2 with a short message', () => {
  assert.match(execFileSync('node', [BIN, '--help'], { encoding: 'utf8' }), /info/);
  assert.match(execFileSync('node', [BIN, 'info', '--help'], { encoding: 'utf8' }), /--backend/);
  const r = spawnSync('node', [BIN, 'nonsense'], { encoding: 'utf8' });
  assert.is(r.status, 2);
  assert.match(r.stderr, /difflab: unknown command 'nonsense'/);
  assert.ok(r.stderr.length < 500, 'error output stays short');
});

test.run();
