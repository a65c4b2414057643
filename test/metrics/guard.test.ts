// The under-training guard's loss check on synthetic 1000-step logs whose answer is known: still
// falling, flat with heavy-tailed noise, flattened only by a decaying learning rate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lossTrend, theilSen, type LossPoint } from '../../src/metrics/guard.js';
import { Rng } from '../../src/util/rng.js';

/** Student-t with 3 degrees of freedom scaled to unit variance: rare, large excursions. */
function t3(rng: Rng): number {
  const z = rng.normal(), chi = rng.normal() ** 2 + rng.normal() ** 2 + rng.normal() ** 2;
  return z / Math.sqrt(chi / 3) / Math.sqrt(3);
}

/** A log of `steps` steps with mean curve mu(step) and multiplicative noise of coefficient of variation cv. */
function log(steps: number, mu: (s: number) => number, cv: number, rng: Rng, noise: 'normal' | 't3' = 'normal', lr?: (s: number) => number): LossPoint[] {
  return Array.from({ length: steps }, (_, i) => {
    const s = i + 1, e = noise === 't3' ? t3(rng) : rng.normal();
    return { step: s, loss: mu(s) * (1 + cv * e), ...(lr ? { lr: lr(s) } : {}) };
  });
}

const rate = (trials: number, seed: number, make: (rng: Rng) => LossPoint[], pass: (p: LossPoint[]) => boolean) => {
  const rng = new Rng(seed);
  let k = 0;
  for (let t = 0; t < trials; t++) if (pass(make(rng))) k++;
  return k / trials;
};
const flat = (p: LossPoint[]) => lossTrend(p)!.state === 'flat';

for (const fall of [0.05, 0.1, 0.2]) {
  test(`a loss still falling ${100 * fall}% over the last fifth fails in ≥ 95% of 1000-step logs at CV 0.3`, () => {
    // Exponential decay at the rate that loses `fall` between steps 800 and 1000.
    const k = -Math.log(1 - fall) / 200;
    const passRate = rate(200, 11 + 100 * fall, (rng) => log(1000, (s) => Math.exp(-k * s), 0.3, rng), flat);
    assert.ok(passRate <= 0.05, `passed ${100 * passRate}%`);
  });
}

test('a flat loss with heavy-tailed (t₃) noise passes in ≥ 95% of logs where the noise allows ±5% to be shown (CV 0.1, 5000 steps)', () => {
  const passRate = rate(200, 3, (rng) => log(5000, () => 0.4, 0.1, rng, 't3'), flat);
  assert.ok(passRate >= 0.95, `passed ${100 * passRate}%`);
});

test('at CV 0.3 a 1000-step log cannot show ±5%: a flat loss is "cannot tell", and the guard fails closed', () => {
  // The interval of a 200-step window is about ±12% here: flatness within ±5% is not shown.
  const rng = new Rng(4);
  const states = Array.from({ length: 50 }, () => lossTrend(log(1000, () => 0.4, 0.3, rng))!.state);
  // None passes; most are "cannot tell", the rest the 10% of 90% intervals that exclude 0 by chance.
  assert.is(states.filter((s) => s === 'flat').length, 0, states.join(','));
  assert.ok(states.filter((s) => s === 'undetermined').length >= 35, states.join(','));
});

test('a falling curve flattened only by a learning rate decaying to 0 fails; judged on the whole tail it would have passed', () => {
  // Cosine decay to 0 over 1000 steps; the loss falls with the cumulative learning rate, so it
  // stops falling because the rate stops, 30% above where the model was heading.
  const lr = (s: number) => 1e-3 * 0.5 * (1 + Math.cos((Math.PI * s) / 1000));
  const cum = (s: number) => 1e-3 * (s / 2 + (1000 / (2 * Math.PI)) * Math.sin((Math.PI * s) / 1000));
  const mu = (s: number) => 0.1 + 0.3 * Math.exp(-cum(s) / 0.25);
  const withLr = rate(100, 5, (rng) => log(1000, mu, 0.05, rng, 'normal', lr), flat);
  assert.ok(withLr <= 0.05, `passed ${100 * withLr}% with the learning rate recorded`);
  const rng = new Rng(6), p = log(1000, mu, 0.05, rng, 'normal', lr);
  assert.match(lossTrend(p)!.lrNote!, /judged where it was still ≥ half the peak, up to step 500/);
  assert.equal(lossTrend(p)!.window, [401, 500]);
  // Without the learning rate, the last fifth looks flat: that is the failure the rule prevents.
  const blind = rate(100, 5, (rng) => log(1000, mu, 0.05, rng).map(({ step, loss }) => ({ step, loss })), flat);
  assert.ok(blind >= 0.5, `without the rate, passed ${100 * blind}%`);
});

test('Sen\'s 90% interval of the Theil–Sen slope covers a known slope at about its rate', () => {
  const rng = new Rng(8);
  let covered = 0;
  for (let t = 0; t < 300; t++) {
    const x = Array.from({ length: 40 }, (_, i) => i), y = x.map((v) => 2 - 0.03 * v + 0.2 * t3(rng));
    const r = theilSen(x, y, 0.9);
    if (r.low <= -0.03 && -0.03 <= r.high) covered++;
  }
  // 90% nominal; binomial sd over 300 is 1.7 points.
  assert.ok(covered >= 0.85 * 300 && covered <= 0.96 * 300, `covered ${covered}/300`);
});

test.run();
