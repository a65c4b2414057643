// oneDNN (the library PyTorch's CPU convolutions and matmuls run on), called through koffi.
//
// Only the C API of oneDNN 2.x is used: operation descriptors are plain structs, filled by its
// `*_desc_init` functions into buffers of the struct's size, so no header or compiler is needed at
// install time. Primitives are created once per shape and cached. Tensors are read and written where
// they live (the wasm heap): oneDNN memory objects are created without a buffer and pointed at the
// tensor's bytes for each call. Weights go through a cached reorder into the blocked layout the
// primitive asks for; activations stay NHWC, which oneDNN's AVX-512 kernels take directly.
import { createRequire } from 'node:module';

/** sizeof() of the oneDNN 2.x structs the descriptors are written into (x86-64, oneDNN 2.6 headers). */
const SIZEOF = { memoryDesc: 696, convDesc: 5976, matmulDesc: 2800, eltwiseDesc: 1416, resamplingDesc: 2848 } as const;
const MAX_NDIMS = 12;
// Enum values of oneDNN 2.x's dnnl_types.h.
const F32 = 3;
const TAG = { any: 1, a: 2, nhwc: 20, hwio: 30 } as const;
const PROP_FORWARD_TRAINING = 64;
const CONV_DIRECT = 1;
/** dnnl_eltwise_swish: x·σ(αx); dnnl_resampling_nearest. */
const ELTWISE_SWISH = 223;
const RESAMPLING_NEAREST = 0x2fff0;
const ENGINE_CPU = 1;
const STREAM_DEFAULT = 1;
const ARG = { src: 1, dst: 17, weights: 33, bias: 41, diffSrc: 129, diffDst: 145, diffWeights: 161, from: 1, to: 17 } as const;
const QUERY = { implInfo: 8, diffSrcMd: 130, weightsMd: 131, diffWeightsMd: 132 } as const;
/** DNNL_MEMORY_ALLOCATE: the memory object allocates (and owns) its buffer. */
const MEMORY_ALLOCATE = 0xffffffffffffffffn;
const CPU_ISA: Record<number, string> = {
  0x0: 'all', 0x1: 'sse41', 0x3: 'avx', 0x7: 'avx2', 0xf: 'avx512_mic', 0x1f: 'avx512_mic_4ops', 0x27: 'avx512_core',
  0x67: 'avx512_core_vnni', 0xe7: 'avx512_core_bf16', 0x3e7: 'avx512_core_amx', 0x407: 'avx2_vnni',
};
const RUNTIME: Record<number, string> = { 1: 'sequential', 2: 'OpenMP', 4: 'TBB', 8: 'threadpool' };

type Ptr = bigint | null;
type Fn = (...args: unknown[]) => unknown;

/** Geometry of one NHWC convolution with an [KH, KW, Ci, Co] filter. */
export interface ConvShape {
  n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number;
  sh: number; sw: number; padTop: number; padLeft: number; oh: number; ow: number;
}

/** One (possibly batched, possibly transposed) matrix product C[b] = op(A[b]) · op(B[b]), row-major. */
export interface MatMulShape {
  batchA: number; batchB: number; m: number; k: number; n: number; transposeA: boolean; transposeB: boolean;
}

export interface OneDnnInfo {
  version: string;
  /** The best instruction set its JIT kernels use on this CPU, e.g. avx512_core. */
  isa: string;
  /** Its threading runtime (Debian's build: OpenMP). */
  runtime: string;
}

export class OneDnnError extends Error {
  constructor(call: string, status: number) {
    super(`oneDNN: ${call} failed with status ${status}`);
    this.name = 'OneDnnError';
  }
}

interface Cached { run(ptrs: bigint[]): void; impl: string }

/** Geometry of a nearest-neighbour resize of NHWC data by integer factors (fy, fx). */
export interface ResizeShape { n: number; h: number; w: number; c: number; oh: number; ow: number }

/** A loaded oneDNN with difflab's operations on raw addresses; see loadOneDnn. */
export class OneDnn {
  private readonly cache = new Map<string, Cached>();
  /** Operations run so far (tests use it to tell the native path from a fallback). */
  calls = 0;
  private readonly engine: Ptr;
  private readonly stream: Ptr;

