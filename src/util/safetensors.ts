// safetensors files (the format of Hugging Face's `safetensors`): read and write, validated per spec.
//
// Layout: an unsigned 64-bit little-endian N; N bytes of UTF-8 JSON mapping each tensor name to
// {dtype, shape, data_offsets: [begin, end]} (offsets into the byte buffer that follows), plus an
// optional "__metadata__" object of string values; then the buffer. Tensors are little-endian,
// row-major, and together cover the buffer exactly. The header is padded with spaces to a multiple of
// 8 bytes, as the reference implementation writes it.
import fs from 'node:fs';
import { writeFileAtomic } from './fs.js';

export type SafeDtype = 'F32' | 'F64' | 'I32' | 'U8';
const BYTES: Record<SafeDtype, number> = { F32: 4, F64: 8, I32: 4, U8: 1 };

export type SafeData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  data: SafeData;
}

export class SafetensorsError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function dtypeOf(data: SafeData): SafeDtype {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Int32Array) return 'I32';
  return 'U8';
}

/** Serialises tensors (in name order) and string metadata. */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: SafeData }>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const { shape, data } = tensors[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`safetensors: tensor ${name} has shape ${JSON.stringify(shape)} (${size} values) but ${data.length} values`);
    header[name] = { dtype: dtypeOf(data), shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

export function writeSafetensors(file: string, tensors: Record<string, { shape: number[]; data: SafeData }>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Parses and validates a safetensors buffer; `file` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, file = 'safetensors'): { tensors: Record<string, SafeTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError(file, 'too short for a safetensors header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > 100_000_000 || 8 + n > bytes.length) throw new SafetensorsError(file, `header length ${n} exceeds the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(file, `header must be a JSON object of tensors, got ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}`);
  const bufStart = 8 + n, bufLen = bytes.length - bufStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new SafetensorsError(file, '__metadata__ must be an object of strings');
  for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__.${k} must be a string`);
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
  const tensors: Record<string, SafeTensor> = {};
  const spans: [number, number, string][] = [];
  const isCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  for (const [name, info] of entries) {
    if (typeof info !== 'object' || info === null) throw new SafetensorsError(file, `tensor ${name}: expected {dtype, shape, data_offsets}, got ${JSON.stringify(info)}`);
    if (!Array.isArray(info.shape) || !info.shape.every(isCount)) throw new SafetensorsError(file, `tensor ${name}: shape must be an array of non-negative integers, got ${JSON.stringify(info.shape)}`);
    if (!Array.isArray(info.data_offsets) || info.data_offsets.length !== 2 || !info.data_offsets.every(isCount)) {
      throw new SafetensorsError(file, `tensor ${name}: data_offsets must be two non-negative integers [begin, end], got ${JSON.stringify(info.data_offsets)}`);
    }
    const dtype = info.dtype as SafeDtype;
    if (!(dtype in BYTES)) throw new SafetensorsError(file, `tensor ${name}: dtype ${info.dtype} is not supported; expected F32, F64, I32 or U8`);
    const [b, e] = info.data_offsets;
    const size = info.shape.reduce((a, c) => a * c, 1);
    if (e - b !== size * BYTES[dtype]) throw new SafetensorsError(file, `tensor ${name}: offsets span ${e - b} bytes, shape ${JSON.stringify(info.shape)} needs ${size * BYTES[dtype]}`);
    if (b < 0 || e > bufLen) throw new SafetensorsError(file, `tensor ${name}: offsets [${b}, ${e}] lie outside the ${bufLen}-byte buffer`);
    spans.push([b, e, name]);
    const raw = bytes.slice(bufStart + b, bufStart + e).buffer;
    const data = dtype === 'F32' ? new Float32Array(raw) : dtype === 'F64' ? new Float64Array(raw) : dtype === 'I32' ? new Int32Array(raw) : new Uint8Array(raw);
    tensors[name] = { dtype, shape: info.shape, data };
  }
  // The tensors must tile the buffer: no gaps, no overlaps.
  spans.sort((p, q) => p[0] - q[0]);
  let end = 0;
  for (const [b, e, name] of spans) {
    if (b !== end) throw new SafetensorsError(file, `tensor ${name} starts at byte ${b}, expected ${end} (gap or overlap)`);
    end = e;
  }
  if (end !== bufLen) throw new SafetensorsError(file, `tensors cover ${end} of ${bufLen} buffer bytes`);
  return { tensors, metadata };
}

export function readSafetensors(file: string) {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SafetensorsError(file, `cannot read: ${(e as Error).message}`);
  }
  return decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}
