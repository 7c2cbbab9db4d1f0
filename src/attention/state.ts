import { finishState, lseMerge } from '../kernels/state.js';
import { STATE_EXTRA } from '../kernels/types.js';
import { accumulateRows } from './row-loops.js';

/**
 * A partial attention result over some subset of keys, in float64:
 *
 *   max = the reference logit (softmax: the largest logit folded in so far; ReLU: 0, or α·ln t_max
 *         where the kernels scaled weights that would leave float32's range)
 *   sum = Σ_j w_j · e^{−max}            acc = Σ_j w_j · e^{−max} · v_j      (acc: [valueDim])
 *
 * so the attention output over that subset is acc / sum. Two states over disjoint key sets merge
 * by log-sum-exp ({@link mergeStates}) into the state of their union — the one primitive behind
 * "attend to the reported keys, then add a bounded tail", splitting keys across threads, and a
 * sharded KV cache. For ReLU states at max = 0 (absolute weights) the merge reduces to adding
 * sums. The numbers live in `data`, packed as the kernels' states (`[acc, max, sum]`,
 * kernels/types.ts), so one merge (kernels/state.ts `lseMerge`) serves both.
 */
export class AttentionState {
  /** `[acc_0 .. acc_{valueDim−1}, max, sum]`. */
  readonly data: Float64Array;
  /** Weighted sum of value rows, [valueDim] (a view of `data`). */
  readonly acc: Float64Array;
  /** A one-key state for {@link addLogit}, created on first use. */
  private one: AttentionState | null = null;

  constructor(readonly valueDim: number) {
    this.data = new Float64Array(valueDim + STATE_EXTRA);
    this.acc = this.data.subarray(0, valueDim);
    this.data[valueDim] = -Infinity;
  }

  get max(): number { return this.data[this.valueDim]!; }
  set max(m: number) { this.data[this.valueDim] = m; }
  get sum(): number { return this.data[this.valueDim + 1]!; }
  set sum(s: number) { this.data[this.valueDim + 1] = s; }

  /** Empties the state: softmax states start at max = −∞, ReLU states at max = 0. */
  reset(kind: 'softmax' | 'relu' = 'softmax'): this {
    this.acc.fill(0);
    this.max = kind === 'softmax' ? -Infinity : 0;
    this.sum = 0;
    return this;
  }

  /** Folds in one key with softmax logit `logit` and value row `row` of `values` (online softmax). */
  addLogit(logit: number, values: Float32Array, row: number): void {
    const one = this.one ??= new AttentionState(this.valueDim);
    one.acc.set(values.subarray(row * this.valueDim, (row + 1) * this.valueDim));
    one.max = logit;
    one.sum = 1;
    mergeStates(this, one);
  }

  /** Folds in one key with weight `w` (already relative to `max`) and value row `row` of `values`. */
  addWeight(w: number, values: Float32Array, row: number): void {
    const dv = this.valueDim, acc = this.acc, base = row * dv;
    this.sum += w;
    for (let c = 0; c < dv; c++) acc[c]! += w * values[base + c]!;
  }

  /**
   * Folds in `count` keys at once: weight `w[p]` (already relative to `max`) and value row
   * `rows[p]` of `values` (four rows per sweep over acc: row-loops.ts).
   */
  addWeights(w: Float64Array, rows: Uint32Array, count: number, values: Float32Array, from = 0): void {
    this.sum += accumulateRows(this.acc, w, rows, count, values, this.valueDim, from);
  }

  /** Writes acc / sum (float32) to out[offset ..]; zeros when no key carried weight. */
  finish(out: Float32Array, offset: number): void {
    finishState(this.data, 0, this.valueDim, out, offset);
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
  const dv = out.valueDim;
  if (out === b) { lseMerge(out.data, 0, a.data, 0, dv); return out; }
  if (out !== a) out.data.set(a.data);
  lseMerge(out.data, 0, b.data, 0, dv);
  return out;
}
