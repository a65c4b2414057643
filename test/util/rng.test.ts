import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/rng.js';

test('same seed gives the same stream; different seeds differ', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xa = Array.from({ length: 8 }, () => a.nextU32());
  assert.equal(xa, Array.from({ length: 8 }, () => b.nextU32()));
  assert.not.equal(xa, Array.from({ length: 8 }, () => c.nextU32()));
});

test('uniform and normal moments match U(0,1) and N(0,1)', () => {
  const r = new Rng(7), n = 200_000;
  let su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.uniform(); su += u; su2 += u * u;
    const z = r.normal(); sn += z; sn2 += z * z; sn4 += z ** 4;
  }
  // Standard errors at n = 2e5: mean(U) 6.5e-4, mean(Z) 2.2e-3, E[Z²] 3.2e-3, E[Z⁴] 0.02; bounds are ~5σ.
  assert.ok(Math.abs(su / n - 0.5) < 3.5e-3);
  assert.ok(Math.abs(su2 / n - 1 / 3) < 3.5e-3);
  assert.ok(Math.abs(sn / n) < 0.011);
  assert.ok(Math.abs(sn2 / n - 1) < 0.016);
  assert.ok(Math.abs(sn4 / n - 3) < 0.1);
});

test.run();
