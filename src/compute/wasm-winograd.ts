// Winograd convolution F(m×m, 3×3), m = 2 or 4 (Lavin & Gray 2016), for 3×3 stride-1 convolutions on
// the wasm backend: each m×m block of outputs takes (m + 2)² products per channel pair instead of 9m².
//
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,   d: an (m+2)×(m+2) input patch, g: the 3×3 filter
//
// The input transform (V = Bᵀ d B, for every tile and 4 channels at a time) and the output transform
// run as WebAssembly SIMD generated from the matrices; the (m+2)² products V_ξ·U_ξ are
// [tiles × Cin]·[Cin × Cout] matrix products through difflab's SIMD conv kernel as 1×1 convolutions;
// the filter transform (small) runs in JavaScript. The input gradient of a stride-1 conv is itself a
// stride-1 conv (flipped filter), so it takes this path too. Inputs arrive zero-padded, as for the
// direct kernels. Products per output: F(4×4) 2.25, F(2×2) 4, direct 9; float32 error against a
// float64 direct conv (random data, 32–128 channels): F(4×4) ~5e-6 relative, F(2×2) ~4e-7.
import type { SimdRuntime } from './wasm-simd.js';
import { convKernel, convSpec, get, inc, locals, repeat, set, type ConvSpec } from './wasm-simd-conv.js';

type Tile = 2 | 4;

const MATRICES: Record<Tile, { BT: number[][]; G: number[][]; AT: number[][] }> = {
  2: {
    BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
    AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
  },
  // Interpolation points 0, ±1, ±2, ∞.
  4: {
    BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
    G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
    AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
  },
};

// DIFFLAB_WASM_WINOGRAD=0 turns the path off; =2 allows F(2×2, 3×3) only (benchmarks use setWinograd).
let allowed: Tile[] = process.env.DIFFLAB_WASM_WINOGRAD === '0' ? [] : process.env.DIFFLAB_WASM_WINOGRAD === '2' ? [2] : [2, 4];

/** Which tile sizes the rule may pick (benchmarks compare them in one process). */
export function setWinograd(tiles: Tile[]): void {
  allowed = tiles;
}

export const MIN_CIN = 32;
export const MIN_SIDE = 8;
/** Output sides from which F(4×4) beats F(2×2). */
export const MIN_SIDE_F4 = 16;

/**
 * The tile size a conv of this shape takes, 0 for the direct kernel: 3×3, stride 1, channels in
 * whole vectors, at least 32 input channels, output sides of at least 8; F(4×4) where the sides are
 * multiples of 4 and at least 16, else F(2×2) where they are even. Measured here (medians of 7,
 * direct / F(2×2) / F(4×4), ms; `npm run bench -- kernels` times the model shapes):
 *   batch 32, 16×16, 16→16: 1.31 / 1.75 / 1.77   (too few channels: the transforms dominate)
 *   batch 32, 16×16, 32→32: 3.68 / 3.58 / 3.16;  64→32: 7.61 / 6.60 / 5.92;  96→32: 11.8 / 10.9 / 10.0
 *   batch 32, 8×8, 64→64: 3.88 / 3.10 / 3.59;  128→64: 7.14 / 6.72 / 7.72
 *   batch 32, 4×4, 64→64: F(2×2) took 1.9× the direct kernel's time (4 tiles an image)
 *   batch 64, 28×28, 32→64: 50.6 / 34.9 / 27.3;  14×14, 128→128: 102.6 / 57.0 (F(2×2))
 */
export function winogradTile(s: ConvSpec): 0 | Tile {
  if (!allowed.length || s.kh !== 3 || s.kw !== 3 || s.sh !== 1 || s.sw !== 1) return 0;
  if (s.cin % 4 !== 0 || s.cout % 4 !== 0 || s.cin < MIN_CIN || s.oh < MIN_SIDE || s.ow < MIN_SIDE) return 0;
  if (allowed.includes(4) && s.oh % 4 === 0 && s.ow % 4 === 0 && s.oh >= MIN_SIDE_F4 && s.ow >= MIN_SIDE_F4) return 4;
  if (allowed.includes(2) && s.oh % 2 === 0 && s.ow % 2 === 0) return 2;
  return 0;
}

