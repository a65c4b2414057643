// Seeded pseudo-random numbers: one generator per run makes every result reproducible from its seed.

/** xoshiro128** (Blackman & Vigna 2018), seeded through splitmix32; 2^128 − 1 period. */
export class Rng {
  private s = new Uint32Array(4);
  private spare: number | undefined;

  /**
   * `stream` (optional) selects one of 2³² independent streams of the same seed: the state words mix
   * seed and stream through splitmix32, so Rng(s, i) and Rng(s, j) share nothing for i ≠ j.
   */
  constructor(seed: number, stream?: number) {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = stream === undefined ? z : (z ^ mix32((stream >>> 0) + Math.imul(i + 1, 0x7f4a7c15))) >>> 0;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5, lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal via the Box–Muller transform (the pair's second value is kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u)), th = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /** The full generator state, for checkpoints: a resumed run continues the same stream. */
  getState(): { s: number[]; spare: number | null } {
    return { s: Array.from(this.s), spare: this.spare ?? null };
  }

  setState(st: { s: number[]; spare: number | null }): void {
    if (st.s.length !== 4) throw new Error('rng state: expected 4 words');
    this.s.set(st.s);
    this.spare = st.spare ?? undefined;
  }

  /** A generator derived from this one, so sub-tasks get independent reproducible streams. */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}

function mix32(x: number): number {
  let t = (x + 0x9e3779b9) >>> 0;
  t = Math.imul(t ^ (t >>> 16), 0x21f0aaad) >>> 0;
  t = Math.imul(t ^ (t >>> 15), 0x735a2d97) >>> 0;
  return (t ^ (t >>> 15)) >>> 0;
}

/** Anything that draws standard normals: an Rng, or one stream per sample (SampleStreams). */
export interface NormalSource {
  normals(n: number): Float32Array;
}

/**
 * One random stream per sample: sample i of a seeded set draws its initial noise and every later
 * sampler noise from Rng(seed, i) alone, so its image does not depend on the batch it is drawn in,
 * the number of jobs, the shard or a resume. `normals(n)` for a batch of rows [first, first+count)
 * takes n/count numbers from each row's stream, row-major.
 */
export class SampleStreams implements NormalSource {
  private readonly rows: Rng[];

  constructor(readonly seed: number, readonly first: number, readonly count: number) {
    this.rows = Array.from({ length: count }, (_, i) => new Rng(seed, first + i));
  }

  normals(n: number): Float32Array {
    const per = n / this.count;
    if (!Number.isInteger(per)) throw new Error(`sample streams: ${n} numbers is not a whole number per sample for ${this.count} samples`);
    const out = new Float32Array(n);
    this.rows.forEach((r, i) => out.set(r.normals(per), i * per));
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
