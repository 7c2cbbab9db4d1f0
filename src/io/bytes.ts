/** Byte-level helpers shared by the file format readers (browser-safe). */
import { HsrError } from '../errors.js';

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Typed-array views use the host's byte order; the formats read here are little-endian. */
export function assertLittleEndianHost(): void {
  if (!littleEndianHost) throw new HsrError('UNSUPPORTED', 'expected a little-endian host, got a big-endian one');
}

type ElementArray = Float64Array | Float32Array | Uint32Array | Int32Array | Uint16Array | Int16Array | BigInt64Array | BigUint64Array;
interface ElementArrayCtor<T extends ElementArray> {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): T;
}

/**
 * `raw`'s bytes as elements of `Ctor`: a view when `raw` starts at an aligned offset (no copy),
 * a view of a copy otherwise (typed arrays require aligned offsets).
 */
export function alignedView<T extends ElementArray>(raw: Uint8Array, Ctor: ElementArrayCtor<T>): T {
  const size = Ctor.BYTES_PER_ELEMENT;
  const n = Math.floor(raw.byteLength / size);
  if (raw.byteOffset % size === 0) return new Ctor(raw.buffer, raw.byteOffset, n);
  return new Ctor(raw.slice().buffer, 0, n);
}

/** TextDecoder/TextEncoder exist in every browser and Node, but not in the ES lib the core compiles against. */
const text = globalThis as unknown as {
  TextDecoder: new (label: string, options: { fatal: boolean }) => { decode(bytes: Uint8Array): string };
  TextEncoder: new () => { encode(s: string): Uint8Array };
};

/** Strict UTF-8 decoding: throws a TypeError on invalid bytes. */
export function utf8Decode(bytes: Uint8Array): string {
  return new text.TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

export function utf8Encode(s: string): Uint8Array {
  return new text.TextEncoder().encode(s);
}
