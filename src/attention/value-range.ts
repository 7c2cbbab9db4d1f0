import { HsrError } from '../errors.js';
import type { Weighting } from '../kernels/types.js';

/**
 * The largest keys·max|v| attention accepts: half of float32's largest value (2^127 ≈ 1.7e38).
 * Every backend (js, wasm, webgpu) accumulates Σ_j w_j·v_j in float32 with weights scaled to at
 * most about 1 (softmax e^{s − max}; ReLU^α relative to a reference; DecodePool's ReLU^α rows:
 * {@link reluKernelWeightMax}) and divides by Σ_j w_j only
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

/**
 * The largest weight a ReLU^α row of the kernels' dense decode (DenseDecoder, hence DecodePool)
 * holds before its division: t^α itself while t^α lies within 2^±64 (the state's reference stays 0:
 * kernels/js/js-kernels.ts reluReference), else relative to the block's largest (≤ 1); t =
 * scale·⟨q,k⟩ − bias ≤ scale·‖q‖·max‖k‖ − bias. KVCache and attention() weigh ReLU^α rows ≤ about 1.
 */
export function reluKernelWeightMax(w: Weighting, qNorm: number, keyNormMax: number): number {
  const t = w.scale * qNorm * keyNormMax - w.bias;
  return t > 1 ? Math.min(2 ** 64, t ** w.alpha) : 1;
}

/**
 * Throws UNSUPPORTED when n keys whose values have |v| ≤ valueAbsMax, weighed by at most
 * weightMax (1 but for {@link reluKernelWeightMax}), could overflow the float32 weighted sum.
 */
export function assertValueSumFits(n: number, valueAbsMax: number, where: string, weightMax = 1): void {
  if (n * valueAbsMax * weightMax >= VALUE_SUM_LIMIT) {
    const weights = weightMax === 1 ? '' : ` × ReLU^α weights up to ${weightMax}`;
    throw new HsrError('UNSUPPORTED', `${where}: expected keys·max|v|${weightMax === 1 ? '' : '·max weight'} < 2^127 ≈ 1.7e38 (the float32 weighted sum of `
      + `the values, before its division), got ${n} keys × max|v| ${valueAbsMax}${weights} = ${n * valueAbsMax * weightMax}: scale the values down`);
  }
}
