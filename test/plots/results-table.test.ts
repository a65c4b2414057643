// The report's results table: one row per grid point, and a training-step column where the rows
// record the step of the weights they evaluated (checkpoints of one model differ only by it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ResultRow } from '../../src/metrics/result-row.js';
import { resultsTable } from '../../src/plots/report.js';

const row = (point: string, step: number | undefined, value: number): ResultRow => ({
  experiment: 'x', run_id: 'r', point, backend: 'pixel', sampler: 'ddim', steps: 10, nfe: 10, metric: 'fid@lenet-mnist', value, std: null, n: 256,
  seconds: null, gflop: null, seed: 0, config_hash: 'h', git_commit: 'c', ...(step !== undefined ? { train_step: step } : {}),
});

/** The table's cells, row by row (header first). */
const cells = (html: string) => [...html.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) => [...m[1].matchAll(/<t[hd]>(.*?)<\/t[hd]>/g)].map((c) => c[1]));

test('two checkpoints of one model are told apart by a train step column', () => {
  const t = cells(resultsTable([row('pixel@250|ddim|10|0', 250, 40), row('pixel@500|ddim|10|0', 500, 30)]));
  assert.equal(t[0].slice(0, 3), ['backend', 'train step', 'sampler']);
  assert.equal(t.slice(1).map((r) => r[1]), ['250', '500']);
  assert.equal(t.slice(1).map((r) => r[r.length - 1]), ['40', '30']);
});

test('rows without a training step (the analytic mixture) get no such column', () => {
  const t = cells(resultsTable([row('analytic|ddim|10|0', undefined, 1)]));
  assert.not.ok(t[0].includes('train step'));
});

test.run();
