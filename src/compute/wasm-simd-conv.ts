// Direct convolution kernels in WebAssembly SIMD (see wasm-simd.ts): the forward conv and the filter
// gradient, NHWC, any kernel size and stride, on an input that is already zero-padded.
//
// Forward: each call of a tile computes MR consecutive output pixels × NR output channels, keeping
// the MR·NR sums in registers over all KH·KW·Cin products (an implicit GEMM: no im2col buffer).
// Filter gradient: each tile computes MR input channels × NR output channels of one tap, summing
// x·dy over the output pixels of one image; images accumulate into the output.
// MR = 4 and NR = 8 (4 where Cout is not a multiple of 8) keep 8 accumulators + 2 weights + 1
// broadcast in the 16 SIMD registers of x64; larger tiles spilled and ran slower here.
import { madd, type SimdRuntime } from './wasm-simd.js';

/** Shape constants of one convolution, baked into its kernels. */
export interface ConvSpec {
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Padded input height and width (rows and columns the kernel reads). */
  hp: number;
  wp: number;
  oh: number;
  ow: number;
}

const MR = 4;

/** The spec of a conv producing oh × ow outputs; the padded input is exactly the rows and columns it reads. */
export function convSpec(cin: number, cout: number, kh: number, kw: number, sh: number, sw: number, oh: number, ow: number): ConvSpec {
  return { cin, cout, kh, kw, sh, sw, hp: (oh - 1) * sh + kh, wp: (ow - 1) * sw + kw, oh, ow };
}

// DIFFLAB_WASM_CONV=xnnpack routes every conv through XNNPACK as before these kernels existed.
let enabled = process.env.DIFFLAB_WASM_CONV !== 'xnnpack';

/** Turns the SIMD conv kernels on or off (benchmarks compare both in one process). */
export function useSimdConv(on: boolean): void {
  enabled = on;
}

/** Whether the SIMD kernels take this shape: output channels in whole vectors. */
export function simdConvSupports(cout: number): boolean {
  return enabled && cout % 4 === 0;
}

function consts(s: ConvSpec) {
  const nv = s.cout % 8 === 0 ? 2 : 1;
  const pix = s.cin * 4, outPix = s.cout * 4;
  return { nv, nr: 4 * nv, pix, outPix, rs: s.sw * pix, rowIn: s.wp * pix, imgIn: s.hp * s.wp * pix, rowOut: s.ow * outPix };
}

// WebAssembly text helpers, shared with the Winograd transforms (wasm-winograd.ts).
export const get = (n: string) => `(local.get $${n})`;
export const set = (n: string, v: string) => `(local.set $${n} ${v})`;
export const i32 = (v: number) => `(i32.const ${v})`;
export const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
export const inc = (n: string, v: number | string) => set(n, add(get(n), typeof v === 'number' ? i32(v) : v));
/** A do-while loop over `count` ≥ 1 iterations, counting down in local `n`. */
export const repeat = (label: string, n: string, count: number | string, body: string[]) => [
  set(n, typeof count === 'number' ? i32(count) : count),
  `(loop $${label}`, ...body, `(br_if $${label} (local.tee $${n} (i32.sub ${get(n)} ${i32(1)}))))`,
];
export const locals = (names: string[], type: 'i32' | 'v128') => names.map((n) => `(local $${n} ${type})`).join(' ');

function accNames(mr: number, nv: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) out.push(`c${r}_${v}`);
  return out;
}