/** Convolutions that took the Winograd path in this process, per tile size (tests check that a shape reaches it). */
export const winogradCalls = { 2: 0, 4: 0, get total() { return this[2] + this[4]; } };


/** Σ_k c_k·term_k as a SIMD expression: ±1 as add/sub/neg, other coefficients as a multiply by a splat. */
function lin(coeffs: number[], terms: string[]): string {
  let acc: string | undefined;
  coeffs.forEach((c, k) => {
    if (c === 0) return;
    const t = terms[k];
    if (acc === undefined) acc = c === 1 ? t : c === -1 ? `(f32x4.neg ${t})` : `(f32x4.mul ${t} (f32x4.splat (f32.const ${c})))`;
    else if (c === 1) acc = `(f32x4.add ${acc} ${t})`;
    else if (c === -1) acc = `(f32x4.sub ${acc} ${t})`;
    else acc = `(f32x4.add ${acc} (f32x4.mul ${t} (f32x4.splat (f32.const ${c}))))`;
  });
  return acc ?? '(v128.const i32x4 0 0 0 0)';
}

/**
 * A transform module: run(src, dst, n, stride) loops over images, tile rows, tile columns and channel
 * vectors (local $p walks the m×m- or (m+2)×(m+2)-pixel window of the tiled tensor, whose pixels
 * are `pix` bytes, rows `rowBytes`, images `imgBytes`; `cursor` walks the other side) around `body`.
 */
function tileModule(s: ConvSpec, m: number, params: [string, string, string], tiled: string, cursor: string, vec: string[], pix: number, rowBytes: number, imgBytes: number, body: string[]): string {
  const [src, dst, stride] = params;
  return [
    '(module (import "env" "memory" (memory 1))',
    `(func (export "run") (param $${src} i32) (param $${dst} i32) (param $n i32) (param $${stride} i32)`,
    locals(['img', 'row', 'tile', 'p', cursor, 'q', 'b', 'i', 'j', 'k'], 'i32'),
    locals(vec, 'v128'),
    set(cursor, get(tiled === src ? dst : src)),
    set('img', get(tiled)),
    ...repeat('lb', 'b', get('n'), [
      set('row', get('img')),
      ...repeat('li', 'i', s.oh / m, [
        set('tile', get('row')),
        ...repeat('lj', 'j', s.ow / m, [set('p', get('tile')), ...repeat('lk', 'k', pix / 16, body), inc('tile', m * pix)]),
        inc('row', m * rowBytes),
      ]),
      inc('img', imgBytes),
    ]),
    '))',
  ].join('\n');
}

/**
 * Y = M·X·Mᵀ on SIMD locals, every transform here being of that form (M is j×k, X is k×k): `rows`
 * are the statements of the pass along rows, t = M·X into locals `${prefix}i_c`, and `out(i, j)` the
 * expression of Y[i][j] for the pass along columns. `x(r, c)` names X's element.
 */
function separable(M: number[][], x: (r: number, c: number) => string, prefix: string): { rows: string[]; locals: string[]; out: (i: number, j: number) => string } {
  const j = M.length, k = M[0].length;
  const t = (i: number, c: number) => `${prefix}${i}_${c}`;
  const rows: string[] = [], names: string[] = [];
  for (let i = 0; i < j; i++) {
    for (let c = 0; c < k; c++) {
      rows.push(set(t(i, c), lin(M[i], Array.from({ length: k }, (_, r) => get(x(r, c))))));
      names.push(t(i, c));
    }
  }
  return { rows, locals: names, out: (i, jj) => lin(M[jj], Array.from({ length: k }, (_, c) => get(t(i, c)))) };
}