  constructor(private readonly f: Record<string, Fn>, readonly info: OneDnnInfo, private readonly omp?: { set: Fn; get: Fn }) {
    const e: Ptr[] = [null];
    this.check('dnnl_engine_create', f.engineCreate(e, ENGINE_CPU, 0));
    this.engine = e[0];
    const s: Ptr[] = [null];
    this.check('dnnl_stream_create', f.streamCreate(s, this.engine, STREAM_DEFAULT));
    this.stream = s[0];
  }

  /** Threads oneDNN's OpenMP kernels use when called from this thread. */
  get threads(): number { return this.omp ? Number(this.omp.get()) : 1; }
  /** Sets the OpenMP thread count for calls from this (JS) thread. */
  setThreads(n: number): void { this.omp?.set(Math.max(1, Math.floor(n))); }

  /** Implementations chosen so far, by operation key (for `difflab info` and tests). */
  implementations(): Map<string, string> {
    return new Map([...this.cache].map(([k, v]) => [k, v.impl]));
  }

  /** y[N, OH, OW, Co] = conv(x[N, H, W, Ci], w[KH, KW, Ci, Co]) (+ bias[Co] where given). */
  convForward(s: ConvShape, x: bigint, w: bigint, y: bigint, bias?: bigint): void {
    if (bias === undefined) this.get(`conv-fwd ${key(s)}`, () => this.makeConv(s, 'forward')).run([x, w, y]);
    else this.get(`conv-fwd-bias ${key(s)}`, () => this.makeConv(s, 'forward', true)).run([x, w, y, bias]);
  }

  /** dx[N, H, W, Ci] from dy[N, OH, OW, Co] and w[KH, KW, Ci, Co]. */
  convBackwardData(s: ConvShape, dy: bigint, w: bigint, dx: bigint): void {
    this.get(`conv-bwd-data ${key(s)}`, () => this.makeConv(s, 'data')).run([dy, w, dx]);
  }

  /** dw[KH, KW, Ci, Co] from x[N, H, W, Ci] and dy[N, OH, OW, Co]. */
  convBackwardWeights(s: ConvShape, x: bigint, dy: bigint, dw: bigint): void {
    this.get(`conv-bwd-weights ${key(s)}`, () => this.makeConv(s, 'weights')).run([x, dy, dw]);
  }

  /** c[batch, M, N] = op(a) · op(b); a batch of 1 is broadcast over the other operand's batch. */
  matmul(s: MatMulShape, a: bigint, b: bigint, c: bigint): void {
    this.get(`matmul ${key(s)}`, () => this.makeMatMul(s)).run([a, b, c]);
  }

  /** y = x·σ(x) over n floats (oneDNN's swish with α = 1). */
  siluForward(n: number, x: bigint, y: bigint): void {
    this.get(`silu-fwd ${n}`, () => this.makeSilu(n, 'forward')).run([x, y]);
  }

  /** dx = dy·(σ(x) + x·σ(x)·(1 − σ(x))), the gradient of x·σ(x), over n floats. */
  siluBackward(n: number, x: bigint, dy: bigint, dx: bigint): void {
    this.get(`silu-bwd ${n}`, () => this.makeSilu(n, 'backward')).run([x, dy, dx]);
  }

  /**
   * The gradient of a nearest-neighbour upsampling by integer factors: dx[N, H, W, C] holds the sum
   * of dy[N, OH, OW, C] over each input pixel's block.
   */
  resizeNearestBackward(s: ResizeShape, dy: bigint, dx: bigint): void {
    this.get(`resize-nearest-bwd ${key(s)}`, () => this.makeResizeBackward(s)).run([dy, dx]);
  }

  /**
   * Copies a block of `rows` × `width` floats from rows `srcStride` floats apart to rows `dstStride`
   * floats apart (a reorder between two strided layouts): slices, splits and concatenations along a
   * trailing axis.
   */
  copyBlock(rows: number, width: number, srcStride: number, dstStride: number, src: bigint, dst: bigint): void {
    this.get(`copy ${rows},${width},${srcStride},${dstStride}`, () => this.makeCopy(rows, width, srcStride, dstStride)).run([src, dst]);
  }

