// FID∞'s coverage in 128 dimensions (the LeNet features' size), at the smallest set size it is
// computed for (4·d = 512 generated images): about 70 s, so in a file of its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FID_INF_MIN_RATIO } from '../../src/metrics/fid-infinity.js';
import { coverage } from '../helpers/gaussian-pairs.js';

test('FID∞\'s 95% interval covers the population FID of Gaussian pairs in 128 dimensions (100 pairs, 1000 real / 512 generated)', () => {
  const c = coverage(128, 1, 100, 1000, FID_INF_MIN_RATIO * 128);
  assert.ok(c.covered >= 90, `covered ${c.covered}/100 (truth ${c.truth.toFixed(3)}, mean error ${c.meanError.toFixed(4)})`);
});

test.run();
