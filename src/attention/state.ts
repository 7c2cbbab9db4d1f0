import { accumulateRows } from './row-kernels.js';

/**
 * A partial attention result over some subset of keys, in float64:
 *
 *   max = the reference logit (softmax: the largest logit folded in so far; ReLU: always 0)
 *   sum = Σ_j w_j · e^{−max}            acc = Σ_j w_j · e^{−max} · v_j      (acc: [valueDim])
 *
 * so the attention output over that subset is acc / sum. Two states over disjoint key sets merge
 * by log-sum-exp ({@link mergeStates}) into the state of their union — the one primitive behind
 * "attend to the reported keys, then add a bounded tail", splitting keys across threads, and a
 * sharded KV cache. For ReLU (weights are absolute, not relative to a maximum) `max` stays 0 and
 * the merge reduces to adding sums.
 */
export class AttentionState {
  max = -Infinity;
  sum = 0;
  /** Weighted sum of value rows, [valueDim]. */
  readonly acc: Float64Array;

  constructor(readonly valueDim: number) {
    this.acc = new Float64Array(valueDim);
  }

  /** Empties the state: softmax states start at max = −∞, ReLU states at max = 0. */
  reset(kind: 'softmax' | 'relu' = 'softmax'): this {
    this.max = kind === 'softmax' ? -Infinity : 0;
    this.sum = 0;
    this.acc.fill(0);
    return this;
  }

  /** Folds in one key with softmax logit `logit` and value row `row` of `values` (online softmax). */
  addLogit(logit: number, values: Float32Array, row: number): void {
    const dv = this.valueDim, acc = this.acc;
    if (logit > this.max) {
      // Rescale what we have so far to the new maximum (exp(−∞) = 0 covers the empty state).
      const f = Math.exp(this.max - logit);
      this.sum *= f;
      for (let c = 0; c < dv; c++) acc[c]! *= f;
      this.max = logit;
    }
    this.addWeight(Math.exp(logit - this.max), values, row);
  }

  /** Folds in one key with weight `w` (already relative to `max`) and value row `row` of `values`. */
  addWeight(w: number, values: Float32Array, row: number): void {
    const dv = this.valueDim, acc = this.acc, base = row * dv;
    this.sum += w;
    for (let c = 0; c < dv; c++) acc[c]! += w * values[base + c]!;
  }

  /**
   * Folds in `count` keys at once: weight `w[p]` (already relative to `max`) and value row
   * `rows[p]` of `values` (four rows per sweep over acc: row-kernels.ts).
   */
  addWeights(w: Float64Array, rows: Uint32Array, count: number, values: Float32Array): void {
    this.sum += accumulateRows(this.acc, w, rows, count, values, this.valueDim);
  }

  /** Writes acc / sum (float32) to out[offset ..]; zeros when no key carried weight. */
  finish(out: Float32Array, offset: number): void {
    const inv = this.sum > 0 ? 1 / this.sum : 0;
    for (let c = 0; c < this.valueDim; c++) out[offset + c] = this.acc[c]! * inv;
  }

  /** log(Σ_j w_j): the state's total weight in log space (−∞ when empty). */
  logSum(): number {
    return this.sum > 0 ? Math.log(this.sum) + this.max : -Infinity;
  }
}

/**
 * Log-sum-exp merge: `out` becomes the state of the union of a's and b's (disjoint) key sets.
 * `out` may be `a` or `b`. Both states must have the same valueDim.
 */
export function mergeStates(a: AttentionState, b: AttentionState, out: AttentionState = a): AttentionState {
  const m = Math.max(a.max, b.max);
  // An empty side contributes nothing (and may carry max = −∞: avoid ∞ − ∞).
  const fa = a.sum > 0 ? Math.exp(a.max - m) : 0;
  const fb = b.sum > 0 ? Math.exp(b.max - m) : 0;
  for (let c = 0; c < out.valueDim; c++) out.acc[c] = a.acc[c]! * fa + b.acc[c]! * fb;
  out.sum = a.sum * fa + b.sum * fb;
  out.max = m;
  return out;
}
