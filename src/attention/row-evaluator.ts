import type { HalfSpaceReporter } from '../hsr/types.js';
import { float32SoftmaxSafe } from '../kernels/float32-error.js';
import { finishState, initStates } from '../kernels/state.js';
import { STATE_EXTRA, type Kernels, type Weighting } from '../kernels/types.js';
import { KernelRows } from './kernel-rows.js';
import type { ResolvedAttentionOptions } from './options.js';
import { accumulateRows, expRelative, reluWeights, reluWeightsF32, scoreAll, scoreIdsExact } from './row-loops.js';
import { AttentionState, mergeStates } from './state.js';

/**
 * The keys and values one group of query heads attends to. Rows are ids: key i is
 * `keys[i·dim ..]`, its value `values[i·valueDim ..]`; `index` (when present) holds the same keys
 * under the same ids. Only the first `limit` rows are visible to a call.
 */
export interface KeyValueView {
  readonly keys: Float32Array;     // [≥ limit, dim]
  readonly values: Float32Array;   // [≥ limit, valueDim]
  readonly index: HalfSpaceReporter | null;
  readonly dim: number;
  readonly valueDim: number;
  /**
   * Kernels whose memory holds `keys` and `values` (see kernel-rows.ts `residentKernels`), or null:
   * then sparse rows score and accumulate their taken keys with them (float32 SIMD, certified
   * margin) instead of float64 loops. keyNormMax (≥ every visible key's norm) is required with it.
   */
  readonly kernels?: Kernels | null;
  readonly keyNormMax?: number;
}

/** Work counters, summed over every row computed (see AttentionStats). */
export interface WorkCounters {
  keysScored: number;
  keysUsed: number;
  boundsEvaluated: number;
  denseQueries: number;
}

/**
 * The evaluator of a group's rows: folds kept ids into a row's state — on the kernels (KernelRows:
 * float32 with certified margins) or in float64 (row-loops.ts) — computes dense rows (one fused
 * attendRange for the group, or float64 loops) and exact ReLU rows, and holds the row scratch the
 * selection rules share (ids, logits, bounds), grown to the largest prefix seen and never shrunk.
 * Work is counted in `work`.
 */
export class RowEvaluator {
  readonly work: WorkCounters = { keysScored: 0, keysUsed: 0, boundsEvaluated: 0, denseQueries: 0 };
  /** The current row's state, and one chunk of a float64 fold merged into it (fold). */
  readonly state: AttentionState;
  private readonly chunk: AttentionState;
  private capacity = 0;
  /** Per group member: certified bounds on ⟨q_h, k_j⟩, [capacity] (float64 bounds only). */
  readonly upper: Float64Array[] = [];
  readonly lower: Float64Array[] = [];
  /** Row scratch, [capacity]: ids of kept / candidate keys and their exact logits; `spare` holds rejected logits or a copy for selection. */
  ids = new Uint32Array(0);
  /** 0, 1, …, capacity − 1: every key as an id list, for dense ReLU rows on the kernels. */
  allIds = new Uint32Array(0);
  scores = new Float64Array(0);
  spare = new Float64Array(0);
  /** Secondary results of the row loops. */
  readonly res = new Float64Array(4);
  /** The last softmax row's kept ids are keptBuf[0..keptCount) (`ids`, bucket order in certified mode; `allIds` for dense rows). */
  keptBuf: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  keptCount = 0;
  /** Kernel-side row work, created for the first kernels seen (one owner, one backend). */
  private kernelRows: KernelRows | null = null;
  /** Per group member on the fused sweep: ‖q‖↑ (set by the plan). */
  readonly sweptNorm: number[] = [];
  /** Certified rows on the kernels: the most keys folded in one float32 chunk (sumSlack). */
  largestFold = 0;
  /** Dense rows through the kernels: a group's queries back to back and their float32 online states. */
  private groupQueries = new Float32Array(0);
  private readonly oneQuery: Float32Array[] = [new Float32Array(0)];
  private denseState = new Float32Array(0);
  /** Certified rows of one group that switched to dense: their heads, queries and outputs [count, valueDim]. */
  readonly switchedHeads: number[] = [];
  private readonly switchedQueries: Float32Array[] = [];
  private readonly switchedLimits: number[] = [];
  private switchedOut = new Float32Array(0);
  private readonly softmaxWeighting: Weighting;

  constructor(private readonly o: ResolvedAttentionOptions, readonly valueDim: number, readonly groupSize: number) {
    this.softmaxWeighting = { kind: 'softmax', scale: o.scale, bias: 0, alpha: 1 };
    this.state = new AttentionState(valueDim);
    this.chunk = new AttentionState(valueDim);
  }

