// Winograd convolution F(2×2, 3×3) (Lavin & Gray 2016) for 3×3 stride-1 convolutions on the wasm
// backend: each 2×2 block of outputs takes 16 products per channel pair instead of 36.
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,   d: a 4×4 input patch, g: the 3×3 filter
//
// The input transform (V = Bᵀ d B, for every tile and 4 channels at a time) and the output transform
// run as generated WebAssembly SIMD; the 16 products V_ξ·U_ξ are [tiles × Cin]·[Cin × Cout] matrix
// products through difflab's SIMD conv kernel as 1×1 convolutions; the filter transform (small) runs
// in JavaScript. The input gradient of a stride-1 conv is itself a stride-1 conv (flipped filter),
// so it takes this path too. Inputs arrive zero-padded, as for the direct kernels.
import type { SimdRuntime } from './wasm-simd.js';
import { convKernel, convSpec, type ConvSpec } from './wasm-simd-conv.js';

// DIFFLAB_WASM_WINOGRAD=0 turns the path off (benchmarks compare both in one process with useWinograd).
let enabled = process.env.DIFFLAB_WASM_WINOGRAD !== '0';

export function useWinograd(on: boolean): void {
  enabled = on;
}

/**
 * Whether a conv of this shape takes the Winograd path: 3×3, stride 1, even output sides of at least
 * 8, channels in whole vectors, at least 16 input channels. Measured here (batch 32, 3×3 'same',
 * medians of 5; `npm run bench -- kernels`): 16×16 and 8×8 outputs with 32–128 channels run 1.2–1.55×
 * faster than the direct kernel; at 4×4 outputs (4 tiles an image) Winograd took 1.9× as long.
 */
export function winogradApplies(s: ConvSpec): boolean {
  return enabled && s.kh === 3 && s.kw === 3 && s.sh === 1 && s.sw === 1 && s.oh % 2 === 0 && s.ow % 2 === 0 &&
    s.oh >= MIN_SIDE && s.ow >= MIN_SIDE && s.cin % 4 === 0 && s.cout % 4 === 0 && s.cin >= MIN_CIN;
}

export const MIN_CIN = 16;
export const MIN_SIDE = 8;

/** Convolutions that took the Winograd path in this process (tests check that a shape reaches it). */
export let winogradCalls = 0;

const get = (n: string) => `(local.get $${n})`;
const set = (n: string, v: string) => `(local.set $${n} ${v})`;
const i32 = (v: number) => `(i32.const ${v})`;
const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
const inc = (n: string, v: number | string) => set(n, add(get(n), typeof v === 'number' ? i32(v) : v));
const fadd = (a: string, b: string) => `(f32x4.add ${a} ${b})`;
const fsub = (a: string, b: string) => `(f32x4.sub ${a} ${b})`;
const repeat = (label: string, n: string, count: number | string, body: string[]) => [
  set(n, typeof count === 'number' ? i32(count) : count),
  `(loop $${label}`, ...body, `(br_if $${label} (local.tee $${n} (i32.sub ${get(n)} ${i32(1)}))))`,
];
const locals = (names: string[], type: 'i32' | 'v128') => names.map((n) => `(local $${n} ${type})`).join(' ');

/**
 * run(xp, v, n, vs): for every tile (image, tile row, tile column) and 4 channels, V_ξ = (Bᵀ d B)_ξ,
 * stored at v + ξ·vs + tile·Cin·4 (vs: bytes between the 16 matrices).
 * Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
 */
