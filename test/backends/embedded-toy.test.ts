// The embedded toy: the map's columns are orthonormal, points lifted by it go back exactly and lie on
// the plane; the MLP denoiser learns (its samples move toward the data as training runs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { embeddedPoints, EmbeddedToyModel, embeddingMatrix, evaluateEmbeddedToy, nearestDistances, projectBack, type EmbeddedToySpec } from '../../src/backends/embedded-toy.js';
import { selectBackend } from '../../src/compute/backend.js';
import { parseSamplerSetting } from '../../src/diffusion/sampling.js';
import { TrainBlock } from '../../src/train/config.js';
import { Rng } from '../../src/util/rng.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difflab-toy-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
test.before(async () => { await selectBackend('wasm'); });

test('the embedding has orthonormal columns; lifted points go back exactly and lie on the plane', () => {
  for (const dim of [2, 7, 64]) {
    const P = embeddingMatrix(dim, 3);
    let c00 = 0, c01 = 0, c11 = 0;
    for (let i = 0; i < dim; i++) { c00 += P[2 * i] ** 2; c01 += P[2 * i] * P[2 * i + 1]; c11 += P[2 * i + 1] ** 2; }
    assert.ok(Math.abs(c00 - 1) < 1e-12 && Math.abs(c11 - 1) < 1e-12 && Math.abs(c01) < 1e-12, `${dim}: ${c00} ${c01} ${c11}`);
    const { u, x } = embeddedPoints({ data: 'swiss-roll', dim, seed: 3 }, 100, new Rng(1), P);
    const back = projectBack(x, dim, P);
    for (let i = 0; i < u.length; i++) assert.ok(Math.abs(back.u[i] - u[i]) < 1e-5, `${dim}: ${back.u[i]} vs ${u[i]}`);
    assert.ok(back.offPlaneRms < 1e-3, String(back.offPlaneRms));
    // A point off the plane by a unit normal vector is 1 away.
    if (dim > 2) {
      const n = new Float64Array(dim).map(() => Math.random());
      for (const c of [0, 1]) { let d = 0; for (let i = 0; i < dim; i++) d += n[i] * P[2 * i + c]; for (let i = 0; i < dim; i++) n[i] -= d * P[2 * i + c]; }
      const norm = Math.hypot(...n);
      assert.ok(Math.abs(projectBack(n.map((v) => v / norm), dim, P).offPlaneRms - 1) < 1e-9);
    }
  }
});

test('the MLP denoiser learns the toy: SW₂ to fresh data falls with training', () => {
  const spec = (steps: number): EmbeddedToySpec => ({
    data: '8-gaussians', dim: 8, objective: 'x0', hidden: 64, layers: 3, trainPoints: 2000, seed: 0,
    train: TrainBlock.parse({ steps, batchSize: 128, lr: 3e-3, warmupSteps: 10, emaDecay: 0.9, checkpointEvery: steps }),
  });
  const score = (steps: number) => {
    const m = new EmbeddedToyModel(spec(steps));
    try {
      m.fit(path.join(dir, `x0-${steps}`));
      return evaluateEmbeddedToy(m, { setting: parseSamplerSetting('euler'), steps: 20, n: 400, seed: 1, bootstrap: 20 });
    } finally {
      m.dispose();
    }
  };
  const early = score(5), late = score(400);
  assert.ok(late.sw2 < 0.6 * early.sw2, `SW2 after 5 steps ${early.sw2.toFixed(3)}, after 400 ${late.sw2.toFixed(3)}`);
  assert.ok(late.low <= late.sw2 && late.sw2 <= late.high);
  assert.ok(late.floor < late.sw2, `floor ${late.floor} below the model's ${late.sw2}`);
});

test('nearest-neighbour distance: exact on a small case; a blob with the data\'s spread but not its shape is far from the swiss roll', () => {
  assert.equal(Array.from(nearestDistances(Float64Array.of(0, 0, 3, 3), Float64Array.of(3, 4, 1, 0))), [1, 1]);
  const spec = { data: 'swiss-roll' as const, dim: 2, seed: 0 };
  const ref = embeddedPoints(spec, 5000, new Rng(1)).u, data = embeddedPoints(spec, 500, new Rng(2)).u;
  // Unit variance per coordinate, as the scaled data have.
  const rng = new Rng(3), blob = Float64Array.from({ length: 1000 }, () => rng.normal());
  const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;
  const dData = mean(nearestDistances(data, ref)), dBlob = mean(nearestDistances(blob, ref));
  assert.ok(dBlob > 2 * dData, `blob ${dBlob.toFixed(3)} vs data ${dData.toFixed(3)}`);
});

test.run();
