import { dotRow } from '../hsr/dot.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import type { Kernels, Weighting } from '../kernels/types.js';
import { STATE_EXTRA } from '../kernels/types.js';
import { finishState, initStates } from '../kernels/state.js';
import { BUCKETS, BUCKETS_PER_NAT, BUCKET_EDGE } from './buckets.js';
import { bucketByGap, maxUpper, minWalk, positionOrder, skippedMass, walkBounds } from './certified.js';
import { float32SoftmaxSafe, insideBand } from '../kernels/float32-error.js';
import { KernelRows } from './kernel-rows.js';
import { SweptBounds } from './swept-bounds.js';
import type { KeyMoments } from './moments.js';
import type { ResolvedAttentionOptions } from './options.js';
import { accumulateRows, expRelative, massBelow, massOf, reluWeights, reluWeightsF32, scaleInto, scoreAll, scoreCandidates, scoreIdsExact } from './row-loops.js';
import { kthLargest, selectTop } from './selection.js';
import { AttentionState, mergeStates } from './state.js';
import { massCut, tvBound } from './tv-bound.js';

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
 * Certified rows whose bound-order walk takes at least this fraction of the keys switch to dense
 * attention: phase 2 costs about 3 units per taken key (float64 dot, exp, accumulate) and 0.3 per
 * skipped key against 2.3 per key for a dense row, so the break-even is near 3/4.
 */
const DENSE_SWITCH = 0.75;
/**
 * The same switch for rows on the fused sweep (sweptCertifiedRow): there a taken key costs a few
 * times a key of the group's dense row (each head gathers its own K/V rows; dense reads them once
 * for the whole group), while a switched head joins the group's one dense pass, so past about half
 * the keys dense is cheaper (measurements: docs/softmax.md, docs/sparse-decode.md).
 */
const SWEPT_DENSE_SWITCH = 0.5;
/**
 * Certified rows over at most this many keys are computed densely (exact, errorBound 0): the bound
 * pass and selection have a fixed cost per row that a short dense row does not; below about this
 * length it is not repaid (measurements: docs/sparse-decode.md).
 */
const DENSE_BELOW = 1024;
/**
 * Certified groups whose every row went dense (scores too flat to skip any key) make the following
 * groups go dense at once, without the bound pass (exact, errorBound 0, counted in denseQueries),
 * so a flat cache costs what dense costs rather than bounds + dense. The bounds are tried again
 * after 1, 2, 4, … up to this many such groups, so a cache whose scores sharpen soon goes sparse again.
 */
const FLAT_RETRY_MAX = 64;
/** Buckets past the stop (2 nats) whose skipped keys enter the bound with their own upper bounds. */
const EXACT_BUCKETS = 2 * BUCKETS_PER_NAT;
/** Rounding slack of phase 1's stopping test (phase 2 re-checks the stop with tvBound). */
const STOP_SLACK = 1 + 1e-6;

/**
 * Computes attention rows for one group of query heads that share keys, values and visible prefix
 * (a grouped-query KV head at decode time, or one query row of a prefill). Holds every scratch
 * buffer, so a call allocates nothing once the buffers have grown to the largest prefix seen.
 *
 * Modes (options.kind / options.selection):
 *  - dense: every visible key scored in float64, two passes (max, then weights) for softmax.
 *  - ReLU via the index: `query(q, bias/scale)` reports exactly the keys with positive weight.
 *  - softmax sparse: one `scoreBounds` pass (certified per-key bounds on ⟨q,k⟩) drives the
 *    selection; only keys whose bound can still matter are scored exactly; the skipped keys'
 *    bounds give the certified errorBound (tv-bound.ts).
 */
