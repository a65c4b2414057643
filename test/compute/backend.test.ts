import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BackendUnavailableError, selectBackend } from '../../src/compute/backend.js';
import { loadOneDnn } from '../../src/compute/onednn.js';

const require = createRequire(import.meta.url);
function installed(pkg: string): boolean {
  try { require.resolve(pkg); return true; } catch { return false; }
}

test('auto picks the first backend that works and says why the earlier ones were skipped', async () => {
  const c = await selectBackend('auto');
  const chosen = c.attempts.findIndex((a) => a.ok);
  assert.is(c.attempts[chosen].backend, c.backend);
  assert.is(chosen, c.attempts.length - 1, 'auto stops at the first working backend');
  for (const a of c.attempts.slice(0, chosen)) assert.ok(a.reason.length > 0, `${a.backend} skipped without a reason`);
  if (!installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node')) {
    // oneDNN where it loads, else the embedded wasm kernels, with the reason oneDNN was passed over.
    const dnn = await loadOneDnn();
    assert.is(c.backend, dnn.ok ? 'onednn' : 'wasm');
    if (!dnn.ok) assert.is(c.attempts.find((a) => a.backend === 'onednn')?.reason, dnn.reason);
    assert.match(c.attempts[0].reason, /tfjs-node-gpu not installed/);
  }
});

test('asking for a backend that is not installed names what to install', async () => {
  if (installed('@tensorflow/tfjs-node')) return; // nothing missing to ask for on this machine
  try {
    await selectBackend('tensorflow');
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, BackendUnavailableError);
    assert.match((e as Error).message, /npm install @tensorflow\/tfjs-node/);
  }
});

test('an unknown backend name is rejected with the accepted values', async () => {
  try {
    await selectBackend('gpu' as never);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /auto, tensorflow-gpu, tensorflow, onednn, wasm, cpu/);
  }
});

test.run();
