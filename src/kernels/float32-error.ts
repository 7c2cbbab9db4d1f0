/**
 * The float32 error model of the kernels — the one place it is written down — and the decision
 * built on it. Every backend computes dot products in float32 in some order (SIMD lanes, unrolled
 * accumulators, fused multiply-add or not); for any of them, for key k and query q of dimension d,
 *
 *   |s̃ − ⟨q,k⟩| ≤ G32·‖q‖·‖k‖ + d·2⁻¹⁴⁰,   G32 = (d + 8)·2⁻²² ≥ 4·γ_{d+8} in float32
 *
 * (the products, the sums and the rounding of the output; the absolute term covers subnormal
 * products). Certified margins of the quantized index's verification and of the kernel rows'
 * scores (attention/kernel-rows.ts) are this bound.
 */

/** G32 = (d + 8)·2⁻²²: the relative part of a float32 dot's error bound. */
export function float32DotRelative(dim: number): number {
  return (dim + 8) * 2 ** -22;
}

/** d·2⁻¹⁴⁰: the absolute part (subnormal products). */
export function float32DotAbsolute(dim: number): number {
  return dim * 2 ** -140;
}

/** Products of norms beyond this could overflow float32 partial sums: such rows stay in float64. */
export const FLOAT32_SAFE = 2 ** 120;

/** Whether float32 dots are safe (no overflow) for a query of norm ≤ qNorm against keys of norm ≤ keyNormMax. */
export function float32Usable(qNorm: number, keyNormMax: number): boolean {
  return qNorm * keyNormMax < FLOAT32_SAFE;
}

/**
 * Whether softmax rows for a query of norm ≤ qNorm may run in float32 (the kernel rows, the dense
 * kernels): products of norms within float32 ({@link float32Usable}), and logits bounded by
 * scale·‖q‖·max‖k‖ ≤ 2⁸. A float32 logit is rounded by up to 2⁻²⁴ of its size, so beyond that the
 * weights of a row drift from the exact softmax by more than ~1e-5 relative (the certificate would
 * still hold — the margin covers it — but the output would no longer be the softmax over the kept
 * keys to the precision the tests and users expect); such rows take the float64 path.
 */
export function float32SoftmaxSafe(qNorm: number, keyNormMax: number, scale: number): boolean {
  return float32Usable(qNorm, keyNormMax) && scale * qNorm * keyNormMax <= 2 ** 8;
}

/**
 * The "float32 value with a margin, float64 inside the band" decision. `x` is a float32 result
 * within `margin` of the exact value; the comparison exact ≥ edge is decided by x alone unless x
 * lies within the margin of the edge (widened by 1e-15·|edge|, the float64 reference's own
 * rounding of the edge). Returns true when it does not: the caller then computes the value in
 * float64 (`dotRow`, the reference's arithmetic), so the decision is always the float64 one.
 */
export function insideBand(x: number, edge: number, margin: number): boolean {
  return Math.abs(x - edge) <= margin + Math.abs(edge) * 1e-15;
}
