/**
 * The slice of the WebAssembly JS API the kernels use, typed here because the browser-safe core
 * compiles without DOM or Node type libraries (tsconfig.core.json).
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

/** The host's WebAssembly object, or null where there is none. */
export function wasmApi(): WasmApi | null {
  const w = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return w !== undefined && typeof w.validate === 'function' ? w : null;
}

/** Decodes standard base64 (the embedded modules) without atob or Buffer. */
export function decodeBase64(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = new Uint8Array(128);
  for (let i = 0; i < alphabet.length; i++) value[alphabet.charCodeAt(i)] = i;
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0, acc = 0, o = 0;
  for (let i = 0; i < clean.length; i++) {
    acc = (acc << 6) | value[clean.charCodeAt(i)]!;
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
  }
  return out;
}

/**
 * A minimal module using one f32x4 instruction (f32x4.splat of 0 in a function returning v128):
 * `WebAssembly.validate` accepts it exactly where WebAssembly SIMD is supported.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0b, 0x01, 0x09, 0x00, 0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13, 0x0b, // f32.const 0; f32x4.splat; end
]);

export function simdSupported(): boolean {
  const w = wasmApi();
  if (w === null) return false;
  try { return w.validate(SIMD_PROBE); } catch { return false; }
}
