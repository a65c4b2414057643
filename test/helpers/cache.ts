// One feature-network cache for the whole test process (uvu runs every file in one process), removed
// afterwards: the shipped MNIST LeNet is read from configs/features/, anything trained lands here.
// CLI tests' child processes inherit it through DIFFLAB_CACHE. DIFFLAB_TEST_CACHE names a kept directory instead (for
// iterating on tests locally without retraining).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const kept = process.env.DIFFLAB_TEST_CACHE;
export const TEST_CACHE = kept ?? path.join(os.tmpdir(), `difflab-test-cache-${process.pid}`);
if (process.env.DIFFLAB_CACHE !== TEST_CACHE) {
  process.env.DIFFLAB_CACHE = TEST_CACHE;
  if (!kept) process.on('exit', () => fs.rmSync(TEST_CACHE, { recursive: true, force: true }));
}