/** Forward tile: out[r, v] = Σ_{kh,kw,ci} x[a + r·rs + tap + ci] · w[tap, ci, v], for r < mr. */
function forwardTile(s: ConvSpec, mr: number, fma: boolean): string {
  const c = consts(s);
  const accs = accNames(mr, c.nv);
  const body: string[] = [];
  for (let v = 0; v < c.nv; v++) body.push(set(`b${v}`, `(v128.load offset=${16 * v} ${get('wp')})`));
  body.push(inc('wp', c.outPix));
  for (let r = 0; r < mr; r++) {
    body.push(set('s', `(v128.load32_splat offset=${r * c.rs} ${get('ap')})`));
    for (let v = 0; v < c.nv; v++) body.push(set(`c${r}_${v}`, madd(fma, get('s'), get(`b${v}`), get(`c${r}_${v}`))));
  }
  body.push(inc('ap', 4));
  return [
    `(func $fwd${mr} (param $a i32) (param $w i32) (param $o i32)`,
    locals(['wp', 'row', 'tap', 'ap', 'i', 'j', 'k'], 'i32'),
    locals(['s', ...Array.from({ length: c.nv }, (_, v) => `b${v}`), ...accs], 'v128'),
    set('wp', get('w')), set('row', get('a')),
    ...repeat('li', 'i', s.kh, [
      set('tap', get('row')),
      ...repeat('lj', 'j', s.kw, [set('ap', get('tap')), ...repeat('lk', 'k', s.cin, body), inc('tap', c.pix)]),
      inc('row', c.rowIn),
    ]),
    ...accs.map((a, idx) => {
      const r = Math.floor(idx / c.nv), v = idx % c.nv;
      return `(v128.store offset=${r * c.outPix + 16 * v} ${get('o')} ${get(a)})`;
    }),
    ')',
  ].join('\n');
}

/** run(x, w, out, n): out[n, oh, ow, cout] = conv(x[n, hp, wp, cin] (padded), w[kh, kw, cin, cout]). */
export function forwardModule(s: ConvSpec, fma: boolean): string {
  const c = consts(s);
  const full = Math.floor(s.ow / MR), tail = s.ow % MR;
  const perTile = [
    set('ap', get('rowA')), set('oc', add(get('op'), get('c'))), set('wc', add(get('w'), get('c'))),
    ...(full > 0 ? repeat('lt', 't', full, [`(call $fwd${MR} ${get('ap')} ${get('wc')} ${get('oc')})`, inc('ap', MR * c.rs), inc('oc', MR * c.outPix)]) : []),
    ...(tail > 0 ? [`(call $fwd${tail} ${get('ap')} ${get('wc')} ${get('oc')})`] : []),
  ];
  return [
    '(module (import "env" "memory" (memory 1))',
    forwardTile(s, MR, fma),
    ...(tail > 0 ? [forwardTile(s, tail, fma)] : []),
    '(func (export "run") (param $x i32) (param $w i32) (param $o i32) (param $n i32)',
    locals(['img', 'rowA', 'op', 'c', 'ap', 'oc', 'wc', 'b', 'y', 't'], 'i32'),
    set('img', get('x')), set('op', get('o')),
    ...repeat('lb', 'b', get('n'), [
      set('rowA', get('img')),
      ...repeat('ly', 'y', s.oh, [
        set('c', i32(0)),
        '(loop $lc', ...perTile, inc('c', 4 * c.nr), `(br_if $lc (i32.lt_u ${get('c')} ${i32(s.cout * 4)})))`,
        inc('rowA', s.sh * c.rowIn), inc('op', c.rowOut),
      ]),
      inc('img', c.imgIn),
    ]),
    '))',
  ].join('\n');
}

/** Filter-gradient tile: dW[tap, ci0 + r, v] += Σ over `rows` output rows of x[xa + r + pixel] · dy[pixel, v], for r < mr. */
function filterTile(s: ConvSpec, mr: number, fma: boolean, rows: number): string {
  const c = consts(s);
  const accs = accNames(mr, c.nv);
  const offset = (idx: number) => Math.floor(idx / c.nv) * c.outPix + 16 * (idx % c.nv);
  const body: string[] = [];
  for (let v = 0; v < c.nv; v++) body.push(set(`b${v}`, `(v128.load offset=${16 * v} ${get('dp')})`));
  for (let r = 0; r < mr; r++) {
    body.push(set('s', `(v128.load32_splat offset=${4 * r} ${get('xp')})`));
    for (let v = 0; v < c.nv; v++) body.push(set(`c${r}_${v}`, madd(fma, get('s'), get(`b${v}`), get(`c${r}_${v}`))));
  }
  body.push(inc('xp', c.rs), inc('dp', c.outPix));
  return [
    `(func $dw${mr} (param $xa i32) (param $dya i32) (param $o i32)`,
    locals(['xr', 'dr', 'xp', 'dp', 'y', 'x'], 'i32'),
    locals(['s', ...Array.from({ length: c.nv }, (_, v) => `b${v}`), ...accs], 'v128'),
    ...accs.map((a, idx) => set(a, `(v128.load offset=${offset(idx)} ${get('o')})`)),
    set('xr', get('xa')), set('dr', get('dya')),
    ...repeat('ly', 'y', rows, [
      set('xp', get('xr')), set('dp', get('dr')),
      ...repeat('lx', 'x', s.ow, body),
      inc('xr', s.sh * c.rowIn), inc('dr', c.rowOut),
    ]),
    ...accs.map((a, idx) => `(v128.store offset=${offset(idx)} ${get('o')} ${get(a)})`),
    ')',
  ].join('\n');
}