export class RowAttention {
  readonly work: WorkCounters = { keysScored: 0, keysUsed: 0, boundsEvaluated: 0, denseQueries: 0 };
  private readonly state: AttentionState;
  /** One chunk of a float64 fold, merged into the row's state (fold). */
  private readonly chunk: AttentionState;
  private capacity = 0;
  // Per group member: certified bounds on ⟨q_h, k_j⟩, [capacity].
  private readonly upper: Float64Array[] = [];
  private readonly lower: Float64Array[] = [];
  // Row scratch, [capacity]: ids of kept / candidate keys and their exact logits; `spare` holds
  // rejected logits or a copy for selection.
  private ids = new Uint32Array(0);
  /** 0, 1, …, capacity − 1: every key as an id list, for dense ReLU rows on the kernels. */
  private allIds = new Uint32Array(0);
  private scores = new Float64Array(0);
  private spare = new Float64Array(0);
  private bucketOfKey = new Uint16Array(0);
  private readonly bucketStart = new Int32Array(BUCKETS + 1);
  private readonly bucketFill = new Int32Array(BUCKETS);
  private readonly tailMass = new Float64Array(BUCKETS + 1);
  /** Secondary results of the row kernels. */
  private readonly res = new Float64Array(4);
  /** offsets[c]: the half-space offsets of a batch of c queries (queryBatch wants equal lengths). */
  private readonly offsets: number[][];
  /** The last softmax row's kept ids are keptBuf[0..keptCount) (`ids`; bucket order in certified mode). */
  private keptBuf: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private keptCount = 0;
  /** Kernel-side row work, created for the first kernels seen (one owner, one backend). */
  private kernelRows: KernelRows | null = null;
  /** Certified rows on the fused sweep's float32 bounds (created for the first kernels seen). */
  private swept: SweptBounds | null = null;
  /** Per group member: whether its row runs on `swept` (else on the float64 bounds), and ‖q‖↑. */
  private readonly sweptHead: boolean[] = [];
  private readonly sweptNorm: number[] = [];
  /** Certified mode scratch for putting the taken ids in position order, [capacity]. */
  private marks = new Uint8Array(0);
  private order = new Uint32Array(0);
  /** Certified rows on the kernels: the most keys folded in one float32 chunk (sumSlack). */
  private largestFold = 0;
  /** Dense rows through the kernels: a group's queries back to back and their float32 online states. */
  private groupQueries = new Float32Array(0);
  private readonly oneQuery: Float32Array[] = [new Float32Array(0)];
  private denseState = new Float32Array(0);
  /** Certified rows of one group that switched to dense: their heads, queries and outputs [count, valueDim]. */
  private readonly switchedHeads: number[] = [];
  private readonly switchedQueries: Float32Array[] = [];
  private switchedOut = new Float32Array(0);
  /** Per KV view (flatness is the data's): certified groups still to go dense without bounds (FLAT_RETRY_MAX), and the next such run's length. */
  private readonly flatRuns = new WeakMap<KeyValueView, { skip: number; backoff: number }>();

  private readonly softmaxWeighting: Weighting;

  constructor(private readonly o: ResolvedAttentionOptions, readonly valueDim: number, readonly groupSize: number) {
    this.softmaxWeighting = { kind: 'softmax', scale: o.scale, bias: 0, alpha: 1 };
    this.state = new AttentionState(valueDim);
    this.chunk = new AttentionState(valueDim);
    this.offsets = Array.from({ length: groupSize + 1 }, (_, c) => new Array<number>(c).fill(0));
  }

  /** Ids of the keys the most recent softmax row used (a view, valid until the next call). */
  keptIds(): Uint32Array {
    return this.keptBuf.subarray(0, this.keptCount);
  }

