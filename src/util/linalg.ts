// Float64 linear algebra: moments of feature matrices, the symmetric eigenproblem and small dense solves (metrics, samplers, post-hoc EMA).
//
// The eigensolver is Householder tridiagonalisation followed by the implicit QL algorithm (the
// EISPACK tred2/tql2 pair, as in JAMA and Numerical Recipes §11.2–11.3): O(n³) with a small constant.
// Written here rather than taken from mathjs because `math.eigs` on a symmetric 256×256 matrix took
// 9.3 s on this machine; this takes well under a second (see `npm run bench -- metrics`).

/** A row-major n×d matrix of float64 values. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (data && data.length !== rows * cols) throw new Error(`matrix: expected ${rows}×${cols} = ${rows * cols} values, got ${data.length}`);
  return { rows, cols, data: data ? Float64Array.from(data) : new Float64Array(rows * cols) };
}

/** Column means. */
export function colMeans(x: Matrix): Float64Array {
  const mu = new Float64Array(x.cols);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) mu[j] += x.data[i * x.cols + j];
  for (let j = 0; j < x.cols; j++) mu[j] /= x.rows;
  return mu;
}

/** Unbiased covariance (divisor n − 1, as numpy's np.cov(rowvar=False)), a d×d row-major matrix. */
export function covariance(x: Matrix, mu = colMeans(x)): Float64Array {
  const { rows: n, cols: d } = x;
  if (n < 2) throw new Error(`covariance: needs at least 2 samples, got ${n}`);
  const c = new Float64Array(d * d);
  // Four centred rows at a time: each entry of the upper triangle is loaded and stored once per four
  // rows instead of once per row (about 2.5× faster at d = 128); the sums are the same products.
  const r0 = new Float64Array(d), r1 = new Float64Array(d), r2 = new Float64Array(d), r3 = new Float64Array(d);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    for (let j = 0; j < d; j++) {
      r0[j] = x.data[i * d + j] - mu[j];
      r1[j] = x.data[(i + 1) * d + j] - mu[j];
      r2[j] = x.data[(i + 2) * d + j] - mu[j];
      r3[j] = x.data[(i + 3) * d + j] - mu[j];
    }
    for (let a = 0; a < d; a++) {
      const a0 = r0[a], a1 = r1[a], a2 = r2[a], a3 = r3[a], off = a * d;
      for (let b = a; b < d; b++) c[off + b] += a0 * r0[b] + a1 * r1[b] + a2 * r2[b] + a3 * r3[b];
    }
  }
  for (; i < n; i++) {
    for (let j = 0; j < d; j++) r0[j] = x.data[i * d + j] - mu[j];
    for (let a = 0; a < d; a++) {
      const ra = r0[a];
      if (ra === 0) continue;
      const off = a * d;
      for (let b = a; b < d; b++) c[off + b] += ra * r0[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = c[a * d + b] / (n - 1);
      c[a * d + b] = v;
      c[b * d + a] = v;
    }
  }
  return c;
}

/** C = A·B for square n×n row-major matrices. */
export function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      const bo = k * n, co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += aik * b[bo + j];
    }
  }
  return c;
}

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Eigenvectors as the columns of a row-major n×n matrix: vectors[i*n + k] is component i of vector k. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric matrix (only its values are read as given; it is not checked
 * for symmetry). Returns ascending eigenvalues and orthonormal eigenvectors.
 */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: expected ${n}×${n} values, got ${a.length}`);
  // V is kept column-major internally as in the reference algorithm: V[i][j] = v[i*n + j].
  const v = Float64Array.from(a);
  const d = new Float64Array(n), e = new Float64Array(n);
  tred2(v, d, e, n);
  tql2(v, d, e, n);
  return { values: d, vectors: v };
}

/**
 * The eigenvalues of a symmetric matrix, ascending, without its vectors: the same reduction and QL
 * iterations, skipping the accumulation of the transformations (about a third of the work).
 */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) throw new Error(`symmetricEigenvalues: expected ${n}×${n} values, got ${a.length}`);
  const v = Float64Array.from(a);
  const d = new Float64Array(n), e = new Float64Array(n);
  tred2(v, d, e, n, false);
  tql2(v, d, e, n, false);
  return d;
}

/** Householder reduction to tridiagonal form; v becomes the accumulated transformation. */
function tred2(V: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors = true): void {
  for (let j = 0; j < n; j++) d[j] = V[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0, h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j * n + i] = f;
        g = e[j] + V[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k * n + j] * d[k];
          e[k] += V[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k * n + j] -= f * e[k] + g * d[k];
        d[j] = V[(i - 1) * n + j];
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  if (!vectors) {
    // The diagonal the accumulation below would restore, read directly.
    for (let j = 0; j < n; j++) d[j] = V[j * n + j];
    e[0] = 0;
    return;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[(n - 1) * n + i] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k * n + i + 1] * V[k * n + j];
        for (let k = 0; k <= i; k++) V[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[(n - 1) * n + j];
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL iterations on the tridiagonal (d, e), accumulating into V; sorts ascending. */
function tql2(V: Float64Array, d: Float64Array, e: Float64Array, n: number, vectors = true): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0, tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 100) throw new Error('symmetricEigen: QL iteration did not converge (non-finite input?)');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = c, c3 = c;
        const el1 = e[l + 1];
        let s = 0, s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (vectors) for (let k = 0; k < n; k++) {
            const vk1 = V[k * n + i + 1], vk = V[k * n + i];
            V[k * n + i + 1] = s * vk + c * vk1;
            V[k * n + i] = c * vk - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  // Selection sort of eigenvalues (and vectors) into ascending order.
  for (let i = 0; i < n - 1; i++) {
    let k = i, p = d[i];
    for (let j = i + 1; j < n; j++) if (d[j] < p) { k = j; p = d[j]; }
    if (k !== i) {
      d[k] = d[i];
      d[i] = p;
      if (vectors) for (let j = 0; j < n; j++) {
        const t = V[j * n + i];
        V[j * n + i] = V[j * n + k];
        V[j * n + k] = t;
      }
    }
  }
}

/** Squared Euclidean distances between the rows of a (n×d) and b (m×d), n×m row-major. */
export function pairwiseSqDist(a: Matrix, b: Matrix): Float64Array {
  if (a.cols !== b.cols) throw new Error(`pairwiseSqDist: feature dimensions differ (${a.cols} vs ${b.cols})`);
  const d = a.cols, out = new Float64Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++) {
    const ao = i * d;
    for (let j = 0; j < b.rows; j++) {
      const bo = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) {
        const t = a.data[ao + k] - b.data[bo + k];
        s += t * t;
      }
      out[i * b.rows + j] = s;
    }
  }
  return out;
}

/** Solves a small dense system A·x = b (Gaussian elimination with partial pivoting). */
export function solveLinear(A: number[][], b: number[]): number[] {
  const n = b.length, M = A.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (M[c][c] === 0) throw new Error('solveLinear: singular system');
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}