function inputModule(s: ConvSpec): string {
  const pix = 4 * s.cin, rowIn = s.wp * pix, th = s.oh / 2, tw = s.ow / 2;
  const d = (r: number, c: number) => `d${r}${c}`;
  const body: string[] = [];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) body.push(set(d(r, c), `(v128.load offset=${r * rowIn + c * pix} ${get('p')})`));
  // Along rows: t_r = (Bᵀ d)_r, in place of d's rows.
  for (let c = 0; c < 4; c++) {
    body.push(
      set(`t0`, fsub(get(d(0, c)), get(d(2, c)))),
      set(`t1`, fadd(get(d(1, c)), get(d(2, c)))),
      set(`t2`, fsub(get(d(2, c)), get(d(1, c)))),
      set(`t3`, fsub(get(d(1, c)), get(d(3, c)))),
      set(d(0, c), get('t0')), set(d(1, c), get('t1')), set(d(2, c), get('t2')), set(d(3, c), get('t3')),
    );
  }
  // Along columns, stored in ξ = 4r + c order.
  body.push(set('q', get('vp')));
  for (let r = 0; r < 4; r++) {
    const outs = [fsub(get(d(r, 0)), get(d(r, 2))), fadd(get(d(r, 1)), get(d(r, 2))), fsub(get(d(r, 2)), get(d(r, 1))), fsub(get(d(r, 1)), get(d(r, 3)))];
    for (const o of outs) body.push(`(v128.store ${get('q')} ${o})`, inc('q', get('vs')));
  }
  body.push(inc('p', 16), inc('vp', 16));
  const names: string[] = [];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) names.push(d(r, c));
  return [
    '(module (import "env" "memory" (memory 1))',
    '(func (export "run") (param $x i32) (param $v i32) (param $n i32) (param $vs i32)',
    locals(['img', 'row', 'tile', 'p', 'vp', 'q', 'b', 'i', 'j', 'k'], 'i32'),
    locals([...names, 't0', 't1', 't2', 't3'], 'v128'),
    set('img', get('x')), set('vp', get('v')),
    ...repeat('lb', 'b', get('n'), [
      set('row', get('img')),
      ...repeat('li', 'i', th, [
        set('tile', get('row')),
        ...repeat('lj', 'j', tw, [set('p', get('tile')), ...repeat('lk', 'k', s.cin / 4, body), inc('tile', 2 * pix)]),
        inc('row', 2 * rowIn),
      ]),
      inc('img', s.hp * rowIn),
    ]),
    '))',
  ].join('\n');
}

/**
 * run(m, out, n, ms): Y = Aᵀ M A for every tile and 4 output channels, M_ξ at m + ξ·ms + tile·Cout·4,
 * written to out[n, oh, ow, cout]. Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
 */
function outputModule(s: ConvSpec): string {
  const pix = 4 * s.cout, rowOut = s.ow * pix, th = s.oh / 2, tw = s.ow / 2;
  const m = (r: number, c: number) => `m${r}${c}`;
  const body: string[] = [set('q', get('mp'))];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) body.push(set(m(r, c), `(v128.load ${get('q')})`), inc('q', get('ms')));
  // Along rows: s0 = m0 + m1 + m2, s1 = m1 − m2 − m3 (per column).
  for (let c = 0; c < 4; c++) {
    body.push(
      set(`u${c}`, fadd(fadd(get(m(0, c)), get(m(1, c))), get(m(2, c)))),
      set(`w${c}`, fsub(fsub(get(m(1, c)), get(m(2, c))), get(m(3, c)))),
    );
  }
  const y = (a: string) => [fadd(fadd(get(`${a}0`), get(`${a}1`)), get(`${a}2`)), fsub(fsub(get(`${a}1`), get(`${a}2`)), get(`${a}3`))];
  const [y00, y01] = y('u'), [y10, y11] = y('w');
  body.push(
    `(v128.store ${get('p')} ${y00})`, `(v128.store offset=${pix} ${get('p')} ${y01})`,
    `(v128.store offset=${rowOut} ${get('p')} ${y10})`, `(v128.store offset=${rowOut + pix} ${get('p')} ${y11})`,
    inc('p', 16), inc('mp', 16),
  );
  const names: string[] = [];
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) names.push(m(r, c));
  return [
    '(module (import "env" "memory" (memory 1))',
    '(func (export "run") (param $m i32) (param $o i32) (param $n i32) (param $ms i32)',
    locals(['img', 'row', 'tile', 'p', 'mp', 'q', 'b', 'i', 'j', 'k'], 'i32'),
    locals([...names, 'u0', 'u1', 'u2', 'u3', 'w0', 'w1', 'w2', 'w3'], 'v128'),
    set('img', get('o')), set('mp', get('m')),
    ...repeat('lb', 'b', get('n'), [
      set('row', get('img')),
      ...repeat('li', 'i', th, [
        set('tile', get('row')),
        ...repeat('lj', 'j', tw, [set('p', get('tile')), ...repeat('lk', 'k', s.cout / 4, body), inc('tile', 2 * pix)]),
        inc('row', 2 * rowOut),
      ]),
      inc('img', s.oh * rowOut),
    ]),
    '))',
  ].join('\n');
}