  resetWork(): void {
    const w = this.work;
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
    const o = this.o, dv = this.valueDim, count = queries.length;
    if (limit === 0) {
      out.fill(0, outRow * dv, (outRow + count) * dv);
      errorBound?.fill(0, outRow, outRow + count);
      return;
    }
    this.ensureCapacity(limit);
    if (!o.sparse) {
      const kr = o.kind === 'softmax' && limits === null ? this.denseRowsFor(kv, queries) : null;
      if (kr) { this.denseKernel(kr, kv, queries, limit, out, outRow * dv); return; }
      for (let h = 0; h < count; h++) {
        const lim = limits ? limits[h]! : limit, off = (outRow + h) * dv;
        if (lim === 0) out.fill(0, off, off + dv);
        else if (o.kind === 'softmax') this.denseSoftmax(kv, queries[h]!, lim, out, off);
        // Dense ReLU takes the kernels' scoring as if the index had reported every key: SIMD dots,
        // each key still decided exactly, and keysUsed still counts the keys with non-zero weight.
        else this.relu(kv, queries[h]!, lim, kv.kernels ? this.allIds.subarray(0, lim) : null, out, off);
      }
      return;
    }
    const index = kv.index!;
    if (o.kind === 'relu') {
      // Weight > 0 ⟺ ⟨q,k⟩·scale > bias. The offset is lowered by a few ulps so that a key whose
      // rounded logit clears the bias is never lost to the rounding of bias/scale.
      const off = o.bias / o.scale, offsets = this.offsets[count]!;
      offsets.fill(off - Math.abs(off) * 1e-15);
      // relu() decides every key it is given exactly (float64 inside the float32 margin), so the
      // index's unchecked candidates serve as well as its checked hits and save scoring them twice.
      const hits = index.candidateBatch ? index.candidateBatch(queries, offsets, limit) : index.queryBatch(queries, offsets, limit);
      this.countIndexWork(index);
      for (let h = 0; h < count; h++) {
        this.relu(kv, queries[h]!, limits ? limits[h]! : limit, hits[h]!, out, (outRow + h) * dv);
      }
      return;
    }
    const sel = o.selection;
    // Certified, threshold and paper rows take the float32 fused sweep when the index has one and
    // the kernels can score these queries; top-k and everything else the float64 bounds. Certified
    // rows over ≤ DENSE_BELOW keys go dense without bounds: a group whose prefix is that short needs
    // none (longer prefixes still compute them; each row decides by its own limit).
    const certified = sel.rule === 'certified';
    const run = certified ? this.flatRuns.get(kv) : undefined;
    const flat = run !== undefined && limit > DENSE_BELOW && run.skip > 0;
    if (flat) run.skip--;
    const short = certified && (limit <= DENSE_BELOW || flat);
    const denseBefore = this.work.denseQueries;
    const swept = !short && (sel.rule === 'paper' || sel.rule === 'threshold' || sel.rule === 'certified') ? this.sweptFor(kv, index, queries, limit) : null;
    if (!swept && !short) index.scoreBoundsBatch(queries, this.upper, this.lower, limit);
    if (!short) this.countIndexWork(index);
    // Heads whose logits are too large for float32 rows take the float64 bounds, one by one (the
    // choice depends on the query alone, never on which heads share the call).
    if (swept) {
      for (let h = 0; h < count; h++) {
        if (this.sweptHead[h]) continue;
        index.scoreBounds(queries[h]!, this.upper[h]!, this.lower[h]!, limit);
        this.countIndexWork(index);
      }
    }
    // Certified rows that switch to dense over one shared prefix are computed together after the
    // loop, so each key and value row is read once for all of them (not once per head).
    const switched = this.switchedHeads;
    switched.length = 0;
    const sb = (h: number): SweptBounds | null => (swept && this.sweptHead[h] ? swept : null);
    for (let h = 0; h < count; h++) {
      const q = queries[h]!, off = (outRow + h) * dv, lim = limits ? limits[h]! : limit;
      let delta: number;
      if (lim === 0) { out.fill(0, off, off + dv); delta = 0; }
      else if (sel.rule === 'paper') delta = this.anyThresholdRow(kv, sb(h), q, h, lim, paperThreshold(q, moments!, lim, o.scale), out, off);
      else if (sel.rule === 'threshold') delta = this.anyThresholdRow(kv, sb(h), q, h, lim, sel.threshold, out, off);
      else if (sel.rule === 'top-k') delta = this.topKRow(kv, q, h, lim, sel.topK, out, off);
      else if (sel.rule === 'certified') {
        const b = sb(h);
        delta = short ? this.denseInstead(kv, q, lim, out, off, limits === null) : b ? this.sweptCertifiedRow(kv, b, q, h, lim, sel.epsilon, out, off, limits === null)
          : this.certifiedRow(kv, q, h, lim, sel.epsilon, out, off, limits === null);
      } else throw new Error(`unreachable: ${sel.rule} rows do not come here`);
      if (errorBound) errorBound[outRow + h] = delta;
    }
    if (switched.length > 0) this.denseSwitched(kv, queries, limit, out, outRow);
    if (certified && !short) {
      const allDense = this.work.denseQueries - denseBefore === count;
      if (allDense || run) {
        const r = run ?? { skip: 0, backoff: 0 };
        r.backoff = allDense ? Math.min(FLAT_RETRY_MAX, Math.max(1, 2 * r.backoff)) : 0;
        r.skip = r.backoff;
        if (!run) this.flatRuns.set(kv, r);
      }
    }
  }

