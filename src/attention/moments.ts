/**
 * Running mean and covariance of the keys (Welford, float64), so the paper's threshold
 * μ + σ·√(0.4·ln n) can be set per query without scoring every key:
 *   μ  = ⟨q, mean⟩            σ² = qᵀ Σ q        (unscaled dot products; multiply by scale)
 * Adding a key costs O(d²); a query O(d²) — independent of the number of keys.
 */
export class KeyMoments {
  count = 0;
  /** Mean key, [dim]. */
  readonly mean: Float64Array;
  /** Co-moment Σ_i (k_i − mean)(k_i − mean)ᵀ, upper triangle row-major: entry (a, b≥a) at a·dim + b. */
  private readonly co: Float64Array;
  /** k − mean before the update, [dim] (scratch). */
  private readonly delta: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.co = new Float64Array(dim * dim);
    this.delta = new Float64Array(dim);
  }

  /** Adds row `row` of the row-major `points` ([≥ row+1, dim]). */
  add(points: Float32Array, row: number): void {
    const d = this.dim, base = row * d, mean = this.mean, co = this.co, delta = this.delta;
    const n = ++this.count;
    for (let a = 0; a < d; a++) {
      const x = points[base + a]!;
      delta[a] = x - mean[a]!;
      mean[a]! += delta[a]! / n;
    }
    // co += delta ⊗ (x − mean_new): the standard Welford co-moment update.
    for (let a = 0; a < d; a++) {
      const da = delta[a]!;
      if (da === 0) continue;
      const o = a * d;
      for (let b = a; b < d; b++) co[o + b]! += da * (points[base + b]! - mean[b]!);
    }
  }

  /** ⟨q, mean⟩ (0 when empty). */
  meanDot(q: Float32Array): number {
    let s = 0;
    for (let a = 0; a < this.dim; a++) s += q[a]! * this.mean[a]!;
    return s;
  }

  /** qᵀ Σ q with Σ the population covariance (0 when fewer than two keys). */
  varianceDot(q: Float32Array): number {
    if (this.count < 2) return 0;
    const d = this.dim, co = this.co;
    let s = 0;
    for (let a = 0; a < d; a++) {
      const qa = q[a]!, o = a * d;
      let row = 0;
      for (let b = a + 1; b < d; b++) row += q[b]! * co[o + b]!;
      s += qa * (qa * co[o + a]! + 2 * row);
    }
    return Math.max(0, s / this.count);
  }
}
