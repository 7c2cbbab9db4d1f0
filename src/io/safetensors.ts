/**
 * safetensors reader and writer on bytes (browser-safe; file access is in src/node/checkpoint.ts).
 *
 * Format: 8-byte little-endian u64 N, then N bytes of JSON header
 *   { "__metadata__"?: {string: string}, NAME: { dtype, shape: [..], data_offsets: [begin, end] }, ... }
 * then the data buffer; offsets are relative to the start of the data buffer, tensors are row-major.
 * Every header claim is checked against the bytes actually present before anything is allocated,
 * so a malformed file gives an HsrError ('MALFORMED_FILE' or 'BAD_DTYPE'), never a crash or a huge allocation.
 */
import { HsrError } from '../errors.js';
import { decodeBF16, decodeF16, numberToBF16Bits, numberToF16Bits } from '../tensor/half.js';
import { describe } from '../tensor/matrix.js';
import { alignedView, assertLittleEndianHost, utf8Decode, utf8Encode } from './bytes.js';

/** Element types of the format and their sizes in bytes. */
export const SAFETENSORS_DTYPES = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** Where one tensor lives in the file. `byteOffset` is absolute (from the start of the file). */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** A tensor decoded to float32, row-major. */
export interface Float32Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** Read access to named tensors: one safetensors file or a sharded checkpoint. */
export interface TensorSource {
  names(): string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The tensor's stored bytes (a view, no copy). */
  raw(name: string): Uint8Array;
  /** The tensor decoded to float32 (floats exactly, integers ≤ 32 bits by value). */
  float32(name: string): Float32Tensor;
}

/** Largest header the reference implementation accepts; bigger is certainly not a real checkpoint. */
const MAX_HEADER_BYTES = 100_000_000;

/** Reads `length` bytes of the file at absolute byte `offset` (a view of bytes in memory, or a file read). */
export type ByteReader = (offset: number, length: number) => Uint8Array;

/**
 * The header's byte length from the file's first 8 bytes, checked against the file size: the
 * JSON header is bytes [8, 8 + length). Read this first, then the header, then tensors as needed.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileSize: number, what = 'safetensors'): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected at least 8 bytes (header length), got ${Math.min(fileSize, first8.length)}`);
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const available = fileSize - 8;
  if (hi !== 0 || lo > available || lo > MAX_HEADER_BYTES) {
    throw new HsrError('MALFORMED_FILE',
      `${what}: expected a header length ≤ ${Math.min(available, MAX_HEADER_BYTES)} bytes, got ${hi * 2 ** 32 + lo}`);
  }
  return lo;
}

export class SafetensorsFile implements TensorSource {
  private constructor(
    private readonly read: ByteReader,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {}

  /** Parses and validates `bytes`, a whole file in memory (kept, not copied). `what` names the file in error messages. */
  static parse(bytes: Uint8Array, what = 'safetensors'): SafetensorsFile {
    if (!(bytes instanceof Uint8Array)) {
      throw new HsrError('BAD_DTYPE', `${what}: expected a Uint8Array, got ${describe(bytes)}`);
    }
    const n = safetensorsHeaderLength(bytes, bytes.length, what);
    return SafetensorsFile.fromHeader(bytes.subarray(8, 8 + n), bytes.length, (o, l) => bytes.subarray(o, o + l), what);
  }

  /**
   * A file known by its header alone (the JSON bytes after the length field) and its size; tensor
   * bytes are fetched through `read` only when asked for. Every header claim is checked against
   * `fileSize` here, so nothing is read or allocated for a file whose header lies.
   */
  static fromHeader(header: Uint8Array, fileSize: number, read: ByteReader, what = 'safetensors'): SafetensorsFile {
    const headerEnd = 8 + header.length;
    let json: unknown;
    try {
      json = JSON.parse(utf8Decode(header));
    } catch (e) {
      throw new HsrError('MALFORMED_FILE', `${what}: expected a UTF-8 JSON header, got ${(e as Error).message}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new HsrError('MALFORMED_FILE', `${what}: expected the header to be a JSON object, got ${describe(json)}`);
    }
    const dataLength = fileSize - headerEnd;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') metadata = parseMetadata(entry, what);
      else tensors.set(name, parseEntry(name, entry, headerEnd, dataLength, what));
    }
    assertNoOverlap([...tensors.values()], what);
    return new SafetensorsFile(read, metadata, tensors);
  }

  names(): string[] { return [...this.tensors.keys()]; }
  has(name: string): boolean { return this.tensors.has(name); }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new HsrError('NOT_FOUND', `safetensors: expected a tensor named ${JSON.stringify(name)}, got none (have ${this.tensors.size})`);
    return t;
  }

  /** The tensor's stored bytes: a view when the file is in memory, else read now. */
  raw(name: string): Uint8Array {
    const t = this.info(name);
    return this.read(t.byteOffset, t.byteLength);
  }

  float32(name: string): Float32Tensor {
    const t = this.info(name);
    return { data: decodeToFloat32(t.dtype, this.raw(name), name), shape: t.shape };
  }
}

/** Element count of a shape (1 for a scalar []). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Decodes stored little-endian elements of `dtype` into a new Float32Array. */
export function decodeToFloat32(dtype: SafetensorsDtype, raw: Uint8Array, name: string): Float32Array {
  assertLittleEndianHost();
  const size = SAFETENSORS_DTYPES[dtype];
  const n = raw.length / size;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32': out.set(alignedView(raw, Float32Array)); break;
    case 'F64': out.set(alignedView(raw, Float64Array)); break;
    case 'F16': decodeF16(alignedView(raw, Uint16Array), out); break;
    case 'BF16': decodeBF16(alignedView(raw, Uint16Array), out); break;
    case 'I32': out.set(alignedView(raw, Int32Array)); break;
    case 'U32': out.set(alignedView(raw, Uint32Array)); break;
    case 'I16': out.set(alignedView(raw, Int16Array)); break;
    case 'U16': out.set(alignedView(raw, Uint16Array)); break;
    case 'I8': out.set(new Int8Array(raw.buffer, raw.byteOffset, n)); break;
    case 'U8': case 'BOOL': out.set(raw); break;
    default:
      throw new HsrError('BAD_DTYPE',
        `safetensors: expected ${name} to be F32, F64, F16, BF16 or an integer type of ≤ 32 bits to convert to float32, got ${dtype} (use raw())`);
  }
  return out;
}

function parseMetadata(entry: unknown, what: string): Record<string, string> {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)
      || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected __metadata__ to map strings to strings, got ${JSON.stringify(entry)?.slice(0, 200)}`);
  }
  return entry as Record<string, string>;
}

