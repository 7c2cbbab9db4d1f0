import { BUCKETS, BUCKETS_PER_NAT, BUCKET_EDGE } from './buckets.js';
import { bucketByGap, maxUpper, minWalk, positionOrder, skippedMass, walkBounds } from './certified.js';
import { float32SoftmaxSafe } from '../kernels/float32-error.js';
import type { KeyValueView, RowEvaluator } from './row-evaluator.js';
import { DENSE_BELOW, DENSE_SWITCH, SWEPT_DENSE_SWITCH } from './row-plan.js';
import type { SweptBounds } from './swept-bounds.js';
import { massCut, tvBound } from './tv-bound.js';

/** Buckets past the stop (2 nats) whose skipped keys enter the bound with their own upper bounds. */
const EXACT_BUCKETS = 2 * BUCKETS_PER_NAT;
/** Rounding slack of phase 1's stopping test (phase 2 re-checks the stop with tvBound). */
const STOP_SLACK = 1 + 1e-6;

/**
 * Selection rule: certified ε — keys in decreasing order of upper bound until the certified
 * total-variation bound U / (W + U) ≤ ε, on the fused sweep's float32 buckets (sweptRow) or on
 * float64 bounds (row). The evaluator folds the taken keys as they are taken (the stop is checked
 * with their exact mass). Returns the certified bound of each row.
 */
export class CertifiedRule {
  /** Bucket walk scratch (float64 bounds): bucket of each key [capacity], starts, fill, tail sums. */
  private bucketOfKey = new Uint16Array(0);
  private readonly bucketStart = new Int32Array(BUCKETS + 1);
  private readonly bucketFill = new Int32Array(BUCKETS);
  private readonly tailMass = new Float64Array(BUCKETS + 1);
  /** Scratch for putting the taken ids in position order, [capacity]. */
  private marks = new Uint8Array(0);
  private order = new Uint32Array(0);

  constructor(private readonly ev: RowEvaluator, private readonly scale: number) {}

  /**
   * Certified mode on the fused sweep's bounds (swept-bounds.ts): whole Δ-buckets in decreasing
   * order of upper bound, the stop estimated from the buckets' estimated masses, the taken keys
   * folded by the kernels (float32, certified margins as in `row`), then more buckets while
   * the exact bound U / (W + U) exceeds ε. Rows needing ≥ SWEPT_DENSE_SWITCH of the keys go dense.
   */
  sweptRow(kv: KeyValueView, sb: SweptBounds, q: Float32Array, h: number, limit: number, epsilon: number,
    out: Float32Array, off: number): number {
    if (limit <= DENSE_BELOW) return this.ev.denseInstead(h);
    const kr = this.ev.rowsFor(kv)!, scale = this.scale;
    // Buckets down to ln(limit/ε) + 12 nats: everything below weighs at most ε·e^{−12} of the top key.
    sb.histogram(h, limit, Math.log(limit / epsilon) + 12);
    const top = sb.top, stopAt = epsilon / ((1 - epsilon) * STOP_SLACK);
    let b = sb.stopBucket(stopAt, -1, 0);
    let taken = sb.countBetween(-1, b);
    if (taken >= Math.ceil(SWEPT_DENSE_SWITCH * limit)) return this.ev.denseInstead(h);
    const qNorm = this.ev.sweptNorm[h]!;
    const logitSlack = kr.margin(qNorm, kv.keyNormMax!, scale) + kr.logitRounding(qNorm, kv.keyNormMax!, scale);
    const st = this.ev.state.reset('softmax');
    this.ev.largestFold = 0;
    sb.select(h, limit, -1, b, 0);
    this.ev.fold(kv, q, h, kr, sb.ids(), 0, taken, st);
    // W of the taken keys is at least w·shrink (float32 logits and chunk sums, see `row`).
    const w = (): number => st.sum * Math.exp(-logitSlack) * (1 - kr.sumSlack(this.ev.largestFold));
    let delta = tvBound(w(), st.max, sb.massAfter(b), top);
    while (delta > epsilon && b < sb.buckets - 1) {
      const next = sb.stopBucket(stopAt, b, w() * Math.exp(st.max - top));
      const c = sb.select(h, limit, b, next, taken);
      this.ev.fold(kv, q, h, kr, sb.ids().subarray(taken), 0, c, st);
      taken += c;
      b = next;
      delta = tvBound(w(), st.max, sb.massAfter(b), top);
    }
    st.finish(out, off);
    this.ev.work.keysUsed += taken;
    this.ev.keptBuf = sb.ids();
    this.ev.keptCount = taken;
    if (taken === limit) { this.ev.work.denseQueries++; return 0; }
    return delta;
  }

