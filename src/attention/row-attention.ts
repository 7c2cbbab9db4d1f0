import { dotRow } from '../hsr/dot.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import type { KeyMoments } from './moments.js';
import type { ResolvedAttentionOptions } from './options.js';
import { kthLargest, selectTop } from './selection.js';
import { AttentionState } from './state.js';
import { SkippedMass, tvBound } from './tv-bound.js';

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
}

/** Work counters, summed over every row computed (see AttentionStats). */
export interface WorkCounters {
  keysScored: number;
  keysUsed: number;
  boundsEvaluated: number;
  denseQueries: number;
}

/** Certified mode buckets keys by upper bound in steps of Δ nats below the largest upper bound. */
const BUCKETS = 384;
const DELTA = 1 / 8;                 // 384 · Δ = 48 nats: e^{−48} ≈ 1.4e−21 for the last (tail) bucket
const INV_DELTA = 1 / DELTA;
/** Gaps (nats below the top upper bound) at or beyond this go to the tail bucket. */
const TAIL_GAP = (BUCKETS - 1) * DELTA;
/** Rounding slack of the stopping test (the reported bound is recomputed by tvBound). */
const STOP_SLACK = 1 + 1e-6;
/** e^{−bΔ}: the largest weight (relative to the top upper bound) a key in bucket b can have. */
const BUCKET_EDGE = Float64Array.from({ length: BUCKETS }, (_, b) => Math.exp(-b * DELTA));

/**
 * Computes attention rows for one group of query heads that share keys, values and visible prefix
 * (a grouped-query KV head at decode time, or one query row of a prefill). Holds every scratch
 * buffer, so a call allocates nothing once the buffers have grown to the largest prefix seen.
 *
 * Modes (options.kind / options.sparsity):
 *  - dense: every visible key scored in float64, two passes (max, then weights) for softmax.
 *  - ReLU via the index: `query(q, bias/scale)` reports exactly the keys with positive weight.
 *  - softmax sparse: one `scoreBounds` pass (certified per-key bounds on ⟨q,k⟩) drives the
 *    selection; only keys whose bound can still matter are scored exactly; the skipped keys'
 *    bounds give the certified errorBound (tv-bound.ts).
 */
export class RowAttention {
  readonly work: WorkCounters = { keysScored: 0, keysUsed: 0, boundsEvaluated: 0, denseQueries: 0 };
  private readonly state: AttentionState;
  private capacity = 0;
  // Per group member: certified bounds on ⟨q_h, k_j⟩, [capacity].
  private readonly upper: Float64Array[] = [];
  private readonly lower: Float64Array[] = [];
  // Row scratch, [capacity]: ids of kept / candidate keys and their exact logits; `spare` holds
  // rejected logits or a copy for selection.
  private ids = new Uint32Array(0);
  private scores = new Float64Array(0);
  private spare = new Float64Array(0);
  private bucketOfKey = new Uint16Array(0);
  /** Certified mode: 1 for the keys phase 1 took, [capacity]. */
  private taking = new Uint8Array(0);
  private readonly bucketStart = new Int32Array(BUCKETS + 1);
  private readonly bucketFill = new Int32Array(BUCKETS);
  private readonly tailMass = new Float64Array(BUCKETS + 1);
  private readonly skipped = new SkippedMass();
  private readonly offsets: number[];
  /** The last softmax row's kept ids are keptBuf[0..keptCount): `ids`, or `order` in certified mode. */
  private keptBuf = new Uint32Array(0);
  private keptCount = 0;
  /** Certified mode: the taken ids in position order, [capacity]. */
  private order = new Uint32Array(0);