  private get(k: string, make: () => Cached): Cached {
    this.calls++;
    let c = this.cache.get(k);
    if (!c) { c = make(); this.cache.set(k, c); }
    return c;
  }

  private check(call: string, status: unknown): void {
    if (status !== 0) throw new OneDnnError(call, Number(status));
  }

  private md(dims: number[], tag: number): Buffer {
    const b = Buffer.alloc(SIZEOF.memoryDesc);
    this.check('dnnl_memory_desc_init_by_tag', this.f.mdInitByTag(b, dims.length, dimsArray(dims), F32, tag));
    return b;
  }

  private mdStrides(dims: number[], strides: number[]): Buffer {
    const b = Buffer.alloc(SIZEOF.memoryDesc);
    this.check('dnnl_memory_desc_init_by_strides', this.f.mdInitByStrides(b, dims.length, dimsArray(dims), F32, dimsArray(strides)));
    return b;
  }

  private primitiveDesc(opDesc: Buffer, hint: Ptr): Ptr {
    const pd: Ptr[] = [null];
    this.check('dnnl_primitive_desc_create', this.f.pdCreate(pd, opDesc, null, this.engine, hint));
    return pd[0];
  }

  private primitive(pd: Ptr): Ptr {
    const p: Ptr[] = [null];
    this.check('dnnl_primitive_create', this.f.primitiveCreate(p, pd));
    return p[0];
  }

  /** A memory object for `md`: without a buffer (pointed at tensors call by call), or owning one. */
  private memory(md: Buffer | Ptr, owned: boolean): Ptr {
    const m: Ptr[] = [null];
    this.check('dnnl_memory_create', this.f.memoryCreate(m, md, this.engine, owned ? MEMORY_ALLOCATE : null));
    return m[0];
  }

  private impl(pd: Ptr): string {
    const s: (string | null)[] = [null];
    this.f.pdQueryStr(pd, QUERY.implInfo, 0, s);
    return s[0] ?? '?';
  }

  /** Points buffer-less memory objects at this call's tensors. */
  private bind(mems: Ptr[], ptrs: bigint[]): void {
    for (let i = 0; i < mems.length; i++) this.check('dnnl_memory_set_data_handle', this.f.setHandle(mems[i], ptrs[i]));
  }

  private wait(): void {
    this.check('dnnl_stream_wait', this.f.streamWait(this.stream));
  }

  /** A primitive's execution with its (fixed) argument memories, the argument array built once. */
  private executor(prim: Ptr, args: [number, Ptr][]): () => void {
    const buf = Buffer.alloc(16 * args.length);
    for (let i = 0; i < args.length; i++) {
      buf.writeInt32LE(args[i][0], 16 * i);
      buf.writeBigUInt64LE(args[i][1] as bigint, 16 * i + 8);
    }
    return () => this.check('dnnl_primitive_execute', this.f.execute(prim, this.stream, args.length, buf));
  }

  /**
   * A primitive that reads and writes the tensors directly: its argument memories, in the order the
   * call's addresses come in, are bound, executed, waited for.
   */
  private direct(pd: Ptr, args: [number, Ptr][]): Cached {
    const mems = args.map((a) => a[1]), exec = this.executor(this.primitive(pd), args);
    return { impl: this.impl(pd), run: (ptrs) => { this.bind(mems, ptrs); exec(); this.wait(); } };
  }

  /**
   * A reorder between a plain user layout and the primitive's preferred one, when they differ:
   * returns the memory the primitive reads/writes and the step that moves the data.
   */
  private staged(userMd: Buffer, wanted: Ptr, user: Ptr, toPrimitive: boolean): { mem: Ptr; move?: () => void } {
    if (this.f.mdEqual(userMd, wanted)) return { mem: user };
    const inner = this.memory(wanted, true);
    const pd: Ptr[] = [null];
    const [src, dst] = toPrimitive ? [userMd, wanted] : [wanted, userMd];
    this.check('dnnl_reorder_primitive_desc_create', this.f.reorderPdCreate(pd, src, this.engine, dst, this.engine, null));
    const prim = this.primitive(pd[0]);
    const args: [number, Ptr][] = toPrimitive ? [[ARG.from, user], [ARG.to, inner]] : [[ARG.from, inner], [ARG.to, user]];
    return { mem: inner, move: this.executor(prim, args) };
  }