  /**
   * Certified mode: keys in decreasing order of upper bound (bucketed by Δ nats — a partial order,
   * no sort) until the bound on the mass left out satisfies U / (W + U) ≤ ε (certified.ts):
   * phase 1 walks the buckets on bounds alone, phase 2 scores the taken keys (gathered by id),
   * then the stop is checked with the exact W and more keys are taken if it fails. The reported
   * bound is the smaller of the bucket bound and the skipped keys' own upper bounds.
   */
  row(kv: KeyValueView, q: Float32Array, h: number, limit: number, epsilon: number,
    out: Float32Array, off: number): number {
    if (limit <= DENSE_BELOW) return this.ev.denseInstead(h);
    this.ensureCapacity();
    const up = this.ev.upper[h]!, lo = this.ev.lower[h]!, scale = this.scale, ids = this.ev.ids;
    const start = this.bucketStart, res = this.ev.res;
    const m0 = maxUpper(up, limit, scale);
    bucketByGap(up, scale, limit, m0, this.bucketOfKey, start, this.bucketFill, ids, this.tailMass);
    // When most keys are needed anyway, exact dense attention is cheaper than phase 2 (whose
    // per-key work is higher) and has no error at all; the bucket counts often tell before the walk.
    const maxTake = Math.ceil(DENSE_SWITCH * limit), stopAt = epsilon / ((1 - epsilon) * STOP_SLACK);
    let taken = minWalk(start, this.tailMass, stopAt) >= maxTake ? maxTake
      : walkBounds(ids, up, lo, scale, start, this.tailMass, m0, stopAt, maxTake, res);
    let u = res[0]!, b = res[1]!;
    if (taken >= maxTake) return this.ev.denseInstead(h);
    // The keys left out are ids[taken ..) (the walk takes them in bucket order): those of the
    // buckets near the stop enter the skipped mass with their own bounds, farther ones by edges.
    const cut = massCut(res[2]!, m0);
    const bMax = Math.min(b + EXACT_BUCKETS, BUCKETS - 1);
    const mass = skippedMass(ids, up, scale, taken, this.bucketStart[bMax + 1]!, m0, cut, Math.exp(cut)) + this.tailMass[bMax + 1]!;
    // Kernel path: each float32 logit is within `margin` + `logitRounding` nats of the exact one and
    // every float32 chunk sum within sumSlack(largest chunk) of its terms' sum, so the exact W of
    // the taken keys is at least `shrink` times the computed one: the bound uses that.
    const kr = this.ev.rowsFor(kv);
    const qNorm = kr ? kr.queryNorm(q) : 0;
    const fast = kr !== null && float32SoftmaxSafe(qNorm, kv.keyNormMax!, scale) ? kr : null;
    const logitSlack = fast ? fast.margin(qNorm, kv.keyNormMax!, scale) + fast.logitRounding(qNorm, kv.keyNormMax!, scale) : 0;
    const shrinkNow = (): number => (fast ? Math.exp(-logitSlack) * (1 - fast.sumSlack(this.ev.largestFold)) : 1);
    const st = this.ev.state.reset('softmax');
    this.ev.largestFold = 0;
    // Gather in position order (the walk's bucket order is random in memory).
    positionOrder(ids, taken, limit, this.marks, this.order);
    this.ev.fold(kv, q, h, fast, ids, 0, taken, st);
    let shrink = shrinkNow();
    let delta = Math.min(tvBound(st.sum * shrink, st.max, u, m0), tvBound(st.sum * shrink, st.max, mass, m0));
    // If the estimate stopped too early, keep taking keys in bound order, an eighth more at a time
    // (the skipped-mass sum stays valid: it covers a superset of what is left out).
    while (delta > epsilon && taken < limit) {
      const next = Math.min(limit, taken + Math.max(8, taken >> 3));
      this.ev.fold(kv, q, h, fast, ids, taken, next, st);
      taken = next;
      while (taken - 1 >= this.bucketStart[b + 1]!) b++;
      u = (this.bucketStart[b + 1]! - taken) * BUCKET_EDGE[b]! + this.tailMass[b + 1]!;
      shrink = shrinkNow();
      delta = Math.min(tvBound(st.sum * shrink, st.max, u, m0), tvBound(st.sum * shrink, st.max, mass, m0));
    }
    st.finish(out, off);
    this.ev.work.keysUsed += taken;
    this.ev.keptBuf = ids;
    this.ev.keptCount = taken;
    if (taken === limit) { this.ev.work.denseQueries++; return 0; }
    return delta;
  }

  /** Grows the bucket walk's per-key scratch to the evaluator's capacity. */
  private ensureCapacity(): void {
    const cap = this.ev.ids.length;
    if (this.bucketOfKey.length >= cap) return;
    this.bucketOfKey = new Uint16Array(cap);
    this.marks = new Uint8Array(cap);
    this.order = new Uint32Array(cap);
  }
}