/** The k×k locals `${prefix}r_c` that hold X, in row order. */
const grid = (k: number, prefix: string) => Array.from({ length: k * k }, (_, e) => `${prefix}${Math.floor(e / k)}_${e % k}`);

/**
 * run(xp, v, n, vs): for every tile and 4 channels, V_ξ = (Bᵀ d B)_ξ, stored at v + ξ·vs + tile·Cin·4
 * (vs: bytes between the a² matrices, a = m + 2).
 */
function inputModule(s: ConvSpec, m: Tile): string {
  const { BT } = MATRICES[m], a = m + 2;
  const pix = 4 * s.cin, rowIn = s.wp * pix;
  const d = (r: number, c: number) => `d${r}_${c}`;
  const body: string[] = [];
  for (let r = 0; r < a; r++) for (let c = 0; c < a; c++) body.push(set(d(r, c), `(v128.load offset=${r * rowIn + c * pix} ${get('p')})`));
  const V = separable(BT, d, 't');
  // Stored in ξ = a·r + c order.
  body.push(...V.rows, set('q', get('vp')));
  for (let r = 0; r < a; r++) for (let c = 0; c < a; c++) body.push(`(v128.store ${get('q')} ${V.out(r, c)})`, inc('q', get('vs')));
  body.push(inc('p', 16), inc('vp', 16));
  return tileModule(s, m, ['x', 'v', 'vs'], 'x', 'vp', [...grid(a, 'd'), ...V.locals], pix, rowIn, s.hp * rowIn, body);
}

/** run(mm, out, n, ms): Y = Aᵀ M A for every tile and 4 output channels, M_ξ at mm + ξ·ms + tile·Cout·4, into out[n, oh, ow, cout]. */
function outputModule(s: ConvSpec, m: Tile): string {
  const { AT } = MATRICES[m], a = m + 2;
  const pix = 4 * s.cout, rowOut = s.ow * pix;
  const mv = (r: number, c: number) => `m${r}_${c}`;
  const body: string[] = [set('q', get('mp'))];
  for (let r = 0; r < a; r++) for (let c = 0; c < a; c++) body.push(set(mv(r, c), `(v128.load ${get('q')})`), inc('q', get('ms')));
  // Written to the tile's m×m outputs.
  const Y = separable(AT, mv, 'u');
  body.push(...Y.rows);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) body.push(`(v128.store offset=${i * rowOut + j * pix} ${get('p')} ${Y.out(i, j)})`);
  body.push(inc('p', 16), inc('mp', 16));
  return tileModule(s, m, ['mm', 'o', 'ms'], 'o', 'mp', [...grid(a, 'm'), ...Y.locals], pix, rowOut, s.oh * rowOut, body);
}

/**
 * run(dy, z, n, zs): for the filter gradient, Z_ξ = (A dY Aᵀ)_ξ of every m×m block of dy and 4
 * channels, stored at z + ξ·zs + tile·Cout·4 (the adjoint of the output transform).
 */
function dyModule(s: ConvSpec, m: Tile): string {
  const { AT } = MATRICES[m], a = m + 2;
  const pix = 4 * s.cout, rowOut = s.ow * pix;
  const y = (i: number, j: number) => `y${i}_${j}`;
  const body: string[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) body.push(set(y(i, j), `(v128.load offset=${i * rowOut + j * pix} ${get('p')})`));
  // A = Aᵀᵀ (a × m); stored in ξ = a·k + l order.
  const Z = separable(transpose(AT), y, 'r');
  body.push(...Z.rows, set('q', get('zp')));
  for (let k = 0; k < a; k++) for (let l = 0; l < a; l++) body.push(`(v128.store ${get('q')} ${Z.out(k, l)})`, inc('q', get('zs')));
  body.push(inc('p', 16), inc('zp', 16));
  return tileModule(s, m, ['dy', 'z', 'zs'], 'dy', 'zp', [...grid(m, 'y'), ...Z.locals], pix, rowOut, s.oh * rowOut, body);
}

