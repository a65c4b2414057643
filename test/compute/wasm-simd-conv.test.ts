// difflab's SIMD conv kernels instantiated directly on their own memory, with and without FMA,
// against a float64 direct summation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assembleKernel } from '../../src/compute/wasm-simd.js';
import { convSpec as spec, filterGradModule, forwardModule, type ConvSpec } from '../../src/compute/wasm-simd-conv.js';
import { Rng } from '../../src/util/rng.js';

interface Case { n: number; spec: ConvSpec }

// Row tails 1–3, channel tiles of 4 and 8, input-channel tails, 1×1 and non-square kernels, strides 1–2,
// and filter-gradient bands.
const CASES: Case[] = [
  { n: 2, spec: spec(3, 8, 3, 3, 1, 1, 5, 7) },
  { n: 1, spec: spec(1, 4, 3, 3, 1, 1, 4, 6) },
  { n: 3, spec: spec(6, 12, 2, 3, 2, 1, 3, 5) },
  { n: 2, spec: spec(8, 16, 1, 1, 2, 2, 4, 4) },
  { n: 1, spec: spec(5, 24, 3, 3, 2, 2, 3, 3) },
  // Wide outputs: the filter gradient runs in bands of 3 rows (6×20) and of 1 row (5×40, stride 2).
  { n: 2, spec: spec(4, 8, 3, 3, 1, 1, 6, 20) },
  { n: 1, spec: spec(3, 4, 3, 3, 2, 1, 5, 40) },
];

async function instantiate(wat: string, fma: boolean, bytes: number) {
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
  const { run } = new WebAssembly.Instance(new WebAssembly.Module(await assembleKernel(wat, fma)), { env: { memory } }).exports as
    { run: (a: number, b: number, o: number, n: number) => void };
  return { memory, run };
}

for (const fma of [false, true]) {
  for (const { n, spec: s } of CASES) {
    const name = `n=${n} cin=${s.cin} cout=${s.cout} k=${s.kh}×${s.kw} s=${s.sh}×${s.sw} out=${s.oh}×${s.ow} fma=${fma}`;
    const rng = new Rng(7);
    const xs = n * s.hp * s.wp * s.cin, ws = s.kh * s.kw * s.cin * s.cout, ys = n * s.oh * s.ow * s.cout;
    const x = Float64Array.from(rng.normals(xs)), w = Float64Array.from(rng.normals(ws)), dy = Float64Array.from(rng.normals(ys));
    const xAt = (b: number, i: number, j: number, c: number) => x[((b * s.hp + i) * s.wp + j) * s.cin + c];

    test(`forward kernel equals direct summation: ${name}`, async () => {
      // Layout: x, w, out, each 16-byte aligned, with a guard band after out to catch overruns.
      const ox = 0, ow = ox + 4 * xs + 16 - ((4 * xs) % 16), oo = ow + 4 * ws + 16 - ((4 * ws) % 16);
      const { memory, run } = await instantiate(forwardModule(s, fma), fma, oo + 4 * ys + 64);
      const f = new Float32Array(memory.buffer);
      f.set(x, ox / 4); f.set(w, ow / 4); f.fill(12345, oo / 4, oo / 4 + ys + 16);
      run(ox, ow, oo, n);
      let err = 0, scale = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < s.oh; i++) for (let j = 0; j < s.ow; j++) for (let co = 0; co < s.cout; co++) {
        let ref = 0;
        for (let a = 0; a < s.kh; a++) for (let e = 0; e < s.kw; e++) for (let ci = 0; ci < s.cin; ci++) {
          ref += xAt(b, i * s.sh + a, j * s.sw + e, ci) * w[((a * s.kw + e) * s.cin + ci) * s.cout + co];
        }
        err = Math.max(err, Math.abs(ref - f[oo / 4 + ((b * s.oh + i) * s.ow + j) * s.cout + co]));
        scale = Math.max(scale, Math.abs(ref));
      }
      assert.ok(err / scale < 1e-5, `rel err ${err / scale}`);
      for (let k = ys; k < ys + 16; k++) assert.is(f[oo / 4 + k], 12345, 'wrote past the output');
    });

    test(`filter-gradient kernel equals direct summation: ${name}`, async () => {
      const ox = 0, od = ox + 4 * xs + 16 - ((4 * xs) % 16), oo = od + 4 * ys + 16 - ((4 * ys) % 16);
      const { memory, run } = await instantiate(filterGradModule(s, fma), fma, oo + 4 * ws + 64);
      const f = new Float32Array(memory.buffer);
      f.set(x, ox / 4); f.set(dy, od / 4); f.fill(0, oo / 4, oo / 4 + ws); f.fill(12345, oo / 4 + ws, oo / 4 + ws + 16);
      run(ox, od, oo, n);
      let err = 0, scale = 0;
      for (let a = 0; a < s.kh; a++) for (let e = 0; e < s.kw; e++) for (let ci = 0; ci < s.cin; ci++) for (let co = 0; co < s.cout; co++) {
        let ref = 0;
        for (let b = 0; b < n; b++) for (let i = 0; i < s.oh; i++) for (let j = 0; j < s.ow; j++) {
          ref += xAt(b, i * s.sh + a, j * s.sw + e, ci) * dy[((b * s.oh + i) * s.ow + j) * s.cout + co];
        }
        err = Math.max(err, Math.abs(ref - f[oo / 4 + ((a * s.kw + e) * s.cin + ci) * s.cout + co]));
        scale = Math.max(scale, Math.abs(ref));
      }
      assert.ok(err / scale < 1e-5, `rel err ${err / scale}`);
      for (let k = ws; k < ws + 16; k++) assert.is(f[oo / 4 + k], 12345, 'wrote past the output');
    });
  }
}

test.run();