  /** Dense rows for the heads in `switchedHeads` over keys [0, limit), in one kernel call when resident. */
  private denseSwitched(kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array, outRow: number): void {
    const heads = this.switchedHeads, dv = this.valueDim, qs = this.switchedQueries;
    qs.length = 0;
    for (const h of heads) qs.push(queries[h]!);
    const kr = this.denseRowsFor(kv, qs);
    if (!kr) {
      for (const h of heads) this.denseSoftmax(kv, queries[h]!, limit, out, (outRow + h) * dv);
      return;
    }
    if (this.switchedOut.length < heads.length * dv) this.switchedOut = new Float32Array(this.groupSize * dv);
    this.denseKernel(kr, kv, qs, limit, this.switchedOut, 0);
    heads.forEach((h, i) => out.set(this.switchedOut.subarray(i * dv, (i + 1) * dv), (outRow + h) * dv));
  }

  /**
   * The group's float32 logit bounds from the index's fused sweep (SweptBounds), or null when the
   * keys are not resident, the index has no sweep, or no query may take float32 rows;
   * sweptHead[h] says whether query h may (float32SoftmaxSafe).
   */
  private sweptFor(kv: KeyValueView, index: HalfSpaceReporter, queries: readonly Float32Array[], limit: number): SweptBounds | null {
    const kr = this.rowsFor(kv);
    if (!kr || !index.logitBoundsBatch) return null;
    let any = false;
    queries.forEach((q, h) => {
      const qNorm = this.sweptNorm[h] = kr.queryNorm(q);
      any = (this.sweptHead[h] = float32SoftmaxSafe(qNorm, kv.keyNormMax!, this.o.scale)) || any;
    });
    if (!any) return null;
    if (this.swept === null || this.swept.kernels !== kr.kernels) this.swept = new SweptBounds(kr.kernels);
    return this.swept.fill(index, queries, this.o.scale, limit) ? this.swept : null;
  }

  private ensureCapacity(limit: number): void {
    if (limit > this.capacity) {
      const cap = Math.max(limit, this.capacity * 2, 16);
      this.capacity = cap;
      this.ids = new Uint32Array(cap);
      this.scores = new Float64Array(cap);
      this.spare = new Float64Array(cap);
      this.bucketOfKey = new Uint16Array(cap);
      this.marks = new Uint8Array(cap);
      this.order = new Uint32Array(cap);
      this.allIds = Uint32Array.from({ length: cap }, (_, j) => j);
      if (this.o.sparse && this.o.kind === 'softmax') {
        for (let h = 0; h < this.groupSize; h++) { this.upper[h] = new Float64Array(cap); this.lower[h] = new Float64Array(cap); }
      }
    }
  }

  /** The kernel row helper for this view, or null when its keys/values are not resident. */
  private rowsFor(kv: KeyValueView): KernelRows | null {
    const k = kv.kernels;
    if (!k) return null;
    if (this.kernelRows === null || this.kernelRows.kernels !== k || this.kernelRows.dim !== kv.dim) {
      this.kernelRows = new KernelRows(k, kv.dim, this.valueDim);
    }
    return this.kernelRows;
  }

  /** The kernel row helper when every query may take float32 softmax rows (float32SoftmaxSafe), else null. */
  private denseRowsFor(kv: KeyValueView, queries: readonly Float32Array[]): KernelRows | null {
    const kr = this.rowsFor(kv);
    if (!kr) return null;
    for (const q of queries) if (!float32SoftmaxSafe(kr.queryNorm(q), kv.keyNormMax!, this.o.scale)) return null;
    return kr;
  }

  private countIndexWork(index: HalfSpaceReporter): void {
    const st = index.lastQueryStats;
    this.work.keysScored += st.pointsScored;
    this.work.boundsEvaluated += st.nodesVisited;
  }

  private denseSoftmax(kv: KeyValueView, q: Float32Array, limit: number, out: Float32Array, off: number): void {
    this.oneQuery[0] = q;
    const kr = this.denseRowsFor(kv, this.oneQuery);
    if (kr) { this.denseKernel(kr, kv, this.oneQuery, limit, out, off); return; }
    const m = scoreAll(q, kv.keys, kv.dim, limit, this.o.scale, this.scores, this.ids);
    this.work.keysScored += limit;
    this.finishKept(kv, limit, m, out, off);
  }

