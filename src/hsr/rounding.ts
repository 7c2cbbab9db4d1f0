/**
 * Rounding margins for certified bounds. Every bound in this folder must hold both for the exact
 * real dot product and for its float64 evaluation `dotRow` (what `query` compares with the offset),
 * so each bound adds a margin covering float64 rounding.
 *
 * Standard model (Higham, ch. 3): a sum of d float64 products, in any order (several accumulators
 * included), has |error| ≤ γ_d·Σ|a_j·p_j| ≤ γ_d·‖a‖·‖p‖ with γ_d = d·u/(1 − d·u), u = 2⁻⁵³. Inputs are
 * float32, so products of two floats (or of a float and an int8) never underflow to where the model
 * breaks (≥ 1e-90 ≫ 1e-308) and never overflow (≤ 1e77).
 *
 * We use `roundingSlack(d) = (d + 16)·2⁻⁵⁰`, i.e. 16·γ_{d+16}: a generous cover for γ_d of the dot
 * itself plus the handful of extra roundings each bound adds (norms, one multiply, one add). It is
 * ~1e-13 relative at d = 128, invisible next to the errors the bounds are built from (quantisation
 * ~1e-2, ball radii), so the generosity costs no pruning.
 */
export function roundingSlack(dim: number): number {
  return (dim + 16) * 2 ** -50;
}

/** ‖a‖ rounded up: an upper bound of the exact Euclidean norm of a float32 vector. */
export function normUp(a: Float32Array, slack: number): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]! * a[j]!;
  return Math.sqrt(s) * (1 + slack);
}