function parseEntry(name: string, entry: unknown, headerEnd: number, dataLength: number, what: string): TensorInfo {
  const where = `${what}: tensor ${JSON.stringify(name)}`;
  if (entry === null || typeof entry !== 'object') {
    throw new HsrError('MALFORMED_FILE', `${where}: expected { dtype, shape, data_offsets }, got ${describe(entry)}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
    throw new HsrError('BAD_DTYPE', `${where}: expected dtype one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')}, got ${describe(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    throw new HsrError('MALFORMED_FILE', `${where}: expected shape to be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
      || offsets[0] > offsets[1] || offsets[1] > dataLength) {
    throw new HsrError('MALFORMED_FILE',
      `${where}: expected data_offsets [begin, end] with 0 ≤ begin ≤ end ≤ ${dataLength} (the data size), got ${JSON.stringify(offsets)}`);
  }
  const byteLength = offsets[1] - offsets[0];
  const expected = shapeSize(shape) * SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
  if (expected !== byteLength) {
    throw new HsrError('MALFORMED_FILE',
      `${where}: expected ${expected} bytes for ${dtype} [${shape.join(', ')}], got data_offsets spanning ${byteLength}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], byteOffset: headerEnd + offsets[0], byteLength };
}

function assertNoOverlap(infos: TensorInfo[], what: string): void {
  const sorted = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.byteOffset < prev.byteOffset + prev.byteLength) {
      throw new HsrError('MALFORMED_FILE',
        `${what}: expected tensors not to overlap, got ${JSON.stringify(prev.name)} and ${JSON.stringify(cur.name)} sharing bytes`);
    }
  }
}

/** A tensor to write: float32 data encoded as `dtype` (F32, F16 or BF16), or raw little-endian bytes. */
export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: Float32Array | Uint8Array;
}

/** Encodes tensors (in the given order) as a safetensors file. */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const encoded = Object.entries(tensors).map(([name, t]) => [name, t, encodeData(name, t)] as const);
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t, bytes] of encoded) {
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = utf8Encode(JSON.stringify(header));
  const head = new Uint8Array(json.length + (8 - ((8 + json.length) % 8)) % 8).fill(0x20);  // space-pad: data 8-aligned
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [, , bytes] of encoded) { out.set(bytes, at); at += bytes.length; }
  return out;
}

function encodeData(name: string, t: TensorToWrite): Uint8Array {
  const n = shapeSize(t.shape);
  if (t.data instanceof Uint8Array) {
    if (t.data.length !== n * SAFETENSORS_DTYPES[t.dtype]) {
      throw new HsrError('SHAPE_MISMATCH', `encodeSafetensors ${name}: expected ${n * SAFETENSORS_DTYPES[t.dtype]} bytes, got ${t.data.length}`);
    }
    return t.data;
  }
  if (t.data.length !== n) {
    throw new HsrError('SHAPE_MISMATCH', `encodeSafetensors ${name}: expected ${n} values for [${t.shape.join(', ')}], got ${t.data.length}`);
  }
  return encodeFloat32(t.data, t.dtype, `encodeSafetensors ${name}`);
}

/** float32 values → little-endian bytes of a float dtype (F32, F64, F16, BF16). */
export function encodeFloat32(data: Float32Array, dtype: string, where: string): Uint8Array {
  assertLittleEndianHost();
  switch (dtype) {
    case 'F32': return new Uint8Array(data.slice().buffer);
    case 'F64': return new Uint8Array(Float64Array.from(data).buffer);
    case 'F16': return new Uint8Array(Uint16Array.from(data, numberToF16Bits).buffer);
    case 'BF16': return new Uint8Array(Uint16Array.from(data, numberToBF16Bits).buffer);
    default: throw new HsrError('BAD_DTYPE', `${where}: expected F32, F64, F16 or BF16 for float data, got ${dtype}`);
  }
}