  /**
   * Dense softmax rows of `queries` over keys [0, limit) on resident K/V: one fused `attendRange`
   * (online softmax, float32) for all of them, so each key and value row is read once per group.
   * Row h goes to out[off + h·valueDim ..].
   */
  private denseKernel(kr: KernelRows, kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array, off: number): void {
    const dv = this.valueDim, d = kv.dim, m = queries.length, stride = dv + STATE_EXTRA;
    if (this.groupQueries.length < m * d) this.groupQueries = new Float32Array(m * d);
    if (this.denseState.length < m * stride) this.denseState = new Float32Array(m * stride);
    const qs = this.groupQueries, st = this.denseState;
    for (let h = 0; h < m; h++) qs.set(queries[h]!, h * d);
    initStates(st, m, dv, 'softmax');
    kr.kernels.attendRange(qs.subarray(0, m * d), m, kv.keys, kv.values, 0, limit, d, dv, this.softmaxWeighting, st);
    for (let h = 0; h < m; h++) finishState(st, h * stride, dv, out, off + h * dv);
    for (let j = 0; j < limit; j++) this.ids[j] = j;
    this.work.keysScored += m * limit;
    this.work.keysUsed += m * limit;
    this.keptBuf = this.ids;
    this.keptCount = limit;
  }

