/**
 * Exact arithmetic for checking certified bounds: float values and dot products of float32 vectors
 * as integers scaled by 2^SCALE (BigInt). Every float32 product and every float64 (subnormals
 * included) is an integer multiple of 2^-SCALE, so nothing is rounded.
 */
const SCALE = 1200n;
const view = new DataView(new ArrayBuffer(8));

/** x = mantissa·2^exponent exactly. */
function split(x: number): { mantissa: bigint; exponent: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0), lo = view.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased !== 0) mantissa |= 1n << 52n;
  if (hi >>> 31) mantissa = -mantissa;
  return { mantissa, exponent: biased === 0 ? -1074 : biased - 1075 };
}

/** x·2^SCALE as an exact BigInt (x a finite float64). */
export function scaled(x: number): bigint {
  const { mantissa, exponent } = split(x);
  return mantissa << (BigInt(exponent) + SCALE);
}

/** ⟨a, points[row]⟩·2^SCALE exactly (a and the points float32). */
export function exactDotScaled(a: Float32Array, points: Float32Array, row: number, dim: number): bigint {
  let s = 0n;
  for (let j = 0; j < dim; j++) {
    const x = split(a[j]!), y = split(points[row * dim + j]!);
    if (x.mantissa === 0n || y.mantissa === 0n) continue;
    s += (x.mantissa * y.mantissa) << (BigInt(x.exponent + y.exponent) + SCALE);
  }
  return s;
}
