// NumPy .npy files (format version 1.0): little-endian float32/float64/int32/uint8, C order.
//
// Layout (numpy/lib/format.py): the magic "\x93NUMPY", major 1, minor 0, a uint16 LE header length,
// then an ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), } padded with spaces
// and ended by '\n' so that the data starts at a multiple of 64 bytes; then the raw array.
import fs from 'node:fs';
import { writeFileAtomic } from './fs.js';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'uint8';

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', uint8: '|u1' };
const FROM_DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '|u1': 'uint8', '<u1': 'uint8' };
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

export class NpyError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'NpyError';
  }
}

function dtypeOf(data: NpyArray['data']): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
}

/** Serialises an array as .npy v1.0 bytes. */
export function encodeNpy(data: NpyArray['data'], shape: number[]): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`npy: shape ${JSON.stringify(shape)} holds ${size} values, data has ${data.length}`);
  const dtype = dtypeOf(data);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  // Typed arrays are little-endian on every platform Node runs on (x86, ARM).
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function writeNpy(file: string, data: NpyArray['data'], shape: number[]): void {
  writeFileAtomic(file, encodeNpy(data, shape));
}

/** Parses .npy bytes (versions 1.0, 2.0 and 3.0 headers); `file` names the source in errors. */
export function decodeNpy(bytes: Uint8Array, file = 'npy'): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) throw new NpyError(file, 'not a NumPy .npy file (bad magic string)');
  const major = bytes[6];
  if (![1, 2, 3].includes(major)) throw new NpyError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  if (major > 1 && bytes.length < 12) throw new NpyError(file, `truncated: a version ${major} header needs 12 bytes before it, the file has ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [hlen, hstart] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  if (hstart + hlen > bytes.length) throw new NpyError(file, `truncated: the header claims ${hlen} bytes, the file has ${bytes.length - hstart} after its length field`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(hstart, hstart + hlen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new NpyError(file, `cannot parse the header ${JSON.stringify(header.trim())}`);
  const dtype = FROM_DESCR[descr];
  if (!dtype) throw new NpyError(file, `dtype '${descr}' is not supported; expected one of <f4 (float32), <f8 (float64), <i4 (int32), |u1 (uint8)`);
  if (fortran === 'True') throw new NpyError(file, 'Fortran-ordered arrays are not supported; save with np.ascontiguousarray');
  const dims = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (!dims.every((d) => /^\d+L?$/.test(d))) throw new NpyError(file, `header shape (${shapeStr}) must list non-negative integers`);
  const shape = dims.map((d) => Number(d.replace(/L$/, '')));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = hstart + hlen;
  const bytesPer = { float32: 4, float64: 8, int32: 4, uint8: 1 }[dtype];
  if (bytes.length - start < size * bytesPer) throw new NpyError(file, `truncated: shape ${JSON.stringify(shape)} needs ${size * bytesPer} data bytes, found ${bytes.length - start}`);
  // Copy into a fresh, aligned buffer.
  const raw = bytes.slice(start, start + size * bytesPer).buffer;
  const data = dtype === 'float32' ? new Float32Array(raw) : dtype === 'float64' ? new Float64Array(raw) : dtype === 'int32' ? new Int32Array(raw) : new Uint8Array(raw);
  return { dtype, shape, data };
}

export function readNpy(file: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new NpyError(file, `cannot read: ${(e as Error).message}`);
  }
  return decodeNpy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/**
 * Checks data read from a user's file before it is used: at least one row, and every value finite.
 * `where` names the file (and flag) in the one-line error.
 */
export function requireFiniteRows(a: Pick<NpyArray, 'shape' | 'data'>, where: string): void {
  if (!a.shape.length || a.shape[0] === 0 || a.data.length === 0) throw new Error(`${where}: has no rows (shape [${a.shape.join(', ')}])`);
  const per = a.data.length / a.shape[0];
  let bad = 0, first = -1;
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i])) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad) throw new Error(`${where}: ${bad} value(s) are NaN or infinite (the first in row ${Math.floor(first / per)})`);
}