  private makeConv(s: ConvShape, kind: 'forward' | 'data' | 'weights', withBias = false): Cached {
    const padBottom = (s.oh - 1) * s.sh + s.kh - s.h - s.padTop;
    const padRight = (s.ow - 1) * s.sw + s.kw - s.w - s.padLeft;
    const xMd = this.md([s.n, s.ci, s.h, s.w], TAG.nhwc);
    const yMd = this.md([s.n, s.co, s.oh, s.ow], TAG.nhwc);
    const wUser = this.md([s.co, s.ci, s.kh, s.kw], TAG.hwio);
    const wAny = this.md([s.co, s.ci, s.kh, s.kw], TAG.any);
    const strides = dimsArray([s.sh, s.sw]), padL = dimsArray([s.padTop, s.padLeft]), padR = dimsArray([padBottom, padRight]);
    const bMd = withBias ? this.md([s.co], TAG.a) : null;
    const fwdDesc = Buffer.alloc(SIZEOF.convDesc);
    this.check('dnnl_convolution_forward_desc_init',
      this.f.convFwdInit(fwdDesc, PROP_FORWARD_TRAINING, CONV_DIRECT, xMd, wAny, bMd, yMd, strides, padL, padR));
    const fwdPd = this.primitiveDesc(fwdDesc, null);
    const xMem = this.memory(xMd, false), yMem = this.memory(yMd, false), wMem = this.memory(wUser, false);

    if (kind === 'forward') {
      const prim = this.primitive(fwdPd);
      const w = this.staged(wUser, this.f.pdQueryMd(fwdPd, QUERY.weightsMd, 0) as Ptr, wMem, true);
      const bMem = bMd ? this.memory(bMd, false) : null;
      const mems = bMem ? [xMem, wMem, yMem, bMem] : [xMem, wMem, yMem];
      const exec = this.executor(prim, [[ARG.src, xMem], [ARG.weights, w.mem], [ARG.dst, yMem], ...(bMem ? [[ARG.bias, bMem] as [number, Ptr]] : [])]);
      return {
        impl: this.impl(fwdPd),
        run: (ptrs) => {
          this.bind(mems, ptrs);
          w.move?.();
          exec();
          this.wait();
        },
      };
    }
    if (kind === 'data') {
      const d = Buffer.alloc(SIZEOF.convDesc);
      this.check('dnnl_convolution_backward_data_desc_init', this.f.convBwdDataInit(d, CONV_DIRECT, xMd, wAny, yMd, strides, padL, padR));
      const pd = this.primitiveDesc(d, fwdPd);
      const prim = this.primitive(pd);
      const w = this.staged(wUser, this.f.pdQueryMd(pd, QUERY.weightsMd, 0) as Ptr, wMem, true);
      const exec = this.executor(prim, [[ARG.diffDst, yMem], [ARG.weights, w.mem], [ARG.diffSrc, xMem]]);
      return {
        impl: this.impl(pd),
        run: (ptrs) => {
          this.bind([yMem, wMem, xMem], ptrs);
          w.move?.();
          exec();
          this.wait();
        },
      };
    }
    const d = Buffer.alloc(SIZEOF.convDesc);
    this.check('dnnl_convolution_backward_weights_desc_init', this.f.convBwdWeightsInit(d, CONV_DIRECT, xMd, wAny, null, yMd, strides, padL, padR));
    const pd = this.primitiveDesc(d, fwdPd);
    const prim = this.primitive(pd);
    const w = this.staged(wUser, this.f.pdQueryMd(pd, QUERY.diffWeightsMd, 0) as Ptr, wMem, false);
    const exec = this.executor(prim, [[ARG.src, xMem], [ARG.diffDst, yMem], [ARG.diffWeights, w.mem]]);
    return {
      impl: this.impl(pd),
      run: (ptrs) => {
        this.bind([xMem, yMem, wMem], ptrs);
        exec();
        w.move?.();
        this.wait();
      },
    };
  }