  /** Grows the row scratch to hold `limit` keys (doubling); false when it was large enough. */
  ensureCapacity(limit: number): boolean {
    if (limit > this.capacity) {
      const cap = Math.max(limit, this.capacity * 2, 16);
      this.capacity = cap;
      this.ids = new Uint32Array(cap);
      this.scores = new Float64Array(cap);
      this.spare = new Float64Array(cap);
      this.allIds = Uint32Array.from({ length: cap }, (_, k) => k);
      if (this.o.sparse && this.o.kind === 'softmax') {
        for (let h = 0; h < this.groupSize; h++) { this.upper[h] = new Float64Array(cap); this.lower[h] = new Float64Array(cap); }
      }
      return true;
    }
    return false;
  }

  /** The kernel row helper for this view, or null when its keys/values are not resident. */
  rowsFor(kv: KeyValueView): KernelRows | null {
    const k = kv.kernels;
    if (!k) return null;
    if (this.kernelRows === null || this.kernelRows.kernels !== k || this.kernelRows.dim !== kv.dim) {
      this.kernelRows = new KernelRows(k, kv.dim, this.valueDim);
    }
    return this.kernelRows;
  }

  /** The kernel row helper when every query may take float32 softmax rows (float32SoftmaxSafe), else null. */
  denseRowsFor(kv: KeyValueView, queries: readonly Float32Array[]): KernelRows | null {
    const kr = this.rowsFor(kv);
    if (!kr) return null;
    for (const q of queries) if (!float32SoftmaxSafe(kr.queryNorm(q), kv.keyNormMax!, this.o.scale)) return null;
    return kr;
  }

  countIndexWork(index: HalfSpaceReporter): void {
    const st = index.lastQueryStats;
    this.work.keysScored += st.pointsScored;
    this.work.boundsEvaluated += st.nodesVisited;
  }

  denseSoftmax(kv: KeyValueView, q: Float32Array, limit: number, out: Float32Array, off: number): void {
    this.oneQuery[0] = q;
    const kr = this.denseRowsFor(kv, this.oneQuery);
    if (kr) { this.denseKernel(kr, kv, this.oneQuery, limit, out, off); return; }
    const m = scoreAll(q, kv.keys, kv.dim, limit, this.o.scale, this.scores, this.ids);
    this.work.keysScored += limit;
    this.finishKept(kv, limit, m, out, off);
  }

  /**
   * Dense softmax rows of `queries` over keys [0, limit) — or row h over [0, limits[h]) — on
   * resident K/V: one fused `attendRange` (online softmax, float32) for all of them over the keys
   * every row sees, so each key and value row is read once per group, then each row's own tail.
   * Row h goes to out[off + h·valueDim ..].
   */
  denseKernel(kr: KernelRows, kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array, off: number,
    limits: readonly number[] | null = null): void {
    const dv = this.valueDim, d = kv.dim, m = queries.length, stride = dv + STATE_EXTRA;
    if (this.groupQueries.length < m * d) this.groupQueries = new Float32Array(m * d);
    if (this.denseState.length < m * stride) this.denseState = new Float32Array(m * stride);
    const qs = this.groupQueries, st = this.denseState;
    for (let h = 0; h < m; h++) qs.set(queries[h]!, h * d);
    initStates(st, m, dv, 'softmax');
    let shared = limit, keys = m * limit;
    if (limits) { shared = Math.min(...limits); keys = 0; for (const l of limits) keys += l; }
    kr.kernels.attendRange(qs.subarray(0, m * d), m, kv.keys, kv.values, 0, shared, d, dv, this.softmaxWeighting, st);
    if (limits) {
      for (let h = 0; h < m; h++) {
        if (limits[h]! <= shared) continue;
        kr.kernels.attendRange(qs.subarray(h * d, (h + 1) * d), 1, kv.keys, kv.values, shared, limits[h]! - shared, d, dv,
          this.softmaxWeighting, st.subarray(h * stride, (h + 1) * stride));
      }
    }
    for (let h = 0; h < m; h++) finishState(st, h * stride, dv, out, off + h * dv);
    this.work.keysScored += keys;
    this.work.keysUsed += keys;
    this.keptBuf = this.allIds; // every key, without writing the ids per call
    this.keptCount = limits ? limits[m - 1]! : limit;
  }

  /**
   * Dense rows for the heads in `switchedHeads` over keys [0, limit) — or [0, limits[h]) — in one
   * kernel call over their common prefix when resident.
   */
  denseSwitched(kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array, outRow: number,
    limits: Int32Array | null): void {
    const heads = this.switchedHeads, dv = this.valueDim, qs = this.switchedQueries, lims = this.switchedLimits;
    qs.length = lims.length = 0;
    for (const h of heads) { qs.push(queries[h]!); lims.push(limits ? limits[h]! : limit); }
    const kr = this.denseRowsFor(kv, qs);
    if (!kr) {
      heads.forEach((h, i) => this.denseSoftmax(kv, queries[h]!, lims[i]!, out, (outRow + h) * dv));
      return;
    }
    if (this.switchedOut.length < heads.length * dv) this.switchedOut = new Float32Array(this.groupSize * dv);
    this.denseKernel(kr, kv, qs, limit, this.switchedOut, 0, limits ? lims : null);
    heads.forEach((h, i) => out.set(this.switchedOut.subarray(i * dv, (i + 1) * dv), (outRow + h) * dv));
  }

