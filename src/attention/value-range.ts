import { HsrError } from '../errors.js';

/**
 * The largest keys·max|v| attention accepts: half of float32's largest value (2^127 ≈ 1.7e38).
 * Every backend (js, wasm, webgpu) accumulates Σ_j w_j·v_j in float32 with weights scaled to at
 * most about 1 (softmax e^{s − max}; ReLU^α relative to a reference) and divides by Σ_j w_j only
 * at the end, so the sum before the division reaches up to n·max|v|: past float32's 3.4e38 it is
 * Infinity although the output, a convex combination of the values, is finite. The other half is
 * the margin for weights rounded past 1 and merged partial states.
 */
export const VALUE_SUM_LIMIT = 2 ** 127;

/** max(prior, |x_i|) over every element of x (finite, checked by the caller). */
export function maxAbs(x: Float32Array, prior = 0): number {
  let m = prior;
  for (let i = 0; i < x.length; i++) { const a = Math.abs(x[i]!); if (a > m) m = a; }
  return m;
}

/** Throws UNSUPPORTED when n keys whose values have |v| ≤ valueAbsMax could overflow the float32 weighted sum. */
export function assertValueSumFits(n: number, valueAbsMax: number, where: string): void {
  if (n * valueAbsMax >= VALUE_SUM_LIMIT) {
    throw new HsrError('UNSUPPORTED', `${where}: expected keys·max|v| < 2^127 ≈ 1.7e38 (the float32 weighted sum of the values, `
      + `before its division), got ${n} keys × max|v| ${valueAbsMax} = ${n * valueAbsMax}: scale the values down`);
  }
}