  private makeCopy(rows: number, width: number, srcStride: number, dstStride: number): Cached {
    const srcMd = this.mdStrides([rows, width], [srcStride, 1]), dstMd = this.mdStrides([rows, width], [dstStride, 1]);
    const pd: Ptr[] = [null];
    this.check('dnnl_reorder_primitive_desc_create', this.f.reorderPdCreate(pd, srcMd, this.engine, dstMd, this.engine, null));
    const srcMem = this.memory(srcMd, false), dstMem = this.memory(dstMd, false);
    return this.direct(pd[0], [[ARG.from, srcMem], [ARG.to, dstMem]]);
  }

  private makeSilu(n: number, kind: 'forward' | 'backward'): Cached {
    const md = this.md([n], TAG.a);
    const fwd = Buffer.alloc(SIZEOF.eltwiseDesc);
    this.check('dnnl_eltwise_forward_desc_init', this.f.eltwiseFwdInit(fwd, PROP_FORWARD_TRAINING, ELTWISE_SWISH, md, 1, 0));
    const fwdPd = this.primitiveDesc(fwd, null);
    const xMem = this.memory(md, false), yMem = this.memory(md, false);
    if (kind === 'forward') return this.direct(fwdPd, [[ARG.src, xMem], [ARG.dst, yMem]]);
    const d = Buffer.alloc(SIZEOF.eltwiseDesc);
    this.check('dnnl_eltwise_backward_desc_init', this.f.eltwiseBwdInit(d, ELTWISE_SWISH, md, md, 1, 0));
    const pd = this.primitiveDesc(d, fwdPd);
    // By role: src = x, diff_dst = dy (in yMem's slot), diff_src = dx.
    return this.direct(pd, [[ARG.src, xMem], [ARG.diffDst, yMem], [ARG.diffSrc, this.memory(md, false)]]);
  }

  private makeResizeBackward(s: ResizeShape): Cached {
    const srcMd = this.md([s.n, s.c, s.h, s.w], TAG.nhwc), dstMd = this.md([s.n, s.c, s.oh, s.ow], TAG.nhwc);
    const factors = Float32Array.from([s.oh / s.h, s.ow / s.w]);
    const fwd = Buffer.alloc(SIZEOF.resamplingDesc);
    this.check('dnnl_resampling_forward_desc_init', this.f.resamplingFwdInit(fwd, PROP_FORWARD_TRAINING, RESAMPLING_NEAREST, factors, srcMd, dstMd));
    const fwdPd = this.primitiveDesc(fwd, null);
    const d = Buffer.alloc(SIZEOF.resamplingDesc);
    this.check('dnnl_resampling_backward_desc_init', this.f.resamplingBwdInit(d, RESAMPLING_NEAREST, factors, srcMd, dstMd));
    const pd = this.primitiveDesc(d, fwdPd);
    return this.direct(pd, [[ARG.diffDst, this.memory(dstMd, false)], [ARG.diffSrc, this.memory(srcMd, false)]]);
  }

  private makeMatMul(s: MatMulShape): Cached {
    const batch = Math.max(s.batchA, s.batchB);
    // Row-major [batch, rows, cols] operands, a transposed one described by its strides.
    const operand = (bt: number, rows: number, cols: number, transposed: boolean) => transposed
      ? this.mdStrides([bt, rows, cols], [rows * cols, 1, rows])
      : this.mdStrides([bt, rows, cols], [rows * cols, cols, 1]);
    const aMd = operand(s.batchA, s.m, s.k, s.transposeA);
    const bMd = operand(s.batchB, s.k, s.n, s.transposeB);
    const cMd = this.mdStrides([batch, s.m, s.n], [s.m * s.n, s.n, 1]);
    const d = Buffer.alloc(SIZEOF.matmulDesc);
    this.check('dnnl_matmul_desc_init', this.f.matmulInit(d, aMd, bMd, null, cMd));
    const pd = this.primitiveDesc(d, null);
    return this.direct(pd, [[ARG.src, this.memory(aMd, false)], [ARG.weights, this.memory(bMd, false)], [ARG.dst, this.memory(cMd, false)]]);
  }
}

