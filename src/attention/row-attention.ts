import type { HalfSpaceReporter } from '../hsr/types.js';
import { float32SoftmaxSafe } from '../kernels/float32-error.js';
import { CertifiedRule } from './certified-rule.js';
import { ExactReluRule } from './exact-relu-rule.js';
import type { KeyMoments } from './moments.js';
import type { ResolvedAttentionOptions } from './options.js';
import { RowEvaluator, type KeyValueView, type WorkCounters } from './row-evaluator.js';
import { allShort, FLAT_RETRY_MAX, FLAT_RETRY_MIN, sweepable, type GroupPlan } from './row-plan.js';
import { SweptBounds } from './swept-bounds.js';
import { paperThreshold, ThresholdRule } from './threshold-rule.js';
import { TopKRule } from './top-k-rule.js';

export type { KeyValueView, WorkCounters } from './row-evaluator.js';
export { paperThreshold } from './threshold-rule.js';

/**
 * Computes attention rows for one group of query heads that share keys, values and visible prefix
 * (a grouped-query KV head at decode time, or a batch of prefill rows). It only orchestrates, per
 * group (docs/architecture.md):
 *
 *   plan → bounds → selection rule per head → evaluation → merge
 *
 *  - dense rows: the evaluator alone (one fused kernel pass for the group, or float64 loops);
 *  - ReLU (exact-relu-rule.ts): the index reports the keys with positive weight, the evaluator
 *    weighs them exactly;
 *  - sparse softmax: the plan picks each head's bounds (the index's float32 fused sweep or its
 *    float64 bounds), the rule (threshold-rule.ts, top-k-rule.ts, certified-rule.ts) selects the
 *    kept keys and certifies the skipped mass, the evaluator (row-evaluator.ts) folds the kept keys
 *    and rows that switched to dense are computed together at the end.
 * Holds every scratch buffer, so a call allocates nothing once they have grown to the largest prefix.
 */
export class RowAttention {
  private readonly ev: RowEvaluator;
  private readonly threshold: ThresholdRule;
  private readonly topK: TopKRule;
  private readonly certified: CertifiedRule;
  private readonly relu: ExactReluRule;
  /** The plan of the current group (reused: planning allocates nothing). */
  private readonly plan: GroupPlan = { bounds: 'float64', sweptHead: [] };
  /** Float32 bounds of the fused sweep (created for the first kernels seen). */
  private swept: SweptBounds | null = null;
  /** Per KV view (flatness is the data's): certified groups still to go dense without bounds, and the next such run's length (noteFlat). */
  private readonly flatRuns = new WeakMap<KeyValueView, { skip: number; backoff: number }>();

  constructor(private readonly o: ResolvedAttentionOptions, readonly valueDim: number, readonly groupSize: number) {
    this.ev = new RowEvaluator(o, valueDim, groupSize);
    this.topK = new TopKRule(this.ev, o.scale);
    this.threshold = new ThresholdRule(this.ev, o.scale, this.topK);
    this.certified = new CertifiedRule(this.ev, o.scale);
    this.relu = new ExactReluRule(this.ev, o.scale, o.bias, groupSize);
  }

  /** Work counters, summed over every row computed since resetWork (see AttentionStats). */
  get work(): WorkCounters { return this.ev.work; }

  /** Ids of the keys the most recent softmax row used (a view, valid until the next call). */
  keptIds(): Uint32Array {
    return this.ev.keptBuf.subarray(0, this.ev.keptCount);
  }

  resetWork(): void {
    const w = this.ev.work;
    w.keysScored = w.keysUsed = w.boundsEvaluated = w.denseQueries = 0;
  }

  /**
   * Attention of queries[h] (h ≤ groupSize) over keys [0, limits[h]) — or [0, limit) for all when
   * `limits` is null — → out row `outRow + h` (out: [rows, valueDim]); errorBound[outRow + h] set
   * for sparse softmax. The index is asked once for the group about [0, limit), so limits[h] ≤ limit.
   * `moments` must describe exactly each query's visible keys in 'paper' mode (one limit).
   */
  attendGroup(kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array,
    outRow: number, errorBound: Float64Array | null, moments: KeyMoments | null, limits: Int32Array | null = null): void {
    const o = this.o, ev = this.ev, dv = this.valueDim, count = queries.length;
    if (limit === 0) {
      out.fill(0, outRow * dv, (outRow + count) * dv);
      errorBound?.fill(0, outRow, outRow + count);
      return;
    }
    ev.ensureCapacity(limit);
    const index = kv.index!;
    const plan = o.sparse && o.kind === 'softmax' ? this.planGroup(kv, index, queries, limit) : null;
    if (!o.sparse || (plan?.bounds === 'none' && limits === null)) {
      // Dense, and certified groups that go dense without bounds (short or flat): the one fused
      // kernel pass of the dense path, nothing else (exact: errorBound 0).
      const kr = o.kind === 'softmax' && limits === null ? ev.denseRowsFor(kv, queries) : null;
      if (kr) {
        ev.denseKernel(kr, kv, queries, limit, out, outRow * dv);
        if (plan !== null) { ev.work.denseQueries += count; errorBound?.fill(0, outRow, outRow + count); }
        return;
      }
    }
    if (!o.sparse) {
      for (let h = 0; h < count; h++) {
        const lim = limits ? limits[h]! : limit, off = (outRow + h) * dv;
        if (lim === 0) out.fill(0, off, off + dv);
        else if (o.kind === 'softmax') ev.denseSoftmax(kv, queries[h]!, lim, out, off);
        // Dense ReLU takes the kernels' scoring as if the index had reported every key: SIMD dots,
        // each key still decided exactly, and keysUsed still counts the keys with non-zero weight.
        else ev.relu(kv, queries[h]!, lim, kv.kernels ? ev.allIds.subarray(0, lim) : null, out, off);
      }
      return;
    }
    if (plan === null) { this.relu.rows(kv, index, queries, limit, limits, out, outRow); return; }
    const swept = this.bounds(plan, kv, index, queries, limit);
    const denseBefore = ev.work.denseQueries;
    // Certified rows that switch to dense over one shared prefix are computed together after the
    // loop, so each key and value row is read once for all of them (not once per head).
    ev.switchedHeads.length = 0;
    const sel = o.selection;
    for (let h = 0; h < count; h++) {
      const q = queries[h]!, off = (outRow + h) * dv, lim = limits ? limits[h]! : limit;
      const sb = plan.bounds === 'swept' && plan.sweptHead[h] ? swept : null;
      let delta: number;
      if (lim === 0) { out.fill(0, off, off + dv); delta = 0; }
      else if (sel.rule === 'paper') delta = this.threshold.anyRow(kv, sb, q, h, lim, paperThreshold(q, moments!, lim, o.scale), out, off);
      else if (sel.rule === 'threshold') delta = this.threshold.anyRow(kv, sb, q, h, lim, sel.threshold, out, off);
      else if (sel.rule === 'top-k') delta = this.topK.row(kv, q, h, lim, sel.topK, out, off);
      else if (sel.rule === 'certified') {
        delta = plan.bounds === 'none' ? ev.denseInstead(h)
          : sb ? this.certified.sweptRow(kv, sb, q, h, lim, sel.epsilon, out, off)
          : this.certified.row(kv, q, h, lim, sel.epsilon, out, off);
      } else throw new Error(`unreachable: ${sel.rule} rows do not come here`);
      if (errorBound) errorBound[outRow + h] = delta;
    }
    if (ev.switchedHeads.length > 0) ev.denseSwitched(kv, queries, limit, out, outRow, limits);
    if (sel.rule === 'certified' && plan.bounds !== 'none') this.noteFlat(kv, ev.work.denseQueries - denseBefore === count);
  }