const transpose = (M: number[][]) => M[0].map((_, c) => M.map((row) => row[c]));

/**
 * out = M·X·Mᵀ for every channel pair, in float32: X as [k·k, n] (row-major taps), out as [j·j, n],
 * M j×k. The filter transform is U = G g Gᵀ (M = G), its adjoint dg = Gᵀ dU G (M = Gᵀ).
 */
function separableTransform(M: number[][], src: Float32Array, n: number, out: Float32Array): void {
  const j = M.length, k = M[0].length;
  const tmp = new Float32Array(j * k * n); // M·X as [j, k, n]
  for (let i = 0; i < j; i++) {
    for (let c = 0; c < k; c++) {
      const dst = tmp.subarray((i * k + c) * n, (i * k + c + 1) * n);
      for (let r = 0; r < k; r++) {
        const w = M[i][r];
        if (w === 0) continue;
        const x = src.subarray((r * k + c) * n, (r * k + c + 1) * n);
        for (let e = 0; e < n; e++) dst[e] += w * x[e];
      }
    }
  }
  out.fill(0, 0, j * j * n);
  for (let i = 0; i < j; i++) {
    for (let jj = 0; jj < j; jj++) {
      const dst = out.subarray((i * j + jj) * n, (i * j + jj + 1) * n);
      for (let c = 0; c < k; c++) {
        const w = M[jj][c];
        if (w === 0) continue;
        const t = tmp.subarray((i * k + c) * n, (i * k + c + 1) * n);
        for (let e = 0; e < n; e++) dst[e] += w * t[e];
      }
    }
  }
}

/** dg = Gᵀ dU G for every channel pair: dU as [a², cin, cout] → dg as [3, 3, cin, cout] (HWIO). */
export function filterGradTransform(m: Tile, dU: Float32Array, cin: number, cout: number, out: Float32Array): void {
  separableTransform(transpose(MATRICES[m].G), dU, cin * cout, out);
}

/** U_ξ = (G g Gᵀ)_ξ for every channel pair, as [a², cin, cout], from g as [3, 3, cin, cout] (HWIO). */
export function filterTransform(m: Tile, g: Float32Array, cin: number, cout: number, out: Float32Array): void {
  separableTransform(MATRICES[m].G, g, cin * cout, out);
}

type Transform = (a: number, b: number, n: number, stride: number) => void;
const cache = new Map<string, Transform>();

function transform(rt: SimdRuntime, kind: 'input' | 'output' | 'dy', s: ConvSpec, m: Tile): Transform {
  const key = `${kind}:${m}:${s.cin},${s.cout},${s.hp},${s.wp},${s.oh},${s.ow}`;
  let f = cache.get(key);
  if (!f) {
    f = rt.instantiate(kind === 'input' ? inputModule(s, m) : kind === 'output' ? outputModule(s, m) : dyModule(s, m)).run as Transform;
    cache.set(key, f);
  }
  return f;
}

/**
 * The tile size the filter gradient of a conv of this shape takes, 0 for the direct kernel:
 * F(2×2, 3×3) from 128 input channels, under the forward rule's other conditions. Its products
 * (Vᵀ·Z, summed over the tiles) go through the filter-gradient kernel, and the two transforms write
 * (a²/m²)× the input and dy. Measured (medians of 5, batch 32, direct / F(2×2) ms): below 128
 * input channels it lost or tied — 16×16 32→32 4.11 / 4.74, 64→32 7.54 / 7.65, 96→32 11.1 / 11.2,
 * 32→64 6.98 / 6.62; 8×8 64→64 3.69 / 4.33 — and from 128 it won: 8×8 128→64 6.85 / 6.32,
 * 128→128 15.5 / 14.1, 256→128 25.9 / 24.9; 16×16 128→64 31.6 / 23.0, 128→128 55.2 / 44.2;
 * batch 64, 14×14 128→128 95.2 / 77.4.
 */