  /**
   * Softmax over ids[0..kept) with logits scores[0..kept) and maximum m; returns Σ e^{s−m}.
   * Overwrites scores[0..kept) with the weights. With `kr` (resident K/V) the weighted value rows
   * are summed by the kernels (KernelRows.accumulate, float32 over weights ≤ 1), as the sparse
   * rows' other folds on the kernels are; else in float64 here.
   */
  finishKept(kv: KeyValueView, kept: number, m: number, out: Float32Array, off: number, kr: KernelRows | null = null): number {
    const sum = expRelative(this.scores, kept, m);
    const st = this.state.reset('softmax');
    st.max = m;
    if (kr) {
      kr.accumulate(st.acc, this.scores, this.ids, 0, kept, kv.values);
      st.sum = sum;
    } else {
      st.addWeights(this.scores, this.ids, kept, kv.values);
    }
    st.finish(out, off);
    this.work.keysUsed += kept;
    this.keptBuf = this.ids;
    this.keptCount = kept;
    return st.sum;
  }

  /**
   * Folds the keys ids[from..to) into the online state `st`: with `kr`, all in the kernels
   * (KernelRows.foldSoftmax, float32); else exact float64 logits, rescale when the maximum rises,
   * weights, value rows, using this.scores[from..to) as scratch (logits, then weights).
   */
  fold(kv: KeyValueView, q: Float32Array, h: number, kr: KernelRows | null, ids: Uint32Array, from: number, to: number,
    st: AttentionState): void {
    if (to <= from) return;
    const w = this.scores, scale = this.o.scale;
    if (kr) {
      kr.foldSoftmax(q, kv.keys, ids, from, to, this.softmaxWeighting, kv.values, st);
      this.work.keysScored += to - from;
      this.largestFold = Math.max(this.largestFold, to - from);
      return;
    }
    this.work.keysScored += scoreIdsExact(q, kv.keys, kv.dim, this.upper[h]!, this.lower[h]!, ids, from, to, scale, w);
    let m = -Infinity;
    for (let p = from; p < to; p++) if (w[p]! > m) m = w[p]!;
    // The chunk as its own state relative to its maximum, merged into st by log-sum-exp.
    const chunk = this.chunk.reset('softmax');
    chunk.max = m;
    chunk.sum = expRelative(w, to, m, from);
    accumulateRows(chunk.acc, w, ids, to, kv.values, this.valueDim, from);
    mergeStates(st, chunk);
  }

  /** ReLU over all keys j < limit, or over the ids < limit the index gave (`hits`: its candidates or hits, ascending; each is decided exactly here). */
  relu(kv: KeyValueView, q: Float32Array, limit: number, hits: Uint32Array | null, out: Float32Array, off: number): void {
    const { scale, bias, alpha } = this.o;
    let count = limit;
    if (hits) { count = hits.length; while (count > 0 && hits[count - 1]! >= limit) count--; }
    const kr = hits ? this.rowsFor(kv) : null;
    const qNorm = kr ? kr.queryNorm(q) : 0;
    const st = this.state.reset('relu');
    let used: number;
    if (kr && kr.usable(qNorm, kv.keyNormMax!)) {
      // The dots first: their kernel call may grow the memory, detaching a keys view taken before.
      const dots = kr.dotsOf(q, kv.keys, hits!, count);
      used = reluWeightsF32(q, kv.keys, kv.dim, dots, hits!, count, scale, bias, alpha,
        kr.margin(qNorm, kv.keyNormMax!, 1), this.ids, this.scores);
      kr.accumulate(st.acc, this.scores, this.ids, 0, used, kv.values);
      for (let p = 0; p < used; p++) st.sum += this.scores[p]!;
    } else {
      used = reluWeights(q, kv.keys, kv.dim, count, hits ?? this.ids, hits !== null, scale, bias, alpha, this.ids, this.scores);
      st.addWeights(this.scores, this.ids, used, kv.values);
    }
    this.work.keysScored += count;
    st.finish(out, off);
    this.work.keysUsed += used;
  }

  /**
   * A certified row computed densely instead (exact: errorBound 0, counted in denseQueries), after
   * the group's loop together with the other switched heads (switchedHeads, denseSwitched).
   * Returns the row's bound, 0.
   */
  denseInstead(h: number): number {
    this.work.denseQueries++;
    this.switchedHeads.push(h);
    return 0;
  }
}