  /**
   * After a certified group that computed bounds: when every row went dense anyway (scores too flat
   * to skip any key), the next FLAT_RETRY_MIN, 2·FLAT_RETRY_MIN, … up to FLAT_RETRY_MAX groups of this KV view skip the bounds
   * (planGroup); a group that kept some row sparse resets the back-off.
   */
  private noteFlat(kv: KeyValueView, allDense: boolean): void {
    const run = this.flatRuns.get(kv);
    if (!allDense && !run) return;
    const r = run ?? { skip: 0, backoff: 0 };
    r.backoff = allDense ? Math.min(FLAT_RETRY_MAX, Math.max(FLAT_RETRY_MIN, 2 * r.backoff)) : 0;
    r.skip = r.backoff;
    if (!run) this.flatRuns.set(kv, r);
  }

  /**
   * The plan of a group's sparse softmax rows: no bounds when every row goes dense (short certified
   * prefixes; longer prefixes still compute them, each row decides by its own limit); the fused
   * sweep when the rule can use it, the keys are resident, the index has the sweep and some query
   * may take float32 rows (sweptHead[h]: float32SoftmaxSafe, which depends on the query alone,
   * never on which heads share the call); float64 bounds otherwise.
   */
  private planGroup(kv: KeyValueView, index: HalfSpaceReporter, queries: readonly Float32Array[], limit: number): GroupPlan {
    const plan = this.plan, sel = this.o.selection;
    plan.bounds = 'float64';
    if (allShort(sel, limit)) { plan.bounds = 'none'; return plan; }
    // A KV view whose recent certified groups all went dense (flat scores) skips the bounds for a while (noteFlat).
    const run = sel.rule === 'certified' ? this.flatRuns.get(kv) : undefined;
    if (run !== undefined && run.skip > 0) { run.skip--; plan.bounds = 'none'; return plan; }
    const kr = sweepable(sel) && index.logitBoundsBatch ? this.ev.rowsFor(kv) : null;
    if (!kr) return plan;
    let any = false;
    queries.forEach((q, h) => {
      const qNorm = this.ev.sweptNorm[h] = kr.queryNorm(q);
      any = (plan.sweptHead[h] = float32SoftmaxSafe(qNorm, kv.keyNormMax!, this.o.scale)) || any;
    });
    if (any) plan.bounds = 'swept';
    return plan;
  }

  /**
   * The bounds the plan asks for: the fused sweep's float32 bounds of the group (returned; the
   * heads without sweptHead get float64 bounds one by one) or the float64 bounds of every head
   * (ev.upper / ev.lower). A sweep the index declines (dim beyond its integer range) turns the
   * plan to float64.
   */
  private bounds(plan: GroupPlan, kv: KeyValueView, index: HalfSpaceReporter, queries: readonly Float32Array[], limit: number): SweptBounds | null {
    const ev = this.ev;
    if (plan.bounds === 'none') return null;
    if (plan.bounds === 'swept') {
      const kernels = ev.rowsFor(kv)!.kernels;
      if (this.swept === null || this.swept.kernels !== kernels) this.swept = new SweptBounds(kernels);
      if (!this.swept.fill(index, queries, this.o.scale, limit)) plan.bounds = 'float64';
    }
    if (plan.bounds === 'float64') {
      index.scoreBoundsBatch(queries, ev.upper, ev.lower, limit);
      ev.countIndexWork(index);
      return null;
    }
    ev.countIndexWork(index);
    for (let h = 0; h < queries.length; h++) {
      if (plan.sweptHead[h]) continue;
      index.scoreBounds(queries[h]!, ev.upper[h]!, ev.lower[h]!, limit);
      ev.countIndexWork(index);
    }
    return this.swept;
  }
}
