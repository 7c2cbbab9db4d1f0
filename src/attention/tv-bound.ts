/**
 * Certified total-variation bound between exact and used softmax weights (docs/paper.md):
 * with W = Σ_used e^{s_j} and U ≥ Σ_skipped e^{s_j},  δ = W_T / (W_S + W_T) ≤ U / (W + U).
 * Both masses come relative to their own reference logit, so nothing overflows however far the
 * bounds are from the scores:  W = w·e^{m},  U = u·e^{m0}.
 */

/** Relative slack that absorbs the float64 rounding of the exp / log / sum evaluations. */
const ROUNDING_SLACK = 1 + 1e-9;

/** U / (W + U) for W = w·e^m and U = u·e^{m0} (w, u ≥ 0), rounded up; 1 when nothing was used. */
export function tvBound(w: number, m: number, u: number, m0: number): number {
  if (u <= 0) return 0;
  if (w <= 0) return 1;
  // δ = 1 / (1 + e^x) with x = ln(W/U); evaluated on the side that cannot overflow.
  const x = Math.log(w) + m - Math.log(u) - m0;
  const delta = x > 0 ? Math.exp(-x) / (1 + Math.exp(-x)) : 1 / (1 + Math.exp(x));
  return Math.min(1, delta * ROUNDING_SLACK);
}

/**
 * Skipped keys far below the used mass are counted at a floor instead of being exponentiated:
 * terms under e^{cut} (relative to m0), cut = 40 nats below the largest used logit m, count as
 * e^{cut} — an over-estimate, so still certified, by at most n·e^{−40} of W.
 */
export function massCut(m: number, m0: number): number {
  return Math.max(m - m0 - 40, -700);
}
