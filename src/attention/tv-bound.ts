/**
 * Certified total-variation bound between exact and used softmax weights (PAPER.md):
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
 * Sums upper bounds on skipped weights relative to m0 (every logit bound ≤ m0). Terms far below
 * the used mass (more than 40 nats under the largest used logit m) are counted at that floor
 * instead of being exponentiated: an over-estimate, so still certified, by at most n·e^{−40} of W.
 */
export class SkippedMass {
  total = 0;
  private cut = 0;
  private floorTerm = 0;

  /** Starts a sum relative to m0 for a row whose largest used logit is m. */
  reset(m: number, m0: number): this {
    this.total = 0;
    this.cut = Math.max(m - m0 - 40, -700);
    this.floorTerm = Math.exp(this.cut);
    return this;
  }

  /** Adds a key whose logit is at most `bound`. */
  add(bound: number, m0: number): void {
    const e = bound - m0;
    this.total += e < this.cut ? this.floorTerm : Math.exp(e);
  }
}