/**
 * U_ξ = (G g Gᵀ)_ξ for every channel pair, as [16, cin, cout], from g as [3, 3, cin, cout] (HWIO).
 * G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
 */
export function filterTransform(g: Float32Array, cin: number, cout: number, out: Float32Array): void {
  const n = cin * cout;
  const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]];
  const tmp = new Float32Array(12 * n); // (G g) as [4, 3, n]
  for (let a = 0; a < 4; a++) {
    for (let c = 0; c < 3; c++) {
      const dst = tmp.subarray((a * 3 + c) * n, (a * 3 + c + 1) * n);
      for (let r = 0; r < 3; r++) {
        const w = G[a][r];
        if (w === 0) continue;
        const src = g.subarray((r * 3 + c) * n, (r * 3 + c + 1) * n);
        for (let i = 0; i < n; i++) dst[i] += w * src[i];
      }
    }
  }
  out.fill(0, 0, 16 * n);
  for (let a = 0; a < 4; a++) {
    for (let b = 0; b < 4; b++) {
      const dst = out.subarray((a * 4 + b) * n, (a * 4 + b + 1) * n);
      for (let c = 0; c < 3; c++) {
        const w = G[b][c];
        if (w === 0) continue;
        const src = tmp.subarray((a * 3 + c) * n, (a * 3 + c + 1) * n);
        for (let i = 0; i < n; i++) dst[i] += w * src[i];
      }
    }
  }
}

type Transform = (a: number, b: number, n: number, stride: number) => void;
const cache = new Map<string, Transform>();

function transform(rt: SimdRuntime, kind: 'input' | 'output', s: ConvSpec): Transform {
  const key = `${kind}:${s.cin},${s.cout},${s.hp},${s.wp},${s.oh},${s.ow}`;
  let f = cache.get(key);
  if (!f) {
    f = rt.instantiate(kind === 'input' ? inputModule(s) : outputModule(s)).run as Transform;
    cache.set(key, f);
  }
  return f;
}

/** Scratch the caller allocates in the wasm heap: the transformed input, filter and products (floats). */
export function winogradScratch(s: ConvSpec, n: number): { v: number; u: number; m: number } {
  const tiles = n * (s.oh / 2) * (s.ow / 2);
  return { v: 16 * tiles * s.cin, u: 16 * s.cin * s.cout, m: 16 * tiles * s.cout };
}

/**
 * out[n, oh, ow, cout] = conv(xp, w) by F(2×2, 3×3). Addresses are byte offsets into the wasm heap:
 * xp the padded input, u the transformed filter (filterTransform, already written), v and m scratch
 * of winogradScratch's sizes.
 */
export function winogradConv(rt: SimdRuntime, s: ConvSpec, n: number, xp: number, u: number, v: number, m: number, out: number): void {
  winogradCalls++;
  const tiles = n * (s.oh / 2) * (s.ow / 2);
  const vs = 4 * tiles * s.cin, ms = 4 * tiles * s.cout, us = 4 * s.cin * s.cout;
  transform(rt, 'input', s)(xp, v, n, vs);
  // The 16 products as 1×1 convolutions of a 1 × tiles "image".
  const gemm = convKernel(rt, 'forward', convSpec(s.cin, s.cout, 1, 1, 1, 1, 1, tiles));
  for (let xi = 0; xi < 16; xi++) gemm(v + xi * vs, u + xi * us, m + xi * ms, 1);
  transform(rt, 'output', s)(m, out, n, ms);
}