export function winogradFilterGradTile(s: ConvSpec): 0 | 2 {
  return winogradTile(s) !== 0 && allowed.includes(2) && s.cin >= MIN_CIN_FILTER ? 2 : 0;
}

export const MIN_CIN_FILTER = 128;

/**
 * dU[a², cin, cout] += Σ over tiles of V_ξᵀ·Z_ξ; filterGradTransform then gives dW. xp: the padded
 * input; dy: [n, oh, ow, cout]; v and z: scratch of winogradScratch's v and m sizes; dU (zeroed by
 * the caller) of its u size.
 */
export function winogradFilterGrad(rt: SimdRuntime, s: ConvSpec, m: Tile, n: number, xp: number, dy: number, v: number, z: number, dU: number): void {
  winogradCalls[m]++;
  const a2 = (m + 2) ** 2, tiles = n * (s.oh / m) * (s.ow / m);
  const vs = 4 * tiles * s.cin, zs = 4 * tiles * s.cout, us = 4 * s.cin * s.cout;
  transform(rt, 'input', s, m)(xp, v, n, vs);
  transform(rt, 'dy', s, m)(dy, z, n, zs);
  // Vᵀ·Z through the filter-gradient kernel with the tiles as its pixels, in chunks of at most 128
  // rows (each an "image" it accumulates), as wasm-matmul.ts does for Aᵀ·B.
  const chunk = Math.min(tiles, 128), full = Math.floor(tiles / chunk), rest = tiles - full * chunk;
  const spec = (rows: number) => convSpec(s.cin, s.cout, 1, 1, 1, 1, 1, rows);
  const main = convKernel(rt, 'filter', spec(chunk)), tail = rest > 0 ? convKernel(rt, 'filter', spec(rest)) : undefined;
  for (let xi = 0; xi < a2; xi++) {
    main(v + xi * vs, z + xi * zs, dU + xi * us, full);
    tail?.(v + xi * vs + 4 * full * chunk * s.cin, z + xi * zs + 4 * full * chunk * s.cout, dU + xi * us, 1);
  }
}

/** Scratch the caller allocates in the wasm heap: the transformed input, filter and products (floats). */
export function winogradScratch(s: ConvSpec, m: Tile, n: number): { v: number; u: number; m: number } {
  const a2 = (m + 2) ** 2, tiles = n * (s.oh / m) * (s.ow / m);
  return { v: a2 * tiles * s.cin, u: a2 * s.cin * s.cout, m: a2 * tiles * s.cout };
}

/**
 * out[n, oh, ow, cout] = conv(xp, w) by F(m×m, 3×3). Addresses are byte offsets into the wasm heap:
 * xp the padded input, u the transformed filter (filterTransform, already written), v and mm scratch
 * of winogradScratch's sizes.
 */
export function winogradConv(rt: SimdRuntime, s: ConvSpec, m: Tile, n: number, xp: number, u: number, v: number, mm: number, out: number): void {
  winogradCalls[m]++;
  const a2 = (m + 2) ** 2, tiles = n * (s.oh / m) * (s.ow / m);
  const vs = 4 * tiles * s.cin, ms = 4 * tiles * s.cout, us = 4 * s.cin * s.cout;
  transform(rt, 'input', s, m)(xp, v, n, vs);
  // The a² products as 1×1 convolutions of a 1 × tiles "image".
  const gemm = convKernel(rt, 'forward', convSpec(s.cin, s.cout, 1, 1, 1, 1, 1, tiles));
  for (let xi = 0; xi < a2; xi++) gemm(v + xi * vs, u + xi * us, mm + xi * ms, 1);
  transform(rt, 'output', s, m)(mm, out, n, ms);
}
