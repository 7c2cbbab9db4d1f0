/**
 * IEEE half precision (F16) and bfloat16 (BF16) ↔ float32, as stored in checkpoints.
 * Both are decoded exactly (every F16/BF16 value is a float32 value); encoding rounds to nearest, ties to even.
 */

let f16Table: Float32Array | null = null;

/** The float32 value of every F16 bit pattern, built once on first use (256 KiB). */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToNumber(h);
  return (f16Table = t);
}

/** One F16 bit pattern as a number (the readable definition the table is built from). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;                  // zero and subnormals
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decodes `src.length` F16 values into `out` (same length). */
export function decodeF16(src: Uint16Array, out: Float32Array): void {
  const t = f16ToF32Table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
}

/** Decodes `src.length` BF16 values into `out`: a BF16 is the top half of a float32's bits. */
export function decodeBF16(src: Uint16Array, out: Float32Array): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The F16 bit pattern nearest to `x` (ties to even; overflow → ±Infinity; NaN → quiet NaN). */
export function numberToF16Bits(x: number): number {
  scratch[0] = x;
  const f = scratchBits[0]!;
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;                                       // rounds to ±0
    const m = mant | 0x800000;                                      // implicit leading 1
    const shift = 14 - e;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;           // may carry into the exponent: correct
  return sign | h;
}

/**
 * `src` as F16 bit patterns into `out` (same length), each as {@link numberToF16Bits} gives it: the
 * normal halves whose rounding cannot overflow (2⁻¹⁴ ≤ |x| < 2¹⁵, nearly every key and value) from
 * the float32 bits directly — a per-element call is most of a long f16 cache's append time.
 */
export function encodeF16(src: Float32Array, out: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const f = bits[i]!, e = (f >>> 23) & 0xff;
    if (e >= 113 && e <= 141) {
      // Ties to even at bit 13 (a carry into the exponent is right); rebias 127 → 15.
      const r = (f + 0xfff + ((f >>> 13) & 1)) & 0x7fffffff;
      out[i] = ((f >>> 16) & 0x8000) | ((r >>> 13) - (112 << 10));
    } else {
      out[i] = numberToF16Bits(src[i]!);
    }
  }
}

/** The BF16 bit pattern nearest to `x` (ties to even). */
export function numberToBF16Bits(x: number): number {
  scratch[0] = x;
  const f = scratchBits[0]!;
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff)) return (f >>> 16) | 0x40;  // keep NaN a NaN
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}
