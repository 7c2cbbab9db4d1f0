/**
 * NumPy .npy reader and writer on bytes (browser-safe), format versions 1.0–3.0:
 *   "\x93NUMPY", major, minor, header length (u16 LE in v1, u32 LE in v2/v3),
 *   header: a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 *   padded with spaces and '\n' so the data starts at a multiple of 64 bytes; then the data, C order.
 * Fortran-order arrays are refused with a clear error rather than silently transposed.
 */
import { HsrError } from '../errors.js';
import { decodeF16, numberToF16Bits } from '../tensor/half.js';
import { describe } from '../tensor/matrix.js';
import { alignedView, assertLittleEndianHost, utf8Decode } from './bytes.js';
import { shapeSize } from './safetensors.js';

/** Element types read and written, as NumPy's dtype.str without the byte-order character. */
export type NpyDtype = 'f2' | 'f4' | 'f8' | 'i1' | 'u1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8' | 'u8' | 'b1';
const SIZES: Record<NpyDtype, number> = { f2: 2, f4: 4, f8: 8, i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8, u8: 8, b1: 1 };

export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface NpyArray {
  /** The stored element type ('f2' is decoded to float32 data; 'i8'/'u8' to float64, exact below 2^53). */
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER_BYTES = 1 << 20;

/** Parses a .npy file. Data is copied out of `bytes` (the result does not alias the input). */
export function parseNpy(bytes: Uint8Array, what = 'npy'): NpyArray {
  if (!(bytes instanceof Uint8Array)) throw new HsrError('BAD_DTYPE', `${what}: expected a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected the magic "\\x93NUMPY" and a version, got ${bytes.length < 10 ? `${bytes.length} bytes` : 'other bytes'}`);
  }
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new HsrError('MALFORMED_FILE', `${what}: expected format version 1, 2 or 3, got ${major}.${bytes[7]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new HsrError('MALFORMED_FILE', `${what}: expected a header length field, got a truncated file`);
  const headerLength = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  const dataStart = headerStart + headerLength;
  if (headerLength > MAX_HEADER_BYTES || dataStart > bytes.length) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected a header of ≤ ${bytes.length - headerStart} bytes, got a header length of ${headerLength}`);
  }
  let header: string;
  try {
    header = utf8Decode(bytes.subarray(headerStart, dataStart));
  } catch {
    throw new HsrError('MALFORMED_FILE', `${what}: expected a text header, got invalid UTF-8`);
  }
  const { descr, fortran, shape } = parseHeader(header, what);
  const order = descr[0]!;
  const dtype = descr.slice(1) as NpyDtype;
  if (!'<>|='.includes(order) || !Object.hasOwn(SIZES, dtype)) {
    throw new HsrError('BAD_DTYPE', `${what}: expected descr like '<f4', '<f8', '<f2', '|u1', '<i4', got ${JSON.stringify(descr)}`);
  }
  if (fortran) {
    throw new HsrError('UNSUPPORTED', `${what}: expected a C-order array (fortran_order: False), got fortran_order: True; save it with numpy.ascontiguousarray first`);
  }
  const size = SIZES[dtype];
  const byteLength = shapeSize(shape) * size;
  if (byteLength !== bytes.length - dataStart) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected ${byteLength} data bytes for ${descr} (${shape.join(', ')}), got ${bytes.length - dataStart}`);
  }
  const raw = bytes.slice(dataStart);
  if (order === '>' && size > 1) swapBytes(raw, size);               // now little-endian
  return { dtype, shape, data: decode(dtype, raw) };
}

function decode(dtype: NpyDtype, raw: Uint8Array): NpyData {
  assertLittleEndianHost();
  switch (dtype) {
    case 'f2': { const out = new Float32Array(raw.length / 2); decodeF16(alignedView(raw, Uint16Array), out); return out; }
    case 'f4': return alignedView(raw, Float32Array);
    case 'f8': return alignedView(raw, Float64Array);
    case 'i1': return new Int8Array(raw.buffer, raw.byteOffset, raw.length);
    case 'u1': case 'b1': return raw;
    case 'i2': return alignedView(raw, Int16Array);
    case 'u2': return alignedView(raw, Uint16Array);
    case 'i4': return alignedView(raw, Int32Array);
    case 'u4': return alignedView(raw, Uint32Array);
    case 'i8': return Float64Array.from(alignedView(raw, BigInt64Array), Number);
    case 'u8': return Float64Array.from(alignedView(raw, BigUint64Array), Number);
  }
}

function swapBytes(raw: Uint8Array, size: number): void {
  for (let i = 0; i < raw.length; i += size) raw.subarray(i, i + size).reverse();
}

/** Reads 'descr', 'fortran_order' and 'shape' from the header's Python dict literal. */
function parseHeader(header: string, what: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected a header dict with 'descr', 'fortran_order' and 'shape', got ${JSON.stringify(header.slice(0, 200))}`);
  }
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const shape = parts.map((s) => parseInt(s, 10));
  if (!parts.every((s) => /^\d+L?$/.test(s)) || !shape.every(Number.isSafeInteger)) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected a shape of non-negative integers, got (${shapeText})`);
  }
  return { descr, fortran: fortran === 'True', shape };
}

/** Encodes a C-order array; the dtype follows the typed array ('f2' on request for float32 data). */
export function encodeNpy(data: NpyData, shape: readonly number[], options: { dtype?: 'f2' } = {}): Uint8Array {
  assertLittleEndianHost();
  if (!shape.every((s) => Number.isSafeInteger(s) && s >= 0) || shapeSize(shape) !== data.length) {
    throw new HsrError('SHAPE_MISMATCH', `encodeNpy: expected a shape whose product is ${data.length}, got (${shape.join(', ')})`);
  }
  let dtype = dtypeOf(data);
  let body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (options.dtype === 'f2') {
    if (!(data instanceof Float32Array)) throw new HsrError('BAD_DTYPE', `encodeNpy: expected Float32Array data for dtype 'f2', got ${describe(data)}`);
    body = new Uint8Array(Uint16Array.from(data, numberToF16Bits).buffer);
    dtype = 'f2';
  }
  const order = SIZES[dtype] === 1 ? '|' : '<';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new HsrError('UNSUPPORTED', `encodeNpy: expected a header under 64 KiB, got ${header.length} bytes`);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC);
  out[6] = 1; out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return 'f4';
  if (data instanceof Float64Array) return 'f8';
  if (data instanceof Int8Array) return 'i1';
  if (data instanceof Uint8Array) return 'u1';
  if (data instanceof Int16Array) return 'i2';
  if (data instanceof Uint16Array) return 'u2';
  if (data instanceof Int32Array) return 'i4';
  if (data instanceof Uint32Array) return 'u4';
  throw new HsrError('BAD_DTYPE', `encodeNpy: expected a float or integer typed array, got ${describe(data)}`);
}

/** The array's values as float32 (a copy unless already float32). */
export function npyToFloat32(a: NpyArray): Float32Array {
  return a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
}