  /** ReLU over all keys j < limit, or over the ids < limit the index gave (`hits`: its candidates or hits, ascending; each is decided exactly here). */
  private relu(kv: KeyValueView, q: Float32Array, limit: number, hits: Uint32Array | null, out: Float32Array, off: number): void {
    const { scale, bias, alpha } = this.o;
    let count = limit;
    if (hits) { count = hits.length; while (count > 0 && hits[count - 1]! >= limit) count--; }
    const kr = hits ? this.rowsFor(kv) : null;
    const qNorm = kr ? kr.queryNorm(q) : 0;
    const st = this.state.reset('relu');
    let used: number;
    if (kr && kr.usable(qNorm, kv.keyNormMax!)) {
      used = reluWeightsF32(q, kv.keys, kv.dim, kr.dotsOf(q, kv.keys, hits!, count), hits!, count, scale, bias, alpha,
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
   * Softmax over ids[0..kept) with logits scores[0..kept) and maximum m; returns Σ e^{s−m}.
   * Overwrites scores[0..kept) with the weights.
   */
  private finishKept(kv: KeyValueView, kept: number, m: number, out: Float32Array, off: number): number {
    expRelative(this.scores, kept, m);
    const st = this.state.reset('softmax');
    st.max = m;
    st.addWeights(this.scores, this.ids, kept, kv.values);
    st.finish(out, off);
    this.work.keysUsed += kept;
    this.keptBuf = this.ids;
    this.keptCount = kept;
    return st.sum;
  }

  /**
   * Keys with logit ≥ t. Candidates are the keys whose upper bound reaches t; they are scored
   * exactly. Skipped mass: the non-candidates' upper bounds plus the rejected candidates' exact
   * logits. A row where no key reaches t keeps its single best key instead (softmax needs ≥ 1).
   */
  private thresholdRow(kv: KeyValueView, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    const up = this.upper[h]!, scale = this.o.scale, ids = this.ids, scores = this.scores, spare = this.spare, res = this.res;
    const candidates = scoreCandidates(q, kv.keys, kv.dim, up, this.lower[h]!, limit, scale, t, ids, scores, res);
    const m0 = res[0]!;
    this.work.keysScored += res[1]!;
    let kept = 0, rejected = 0, m = -Infinity;
    for (let p = 0; p < candidates; p++) {
      const s = scores[p]!;
      if (s >= t) { ids[kept] = ids[p]!; scores[kept++] = s; if (s > m) m = s; }
      else spare[rejected++] = s;
    }
    if (kept === 0) return this.topKRow(kv, q, h, limit, 1, out, off);
    const cut = massCut(m, m0), floor = Math.exp(cut);
    const mass = massBelow(up, limit, scale, t, m0, cut, floor) + massOf(spare, 0, rejected, m0, cut, floor);
    const w = this.finishKept(kv, kept, m, out, off);
    if (kept === limit) this.work.denseQueries++;
    return tvBound(w, m, mass, m0);
  }

  /** A threshold row on the fused sweep's bounds when there are some, else on the float64 bounds. */
  private anyThresholdRow(kv: KeyValueView, sb: SweptBounds | null, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    return sb ? this.sweptThresholdRow(kv, sb, q, h, limit, t, out, off) : this.thresholdRow(kv, q, h, limit, t, out, off);
  }

  /**
   * thresholdRow on the fused sweep's float32 bounds: the candidates are the buckets that may hold
   * an upper bound ≥ t (gapBucket ≤ W·(top − t), plus one for this product's rounding), scored in
   * float32; a key whose logit lies within the certified margin of t is decided by the float64
   * `dotRow`, so the kept set is exactly the float64 path's. Skipped mass: the buckets after the
   * candidates (edges) and the rejected candidates' logits + margin; the kept mass is taken at
   * logit − margin. Rows where no key reaches t fall back to the float64 path (its top-1 rule).
   */
  private sweptThresholdRow(kv: KeyValueView, sb: SweptBounds, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    const kr = this.rowsFor(kv)!, scale = this.o.scale, ids = this.ids, scores = this.scores;
    sb.histogram(h, limit);
    const top = sb.top;
    let kept = 0, rejectedMass = 0, m = -Infinity;
    const marginLogit = kr.margin(this.sweptNorm[h]!, kv.keyNormMax!, scale);
    const bt = t <= top ? Math.min(sb.buckets - 1, Math.floor((top - t) * BUCKETS_PER_NAT) + 1) : -1;
    if (bt >= 0) {
      const count = sb.select(h, limit, -1, bt, 0), cand = sb.ids();
      const dots = kr.dotsOf(q, kv.keys, cand, count);
      this.work.keysScored += count;
      for (let p = 0; p < count; p++) {
        const j = cand[p]!;
        let x = dots[p]! * scale;
        if (insideBand(x, t, marginLogit)) x = dotRow(q, kv.keys, j, kv.dim) * scale;
        if (x >= t) { ids[kept] = j; scores[kept++] = x; if (x > m) m = x; }
        else rejectedMass += Math.exp(x + marginLogit - top);
      }
    }
    if (kept === 0) {
      // No key reaches t: the float64 path keeps the single best key.
      kv.index!.scoreBounds(q, this.upper[h]!, this.lower[h]!, limit);
      return this.thresholdRow(kv, q, h, limit, t, out, off);
    }
    const w = this.finishKept(kv, kept, m, out, off);
    if (kept === limit) this.work.denseQueries++;
    return tvBound(w * Math.exp(-marginLogit), m, sb.massAfter(bt) + rejectedMass, top);
  }

  /**
   * The k best keys by (logit desc, id asc). The k-th largest lower bound L is a logit at least
   * k keys reach, so only keys with upper bound ≥ L can be among the k best: those are scored
   * exactly and the top k of them kept.
   */
  private topKRow(kv: KeyValueView, q: Float32Array, h: number, limit: number, topK: number,
    out: Float32Array, off: number): number {
    const up = this.upper[h]!, scale = this.o.scale, ids = this.ids, scores = this.scores, res = this.res;
    const k = Math.min(topK, limit);
    scaleInto(this.lower[h]!, limit, scale, this.spare);
    const kth = kthLargest(this.spare, limit, k);
    const candidates = scoreCandidates(q, kv.keys, kv.dim, up, this.lower[h]!, limit, scale, kth, ids, scores, res);
    const m0 = res[0]!;
    this.work.keysScored += res[1]!;
    selectTop(ids, scores, candidates, k);
    let m = -Infinity;
    for (let p = 0; p < k; p++) if (scores[p]! > m) m = scores[p]!;
    const cut = massCut(m, m0), floor = Math.exp(cut);
    const mass = massOf(scores, k, candidates, m0, cut, floor) + massBelow(up, limit, scale, kth, m0, cut, floor);
    const w = this.finishKept(kv, k, m, out, off);
    if (k === limit) this.work.denseQueries++;
    return tvBound(w, m, mass, m0);
  }

  /**
   * Folds the keys ids[from..to) into the online state `st`: with `kr`, all in the kernels
   * (KernelRows.foldSoftmax, float32); else exact float64 logits, rescale when the maximum rises,
   * weights, value rows, using this.scores[from..to) as scratch (logits, then weights).
   */
  private fold(kv: KeyValueView, q: Float32Array, h: number, kr: KernelRows | null, ids: Uint32Array, from: number, to: number,
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

  /**
   * A certified row computed densely instead (exact: errorBound 0, counted in denseQueries): now, or,
   * with `deferDense`, after the group's loop together with the other switched heads (switchedHeads).
   * Returns the row's bound, 0.
   */
  private denseInstead(kv: KeyValueView, q: Float32Array, h: number, limit: number, out: Float32Array, off: number, deferDense: boolean): number {
    this.work.denseQueries++;
    if (deferDense) this.switchedHeads.push(h);
    else this.denseSoftmax(kv, q, limit, out, off);
    return 0;
  }

  /**
   * Certified mode on the fused sweep's bounds (swept-bounds.ts): whole Δ-buckets in decreasing
   * order of upper bound, the stop estimated from the buckets' estimated masses, the taken keys
   * folded by the kernels (float32, certified margins as in certifiedRow), then more buckets while
   * the exact bound U / (W + U) exceeds ε. Rows needing ≥ SWEPT_DENSE_SWITCH of the keys go dense.
   */
  private sweptCertifiedRow(kv: KeyValueView, sb: SweptBounds, q: Float32Array, h: number, limit: number, epsilon: number,
    out: Float32Array, off: number, deferDense: boolean): number {
    if (limit <= DENSE_BELOW) return this.denseInstead(kv, q, h, limit, out, off, deferDense);
    const kr = this.rowsFor(kv)!, scale = this.o.scale;
    // Buckets down to ln(limit/ε) + 12 nats: everything below weighs at most ε·e^{−12} of the top key.
    sb.histogram(h, limit, Math.log(limit / epsilon) + 12);
    const top = sb.top, stopAt = epsilon / ((1 - epsilon) * STOP_SLACK);
    let b = sb.stopBucket(stopAt, -1, 0);
    let taken = sb.countBetween(-1, b);
    if (taken >= Math.ceil(SWEPT_DENSE_SWITCH * limit)) return this.denseInstead(kv, q, h, limit, out, off, deferDense);
    const qNorm = this.sweptNorm[h]!;
    const logitSlack = kr.margin(qNorm, kv.keyNormMax!, scale) + kr.logitRounding(qNorm, kv.keyNormMax!, scale);
    const st = this.state.reset('softmax');
    this.largestFold = 0;
    sb.select(h, limit, -1, b, 0);
    this.fold(kv, q, h, kr, sb.ids(), 0, taken, st);
    // W of the taken keys is at least w·shrink (float32 logits and chunk sums, see certifiedRow).
    const w = (): number => st.sum * Math.exp(-logitSlack) * (1 - kr.sumSlack(this.largestFold));
    let delta = tvBound(w(), st.max, sb.massAfter(b), top);
    while (delta > epsilon && b < sb.buckets - 1) {
      const next = sb.stopBucket(stopAt, b, w() * Math.exp(st.max - top));
      const c = sb.select(h, limit, b, next, taken);
      this.fold(kv, q, h, kr, sb.ids().subarray(taken), 0, c, st);
      taken += c;
      b = next;
      delta = tvBound(w(), st.max, sb.massAfter(b), top);
    }
    st.finish(out, off);
    this.work.keysUsed += taken;
    this.keptBuf = sb.ids();
    this.keptCount = taken;
    if (taken === limit) { this.work.denseQueries++; return 0; }
    return delta;
  }

  /**
   * Certified mode: keys in decreasing order of upper bound (bucketed by Δ nats — a partial order,
   * no sort) until the bound on the mass left out satisfies U / (W + U) ≤ ε (certified.ts):
   * phase 1 walks the buckets on bounds alone, phase 2 scores the taken keys (gathered by id),
   * then the stop is checked with the exact W and more keys are taken if it fails. The reported
   * bound is the smaller of the bucket bound and the skipped keys' own upper bounds.
   */
  private certifiedRow(kv: KeyValueView, q: Float32Array, h: number, limit: number, epsilon: number,
    out: Float32Array, off: number, deferDense: boolean): number {
    if (limit <= DENSE_BELOW) return this.denseInstead(kv, q, h, limit, out, off, deferDense);
    const up = this.upper[h]!, lo = this.lower[h]!, scale = this.o.scale, ids = this.ids;
    const start = this.bucketStart, res = this.res;
    const m0 = maxUpper(up, limit, scale);
    bucketByGap(up, scale, limit, m0, this.bucketOfKey, start, this.bucketFill, ids, this.tailMass);
    // When most keys are needed anyway, exact dense attention is cheaper than phase 2 (whose
    // per-key work is higher) and has no error at all; the bucket counts often tell before the walk.
    const maxTake = Math.ceil(DENSE_SWITCH * limit), stopAt = epsilon / ((1 - epsilon) * STOP_SLACK);
    let taken = minWalk(start, this.tailMass, stopAt) >= maxTake ? maxTake
      : walkBounds(ids, up, lo, scale, start, this.tailMass, m0, stopAt, maxTake, res);
    let u = res[0]!, b = res[1]!;
    if (taken >= maxTake) return this.denseInstead(kv, q, h, limit, out, off, deferDense);
    // The keys left out are ids[taken ..) (the walk takes them in bucket order): those of the
    // buckets near the stop enter the skipped mass with their own bounds, farther ones by edges.
    const cut = massCut(res[2]!, m0);
    const bMax = Math.min(b + EXACT_BUCKETS, BUCKETS - 1);
    const mass = skippedMass(ids, up, scale, taken, this.bucketStart[bMax + 1]!, m0, cut, Math.exp(cut)) + this.tailMass[bMax + 1]!;
    // Kernel path: each float32 logit is within `margin` + `logitRounding` nats of the exact one and
    // every float32 chunk sum within sumSlack(largest chunk) of its terms' sum, so the exact W of
    // the taken keys is at least `shrink` times the computed one: the bound uses that.
    const kr = this.rowsFor(kv);
    const qNorm = kr ? kr.queryNorm(q) : 0;
    const fast = kr !== null && float32SoftmaxSafe(qNorm, kv.keyNormMax!, scale) ? kr : null;
    const logitSlack = fast ? fast.margin(qNorm, kv.keyNormMax!, scale) + fast.logitRounding(qNorm, kv.keyNormMax!, scale) : 0;
    const shrinkNow = (): number => (fast ? Math.exp(-logitSlack) * (1 - fast.sumSlack(this.largestFold)) : 1);
    const st = this.state.reset('softmax');
    this.largestFold = 0;
    // Gather in position order (the walk's bucket order is random in memory).
    positionOrder(ids, taken, limit, this.marks, this.order);
    this.fold(kv, q, h, fast, ids, 0, taken, st);
    let shrink = shrinkNow();
    let delta = Math.min(tvBound(st.sum * shrink, st.max, u, m0), tvBound(st.sum * shrink, st.max, mass, m0));
    // If the estimate stopped too early, keep taking keys in bound order, an eighth more at a time
    // (the skipped-mass sum stays valid: it covers a superset of what is left out).
    while (delta > epsilon && taken < limit) {
      const next = Math.min(limit, taken + Math.max(8, taken >> 3));
      this.fold(kv, q, h, fast, ids, taken, next, st);
      taken = next;
      while (taken - 1 >= this.bucketStart[b + 1]!) b++;
      u = (this.bucketStart[b + 1]! - taken) * BUCKET_EDGE[b]! + this.tailMass[b + 1]!;
      shrink = shrinkNow();
      delta = Math.min(tvBound(st.sum * shrink, st.max, u, m0), tvBound(st.sum * shrink, st.max, mass, m0));
    }
    st.finish(out, off);
    this.work.keysUsed += taken;
    this.keptBuf = ids;
    this.keptCount = taken;
    if (taken === limit) { this.work.denseQueries++; return 0; }
    return delta;
  }
}

/** The paper's threshold μ + σ·√(0.4·ln n) on scaled logits, μ and σ from the keys' moments. */
export function paperThreshold(q: Float32Array, moments: KeyMoments, n: number, scale: number): number {
  const mu = moments.meanDot(q) * scale;
  const sigma = Math.sqrt(moments.varianceDot(q)) * scale;
  return mu + sigma * Math.sqrt(0.4 * Math.log(n));
}