  constructor(private readonly o: ResolvedAttentionOptions, readonly valueDim: number, readonly groupSize: number) {
    this.state = new AttentionState(valueDim);
    this.offsets = new Array<number>(groupSize).fill(0);
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
   * Attention of queries[h] (h < groupSize) over keys [0, limit) → out row `outRow + h`
   * (out: [rows, valueDim]); errorBound[outRow + h] set for sparse softmax. `moments` must
   * describe exactly keys [0, limit) in 'paper' mode.
   */
  attendGroup(kv: KeyValueView, queries: readonly Float32Array[], limit: number, out: Float32Array,
    outRow: number, errorBound: Float64Array | null, moments: KeyMoments | null): void {
    const o = this.o, dv = this.valueDim;
    if (limit === 0) {
      out.fill(0, outRow * dv, (outRow + queries.length) * dv);
      errorBound?.fill(0, outRow, outRow + queries.length);
      return;
    }
    this.ensureCapacity(limit);
    if (!o.sparse) {
      for (let h = 0; h < queries.length; h++) {
        if (o.kind === 'softmax') this.denseSoftmax(kv, queries[h]!, limit, out, (outRow + h) * dv);
        else this.denseRelu(kv, queries[h]!, limit, out, (outRow + h) * dv);
      }
      return;
    }
    const index = kv.index!;
    if (o.kind === 'relu') {
      // Weight > 0 ⟺ ⟨q,k⟩·scale > bias. The offset is lowered by a few ulps so that a key whose
      // rounded logit clears the bias is never lost to the rounding of bias/scale.
      const off = o.bias / o.scale;
      this.offsets.fill(off - Math.abs(off) * 1e-15);
      const hits = index.queryBatch(queries, this.offsets, limit);
      this.countIndexWork(index);
      for (let h = 0; h < queries.length; h++) this.reluOver(kv, queries[h]!, hits[h]!, out, (outRow + h) * dv);
      return;
    }
    index.scoreBoundsBatch(queries, this.upper, this.lower, limit);
    this.countIndexWork(index);
    const s = o.sparsity;
    for (let h = 0; h < queries.length; h++) {
      const q = queries[h]!, off = (outRow + h) * dv;
      let delta: number;
      if (s === 'paper') delta = this.thresholdRow(kv, q, h, limit, paperThreshold(q, moments!, limit, o.scale), out, off);
      else if (s === 'dense') throw new Error('unreachable: dense rows do not use the index');
      else if ('threshold' in s) delta = this.thresholdRow(kv, q, h, limit, s.threshold, out, off);
      else if ('topK' in s) delta = this.topKRow(kv, q, h, limit, s.topK, out, off);
      else delta = this.certifiedRow(kv, q, h, limit, s.epsilon, out, off);
      if (errorBound) errorBound[outRow + h] = delta;
    }
  }

  private ensureCapacity(limit: number): void {
    if (limit > this.capacity) {
      const cap = Math.max(limit, this.capacity * 2, 16);
      this.capacity = cap;
      this.ids = new Uint32Array(cap);
      this.scores = new Float64Array(cap);
      this.spare = new Float64Array(cap);
      this.bucketOfKey = new Uint16Array(cap);
      this.taking = new Uint8Array(cap);
      this.order = new Uint32Array(cap);
      if (this.o.sparse && this.o.kind === 'softmax') {
        for (let h = 0; h < this.groupSize; h++) { this.upper[h] = new Float64Array(cap); this.lower[h] = new Float64Array(cap); }
      }
    }
  }

  private countIndexWork(index: HalfSpaceReporter): void {
    const st = index.lastQueryStats;
    this.work.keysScored += st.pointsScored;
    this.work.boundsEvaluated += st.nodesVisited;
  }

  /** The exact logit of key j: read off the bounds when they coincide (scan), else scored in float64. */
  private logit(kv: KeyValueView, q: Float32Array, h: number, j: number): number {
    const u = this.upper[h]![j]!;
    if (u === this.lower[h]![j]!) return u * this.o.scale;
    this.work.keysScored++;
    return dotRow(q, kv.keys, j, kv.dim) * this.o.scale;
  }

  private denseSoftmax(kv: KeyValueView, q: Float32Array, limit: number, out: Float32Array, off: number): void {
    const scores = this.scores, ids = this.ids, scale = this.o.scale;
    let m = -Infinity;
    for (let j = 0; j < limit; j++) {
      const s = dot4(q, kv.keys, j, kv.dim) * scale;
      scores[j] = s; ids[j] = j;
      if (s > m) m = s;
    }
    this.work.keysScored += limit;
    this.finishKept(kv, limit, m, out, off);
  }

  private denseRelu(kv: KeyValueView, q: Float32Array, limit: number, out: Float32Array, off: number): void {
    const { scale, bias, alpha } = this.o, ids = this.ids, w = this.scores;
    let used = 0;
    for (let j = 0; j < limit; j++) {
      // dotRow, not dot4: a key on the threshold must get exactly the reference's weight (0 or not).
      const t = dotRow(q, kv.keys, j, kv.dim) * scale - bias;
      if (t > 0) { ids[used] = j; w[used++] = t ** alpha; }
    }
    this.work.keysScored += limit;
    this.finishRelu(kv, used, out, off);
  }

  private reluOver(kv: KeyValueView, q: Float32Array, hits: Uint32Array, out: Float32Array, off: number): void {
    const { scale, bias, alpha } = this.o, ids = this.ids, w = this.scores;
    let used = 0;
    for (let p = 0; p < hits.length; p++) {
      const j = hits[p]!;
      const t = dotRow(q, kv.keys, j, kv.dim) * scale - bias;
      if (t > 0) { ids[used] = j; w[used++] = t ** alpha; }
    }
    this.work.keysScored += hits.length;
    this.finishRelu(kv, used, out, off);
  }

  /** ReLU output over ids[0..used) with absolute weights scores[0..used). */
  private finishRelu(kv: KeyValueView, used: number, out: Float32Array, off: number): void {
    const st = this.state.reset('relu');
    st.addWeights(this.scores, this.ids, used, kv.values);
    st.finish(out, off);
    this.work.keysUsed += used;
  }

  /**
   * Softmax over ids[0..kept) with logits scores[0..kept) and maximum m; returns Σ e^{s−m}.
   * Overwrites scores[0..kept) with the weights.
   */
  private finishKept(kv: KeyValueView, kept: number, m: number, out: Float32Array, off: number): number {
    const st = this.state.reset('softmax'), scores = this.scores;
    st.max = m;
    for (let p = 0; p < kept; p++) scores[p] = Math.exp(scores[p]! - m);   // logits → weights, in place
    st.addWeights(scores, this.ids, kept, kv.values);
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
    const up = this.upper[h]!, scale = this.o.scale, ids = this.ids, scores = this.scores, spare = this.spare;
    let m0 = -Infinity, m = -Infinity, kept = 0, rejected = 0;
    for (let j = 0; j < limit; j++) {
      const u = up[j]! * scale;
      if (u > m0) m0 = u;
      if (u < t) continue;
      const s = this.logit(kv, q, h, j);
      if (s >= t) { ids[kept] = j; scores[kept++] = s; if (s > m) m = s; }
      else spare[rejected++] = s;
    }
    if (kept === 0) return this.topKRow(kv, q, h, limit, 1, out, off);
    const w = this.finishKept(kv, kept, m, out, off);
    const mass = this.skipped.reset(m, m0);
    for (let j = 0; j < limit; j++) { const u = up[j]! * scale; if (u < t) mass.add(u, m0); }
    for (let r = 0; r < rejected; r++) mass.add(spare[r]!, m0);
    if (kept === limit) this.work.denseQueries++;
    return tvBound(w, m, mass.total, m0);
  }

  /**
   * The k best keys by (logit desc, id asc). The k-th largest lower bound L is a logit at least
   * k keys reach, so only keys with upper bound ≥ L can be among the k best: those are scored
   * exactly and the top k of them kept.
   */
  private topKRow(kv: KeyValueView, q: Float32Array, h: number, limit: number, topK: number,
    out: Float32Array, off: number): number {
    const up = this.upper[h]!, lo = this.lower[h]!, scale = this.o.scale;
    const ids = this.ids, scores = this.scores, spare = this.spare;
    const k = Math.min(topK, limit);
    for (let j = 0; j < limit; j++) spare[j] = lo[j]! * scale;
    const kth = kthLargest(spare, limit, k);
    let m0 = -Infinity, candidates = 0;
    for (let j = 0; j < limit; j++) {
      const u = up[j]! * scale;
      if (u > m0) m0 = u;
      if (u >= kth) { ids[candidates] = j; scores[candidates++] = this.logit(kv, q, h, j); }
    }
    selectTop(ids, scores, candidates, k);
    let m = -Infinity;
    for (let p = 0; p < k; p++) if (scores[p]! > m) m = scores[p]!;
    const mass = this.skipped.reset(m, m0);
    for (let p = k; p < candidates; p++) mass.add(scores[p]!, m0);
    for (let j = 0; j < limit; j++) { const u = up[j]! * scale; if (u < kth) mass.add(u, m0); }
    const w = this.finishKept(kv, k, m, out, off);
    if (k === limit) this.work.denseQueries++;
    return tvBound(w, m, mass.total, m0);
  }

  /**
   * Certified mode: keys in decreasing order of upper bound (bucketed by Δ nats — a partial order,
   * no sort) until the bound on the mass left out satisfies U / (W + U) ≤ ε. Inside the current
   * bucket the remaining keys are bounded by the bucket's top edge; the reported bound is the
   * smaller of that and the skipped keys' own upper bounds, against the exact W of the taken keys.
   */
  private certifiedRow(kv: KeyValueView, q: Float32Array, h: number, limit: number, epsilon: number,
    out: Float32Array, off: number): number {
    const up = this.upper[h]!, scale = this.o.scale, ids = this.ids;
    const su = this.spare, bucket = this.bucketOfKey;
    const start = this.bucketStart, fill = this.bucketFill, tail = this.tailMass;
    let m0 = -Infinity;
    for (let j = 0; j < limit; j++) { const u = up[j]! * scale; su[j] = u; if (u > m0) m0 = u; }
    // Counting sort of ids by bucket b = ⌊(m0 − u)/Δ⌋ (the last bucket takes everything below).
    start.fill(0);
    for (let j = 0; j < limit; j++) {
      const gap = m0 - su[j]!;
      const b = gap < TAIL_GAP ? (gap * INV_DELTA) | 0 : BUCKETS - 1;
      bucket[j] = b;
      start[b + 1]!++;
    }
    for (let b = 0; b < BUCKETS; b++) { start[b + 1]! += start[b]!; fill[b] = start[b]!; }
    for (let j = 0; j < limit; j++) ids[fill[bucket[j]!]!++] = j;
    tail[BUCKETS] = 0;
    for (let b = BUCKETS - 1; b >= 0; b--) tail[b] = tail[b + 1]! + (start[b + 1]! - start[b]!) * BUCKET_EDGE[b]!;

    // Phase 1, bounds only: take keys in that order until U/(Ŵ + U) ≤ ε, with Ŵ the taken keys'
    // estimated weights (bound midpoints: for 'quantized' the int8 score ⟨q,k̂⟩). In relative terms
    // (Ŵ = w·e^{mw}, U = u·e^{m0}, f = e^{m0−mw} recomputed only when mw rises) the test costs two
    // multiplications per key. Only an estimate: phase 2 checks the stop with the exact W.
    const lo = this.lower[h]!, stopAt = epsilon / ((1 - epsilon) * STOP_SLACK);
    let mw = -Infinity, w = 0, f = Infinity, taken = 0, u = tail[0]!, b = 0;
    for (; b < BUCKETS; b++) {
      const end = start[b + 1]!;
      while (taken < end) {
        const j = ids[taken++]!;
        const e = 0.5 * (lo[j]! + up[j]!) * scale;
        if (e > mw) { w *= Math.exp(mw - e); mw = e; f = Math.exp(m0 - mw); }
        w += Math.exp(e - mw);
        u = (end - taken) * BUCKET_EDGE[b]! + tail[b + 1]!;
        if (u * f <= stopAt * w) break;
      }
      if (u * f <= stopAt * w) break;
    }
    // Phase 2, one pass in id order (sequential memory): taken keys are scored exactly; the others
    // add their upper bound to the skipped mass. Then the taken keys' weights are folded in.
    const taking = this.taking, order = this.order, w2 = this.scores;
    taking.fill(0, 0, limit);
    for (let p = 0; p < taken; p++) taking[ids[p]!] = 1;
    const mass = this.skipped.reset(mw, m0);
    let m = -Infinity, c = 0;
    for (let j = 0; j < limit; j++) {
      if (taking[j]) {
        const s = this.logit(kv, q, h, j);
        order[c] = j; w2[c++] = s;
        if (s > m) m = s;
      } else mass.add(su[j]!, m0);
    }
    for (let p = 0; p < c; p++) w2[p] = Math.exp(w2[p]! - m);
    const st = this.state.reset('softmax');
    st.max = m;
    st.addWeights(w2, order, c, kv.values);
    // The certified bound with the exact W; if the estimate stopped too early, keep taking keys in
    // bound order (the skipped-mass sum stays valid: it covers a superset of what is left out).
    let delta = Math.min(tvBound(st.sum, st.max, u, m0), tvBound(st.sum, st.max, mass.total, m0));
    while (delta > epsilon && taken < limit) {
      while (taken >= start[b + 1]!) b++;
      const j = ids[taken++]!;
      order[c++] = j;
      st.addLogit(this.logit(kv, q, h, j), kv.values, j);
      u = (start[b + 1]! - taken) * BUCKET_EDGE[b]! + tail[b + 1]!;
      delta = Math.min(tvBound(st.sum, st.max, u, m0), tvBound(st.sum, st.max, mass.total, m0));
    }
    st.finish(out, off);
    this.work.keysUsed += taken;
    this.keptBuf = order;
    this.keptCount = taken;
    if (taken === limit) { this.work.denseQueries++; return 0; }
    return delta;
  }
}

/**
 * ⟨q, keys[row]⟩ in float64 with four partial sums: ~40% faster than the sequential `dotRow` in
 * V8. Dense softmax rows use it (softmax is continuous in the logits); ReLU and sparse rows keep `dotRow`, the exact arithmetic the indexes verify with,
 * so a key's logit is the very value its certified bounds and the threshold tests refer to.
 */
function dot4(q: Float32Array, keys: Float32Array, row: number, dim: number): number {
  const base = row * dim;
  let a = 0, b = 0, c = 0, e = 0, j = 0;
  for (; j + 3 < dim; j += 4) {
    a += q[j]! * keys[base + j]!;
    b += q[j + 1]! * keys[base + j + 1]!;
    c += q[j + 2]! * keys[base + j + 2]!;
    e += q[j + 3]! * keys[base + j + 3]!;
  }
  for (; j < dim; j++) a += q[j]! * keys[base + j]!;
  return (a + b) + (c + e);
}

/** The paper's threshold μ + σ·√(0.4·ln n) on scaled logits, μ and σ from the keys' moments. */
export function paperThreshold(q: Float32Array, moments: KeyMoments, n: number, scale: number): number {
  const mu = moments.meanDot(q) * scale;
  const sigma = Math.sqrt(moments.varianceDot(q)) * scale;
  return mu + sigma * Math.sqrt(0.4 * Math.log(n));
}