function dimsArray(values: number[]): BigInt64Array {
  const d = new BigInt64Array(MAX_NDIMS);
  for (let i = 0; i < values.length; i++) d[i] = BigInt(values[i]);
  return d;
}

function key(o: object): string {
  return Object.values(o).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)).join(',');
}

/** The shared library names tried, newest ABI first (Debian's libdnnl2 installs libdnnl.so.2). */
export const ONEDNN_LIBRARIES = ['libdnnl.so.2', 'libdnnl.so'];

let koffiModule: typeof import('koffi') | undefined;
let loaded: Promise<{ ok: true; dnn: OneDnn } | { ok: false; reason: string }> | undefined;

/**
 * Loads oneDNN once per thread; `ok: false` says why not (koffi missing, library missing, an ABI other
 * than 2.x, or DIFFLAB_ONEDNN=off, which makes a whole process tree, e.g. the test suite, run on the
 * wasm kernels). Nothing here throws: a machine without oneDNN runs difflab's wasm kernels instead.
 */
export function loadOneDnn(): Promise<{ ok: true; dnn: OneDnn } | { ok: false; reason: string }> {
  loaded ??= (async () => {
    if (/^(0|off|false|no)$/i.test(process.env.DIFFLAB_ONEDNN ?? '')) return { ok: false as const, reason: `switched off by DIFFLAB_ONEDNN=${process.env.DIFFLAB_ONEDNN}` };
    let koffi: typeof import('koffi');
    try {
      koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
      koffiModule = koffi;
    } catch (e) {
      return { ok: false as const, reason: `the koffi package failed to load: ${String((e as Error).message).split('\n')[0]}` };
    }
    let lib: ReturnType<typeof koffi.load> | undefined;
    const errors: string[] = [];
    for (const name of ONEDNN_LIBRARIES) {
      try { lib = koffi.load(name); break; } catch (e) { errors.push(`${name}: ${String((e as Error).message).split('\n')[0]}`); }
    }
    if (!lib) return { ok: false as const, reason: `oneDNN is not installed (apt-get install libdnnl2): ${errors[0]}` };
    try {
      const versionT = koffi.struct('difflab_dnnl_version_t', { major: 'int', minor: 'int', patch: 'int', hash: 'const char *', cpu_runtime: 'unsigned int', gpu_runtime: 'unsigned int' });
      const v = lib.func('const difflab_dnnl_version_t *dnnl_version()')() as unknown;
      const ver = koffi.decode(v, versionT) as { major: number; minor: number; patch: number; cpu_runtime: number };
      if (ver.major !== 2) return { ok: false as const, reason: `oneDNN ${ver.major}.${ver.minor} is installed; difflab calls the 2.x C API` };
      const isa = Number(lib.func('int dnnl_get_effective_cpu_isa()')());
      const fn = (sig: string) => lib!.func(sig) as unknown as Fn;
      const f: Record<string, Fn> = {
        engineCreate: fn('int dnnl_engine_create(_Out_ void **engine, int kind, size_t index)'),
        streamCreate: fn('int dnnl_stream_create(_Out_ void **stream, void *engine, unsigned int flags)'),
        streamWait: fn('int dnnl_stream_wait(void *stream)'),
        mdInitByTag: fn('int dnnl_memory_desc_init_by_tag(_Inout_ uint8_t *md, int ndims, const int64_t *dims, int dt, int tag)'),
        mdInitByStrides: fn('int dnnl_memory_desc_init_by_strides(_Inout_ uint8_t *md, int ndims, const int64_t *dims, int dt, const int64_t *strides)'),
        mdEqual: fn('int dnnl_memory_desc_equal(const void *a, const void *b)'),
        convFwdInit: fn('int dnnl_convolution_forward_desc_init(_Inout_ uint8_t *d, int prop, int alg, const uint8_t *src, const uint8_t *w, const uint8_t *bias, const uint8_t *dst, const int64_t *strides, const int64_t *padl, const int64_t *padr)'),
        convBwdDataInit: fn('int dnnl_convolution_backward_data_desc_init(_Inout_ uint8_t *d, int alg, const uint8_t *diff_src, const uint8_t *w, const uint8_t *diff_dst, const int64_t *strides, const int64_t *padl, const int64_t *padr)'),
        convBwdWeightsInit: fn('int dnnl_convolution_backward_weights_desc_init(_Inout_ uint8_t *d, int alg, const uint8_t *src, const uint8_t *diff_w, const uint8_t *diff_bias, const uint8_t *diff_dst, const int64_t *strides, const int64_t *padl, const int64_t *padr)'),
        eltwiseFwdInit: fn('int dnnl_eltwise_forward_desc_init(_Inout_ uint8_t *d, int prop, int alg, const uint8_t *data, float alpha, float beta)'),
        eltwiseBwdInit: fn('int dnnl_eltwise_backward_desc_init(_Inout_ uint8_t *d, int alg, const uint8_t *diff_data, const uint8_t *data, float alpha, float beta)'),
        resamplingFwdInit: fn('int dnnl_resampling_forward_desc_init(_Inout_ uint8_t *d, int prop, int alg, const float *factors, const uint8_t *src, const uint8_t *dst)'),
        resamplingBwdInit: fn('int dnnl_resampling_backward_desc_init(_Inout_ uint8_t *d, int alg, const float *factors, const uint8_t *diff_src, const uint8_t *diff_dst)'),
        matmulInit: fn('int dnnl_matmul_desc_init(_Inout_ uint8_t *d, const uint8_t *src, const uint8_t *w, const uint8_t *bias, const uint8_t *dst)'),
        pdCreate: fn('int dnnl_primitive_desc_create(_Out_ void **pd, const uint8_t *op, void *attr, void *engine, void *hint)'),
        pdQueryMd: fn('void *dnnl_primitive_desc_query_md(void *pd, int what, int index)'),
        pdQueryStr: fn('int dnnl_primitive_desc_query(void *pd, int what, int index, _Out_ const char **result)'),
        primitiveCreate: fn('int dnnl_primitive_create(_Out_ void **prim, void *pd)'),
        memoryCreate: fn('int dnnl_memory_create(_Out_ void **mem, const void *md, void *engine, void *handle)'),
        setHandle: fn('int dnnl_memory_set_data_handle(void *mem, void *handle)'),
        reorderPdCreate: fn('int dnnl_reorder_primitive_desc_create(_Out_ void **pd, const void *src, void *src_engine, const void *dst, void *dst_engine, void *attr)'),
        execute: fn('int dnnl_primitive_execute(void *prim, void *stream, int nargs, const uint8_t *args)'),
      };
      let omp: { set: Fn; get: Fn } | undefined;
      if (ver.cpu_runtime === 2) {
        try {
          const gomp = koffi.load('libgomp.so.1');
          omp = { set: gomp.func('void omp_set_num_threads(int n)') as unknown as Fn, get: gomp.func('int omp_get_max_threads()') as unknown as Fn };
        } catch { /* another OpenMP: thread count stays at its default */ }
      }
      const info: OneDnnInfo = {
        version: `${ver.major}.${ver.minor}.${ver.patch}`,
        isa: CPU_ISA[isa] ?? `isa 0x${isa.toString(16)}`,
        runtime: RUNTIME[ver.cpu_runtime] ?? `runtime ${ver.cpu_runtime}`,
      };
      return { ok: true as const, dnn: new OneDnn(f, info, omp) };
    } catch (e) {
      return { ok: false as const, reason: `oneDNN loaded but its C API did not answer as 2.x: ${String((e as Error).message).split('\n')[0]}` };
    }
  })();
  return loaded;
}

/** The address of a typed array's first byte (for arrays over the wasm heap: the tensor's address). */
export function addressOf(a: ArrayBufferView): bigint {
  if (!koffiModule) throw new Error('oneDNN is not loaded');
  return koffiModule.address(a);
}