/** run(x, dy, out, n): out[kh, kw, cin, cout] += Σ over n images of x (padded) ⋆ dy. */
/**
 * Output rows per tile call: the largest divisor of OH that keeps a call to at most 64 pixels. The
 * x rows and the dy rows a call reads then stay in L1 across the taps and channel tiles; one call
 * per whole image streamed each image from L2 once per tile (25 GFLOP/s at 28×28×32 against 38 for
 * the forward conv).
 */
function rowsPerCall(s: ConvSpec): number {
  let rows = Math.max(1, Math.min(s.oh, Math.floor(64 / s.ow)));
  while (s.oh % rows !== 0) rows--;
  return rows;
}

/** run(x, dy, out, n): out[kh, kw, cin, cout] += Σ over n images of x (padded) ⋆ dy. */
export function filterGradModule(s: ConvSpec, fma: boolean): string {
  const c = consts(s);
  const full = Math.floor(s.cin / MR), tail = s.cin % MR, rows = rowsPerCall(s);
  const overCout = (mr: number) => [
    set('c', i32(0)),
    '(loop $lc', `(call $dw${mr} ${get('xa')} ${add(get('drow'), get('c'))} ${add(get('ob'), get('c'))})`,
    inc('c', 4 * c.nr), `(br_if $lc (i32.lt_u ${get('c')} ${i32(s.cout * 4)})))`,
  ];
  return [
    '(module (import "env" "memory" (memory 1))',
    filterTile(s, MR, fma, rows),
    ...(tail > 0 ? [filterTile(s, tail, fma, rows)] : []),
    '(func (export "run") (param $x i32) (param $dy i32) (param $o i32) (param $n i32)',
    locals(['img', 'drow', 'band', 'row', 'tp', 'ot', 'xa', 'ob', 'c', 'b', 'y', 'i', 'j', 't'], 'i32'),
    set('img', get('x')), set('drow', get('dy')),
    ...repeat('lb', 'b', get('n'), [
      set('band', get('img')),
      // Bands of `rows` output rows; dy's rows are consecutive across bands and images.
      ...repeat('ly', 'y', s.oh / rows, [
        set('row', get('band')), set('ot', get('o')),
        ...repeat('li', 'i', s.kh, [
          set('tp', get('row')),
          ...repeat('lj', 'j', s.kw, [
            set('xa', get('tp')), set('ob', get('ot')),
            ...(full > 0 ? repeat('lt', 't', full, [...overCout(MR), inc('xa', 4 * MR), inc('ob', MR * c.outPix)]) : []),
            ...(tail > 0 ? overCout(tail) : []),
            inc('tp', c.pix), inc('ot', s.cin * c.outPix),
          ]),
          inc('row', c.rowIn),
        ]),
        inc('band', rows * s.sh * c.rowIn), inc('drow', rows * c.rowOut),
      ]),
      inc('img', c.imgIn),
    ]),
    '))',
  ].join('\n');
}

type Run = (a: number, b: number, out: number, n: number) => void;
const cache = new Map<string, Run>();

/** The compiled kernel for this shape (compiled once per shape and process). */
export function convKernel(rt: SimdRuntime, kind: 'forward' | 'filter', s: ConvSpec): Run {
  const key = `${kind}:${rt.fma}:${s.cin},${s.cout},${s.kh},${s.kw},${s.sh},${s.sw},${s.hp},${s.wp},${s.oh},${s.ow}`;
  let run = cache.get(key);
  if (!run) {
    const wat = kind === 'forward' ? forwardModule(s, rt.fma) : filterGradModule(s, rt.fma);
    run = rt.instantiate(wat).run as Run;
    cache.set(key, run);
  }
  return run;
}
