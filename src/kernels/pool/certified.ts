import { BUCKETS, BUCKETS_PER_NAT } from '../../attention/buckets.js';
import { GapCounts } from '../../attention/gap-counts.js';
import { KernelRows, maxRowNorm } from '../../attention/kernel-rows.js';
import { FLAT_RETRY_MAX, FLAT_RETRY_MIN, SWEPT_DENSE_SWITCH } from '../../attention/row-plan.js';
import { typicalGap } from '../../attention/swept-bounds.js';
import { tvBound } from '../../attention/tv-bound.js';
import { float32SoftmaxSafe } from '../float32-error.js';
import { finishState, initStates, lseMerge } from '../state.js';
import { STATE_EXTRA, type Kernels } from '../types.js';
import type { LinearHeap } from '../wasm/heap.js';
import { bucketShift, forSegments } from './certified-slice.js';
import * as L from './layout.js';

const { performance } = globalThis as unknown as { performance: { now(): number } }; // the core has no DOM or Node types

/** Rounding slack of the stopping estimate (the exact bound re-checks it), as certified-rule.ts. */
const STOP_SLACK = 1 + 1e-6;

/**
 * Certified softmax rows split across the decode pool's threads (the main thread's side; the
 * threads' is certified-slice.ts). Every thread bounds its key range of every row
 * (fused sweep) and histograms the bounds below the range's own top; the main thread merges the
 * histograms of a row (shifted to the row's top over all ranges, bucketShift), picks the buckets to
 * take with the same stopping rule as the one-thread swept rows (CertifiedRule.sweptRow), and each
 * thread folds the keys of those buckets in its range into its own state. The states are merged by
 * the one log-sum-exp merge (lseMerge), the bound is checked on the merged state, and more buckets
 * are taken (another round) while it exceeds ε.
 *
 * Why the reported bound holds (one ε budget for the whole row, not one per range). Let S be the
 * keys taken by all threads, T the rest, s_j the exact scaled logits, W_S = Σ_S e^{s_j},
 * W_T = Σ_T e^{s_j}. The output is the softmax over S, whose total-variation distance from the
 * softmax over all keys is exactly δ* = W_T / (W_S + W_T). x ↦ x / (w + x) rises in x and falls in
 * w, so δ* ≤ U / (W + U) for any U ≥ W_T and 0 < W ≤ W_S:
 * - U: a key of range r in the range's bucket s has U_j ≤ top_r − s·Δ (gapBucket), and the merged
 *   histogram puts it in bucket b = min(s + k_r, B − 1) with k_r·Δ ≤ top − top_r (bucketShift), so
 *   e^{s_j − top} ≤ e^{U_j − top} ≤ e^{−b·Δ} = EDGE[b]. Every key not taken lies in a merged
 *   bucket after the last one taken (each thread selects, by the same bucket arithmetic, exactly
 *   the keys the merged buckets it was told count), so W_T ≤ e^{top}·Σ_{b > last} count_b·EDGE[b]
 *   = e^{top}·massAfter(last), summed over all ranges at once.
 * - W: each thread's state holds float32 logits within logitSlack (KernelRows.margin +
 *   logitRounding) of the exact ones and a float32 sum within a relative sumSlack of the sum of
 *   its weights; merging in float64 adds only rounding that tvBound's own slack covers. So
 *   W = sum·e^{max}·e^{−logitSlack}·(1 − slack) ≤ W_S, with the slack taken for all the keys the
 *   row folded (≥ any one thread's).
 * Rows the plan sends dense fold every key (δ = 0); rows whose scores may overflow float32
 * (float32SoftmaxSafe, which also catches the quantized index's "wide" keys, whose sweep bounds are
 * not certified) go dense as well.
 */
export class PoolCertified {
  /** Per query head: the merged histogram. */
  private readonly gaps: GapCounts[];
  /** Per query head: the last merged bucket taken (−1: none yet), or DENSE. */
  private readonly last: Int32Array;
  private readonly tops: Float64Array;
  private readonly slack: Float64Array;
  private readonly merged: Float64Array;
  private readonly rows: KernelRows;
  private readonly keyNorm: Float64Array;
  /** Per KV head: addresses of the upper-bound and estimate buffers (group × capacity floats). */
  private upper: number[];
  private centre: number[];
  private capacity = 0;
  /** Per query head, of the last attend: the certified bound (0 for dense rows) and the keys folded. */
  readonly errorBound: Float64Array;
  readonly keysUsed: Float64Array;
  /** Of the last attend: fold rounds after the bounds round, and ms spent in bounds / planning / folds. */
  readonly lastWork = { rounds: 0, boundsMs: 0, planMs: 0, foldMs: 0 };
  /**
   * Flat back-off, as KVCache's (row-plan.ts FLAT_RETRY_*): after a step whose every group went
   * dense, the next `flatSkip` steps run the pool's dense rows without the bound pass (a flat cache
   * then costs what dense costs, not bounds + dense); the skip doubles from FLAT_RETRY_MIN to
   * FLAT_RETRY_MAX while steps stay flat and resets after one that is not.
   */
  private flatSkip = 0;
  private flatBackoff = FLAT_RETRY_MIN;

  constructor(kernels: Kernels, private readonly heap: LinearHeap, private readonly kvHeads: number, private readonly group: number,
    dim: number, private readonly valueDim: number, private readonly scale: number, readonly epsilon: number) {
    const heads = kvHeads * group;
    this.gaps = Array.from({ length: heads }, () => new GapCounts());
    this.last = new Int32Array(heads);
    this.tops = new Float64Array(heads);
    this.slack = new Float64Array(heads);
    this.merged = new Float64Array(heads * (valueDim + STATE_EXTRA));
    this.rows = new KernelRows(kernels, dim, valueDim);
    this.keyNorm = new Float64Array(kvHeads);
    this.upper = new Array<number>(kvHeads).fill(0);
    this.centre = new Array<number>(kvHeads).fill(0);
    this.errorBound = new Float64Array(heads);
    this.keysUsed = new Float64Array(heads);
  }

  /**
   * Whether this step skips the bound pass (flat back-off); if so its rows are dense: bound 0, every
   * key used.
   */
  skipBounds(n: number): boolean {
    if (this.flatSkip === 0) return false;
    this.flatSkip--;
    this.errorBound.fill(0); this.keysUsed.fill(n);
    Object.assign(this.lastWork, { rounds: 0, boundsMs: 0, planMs: 0, foldMs: 0 });
    return true;
  }

  /** Notes appended keys ([t, kvHeads, dim]) for the largest key norm of each KV head. */
  noteKeys(keys: Float32Array, dim: number): void {
    const rows = keys.length / dim;
    for (let r = 0; r < rows; r++) {
      const g = r % this.kvHeads;
      this.keyNorm[g] = maxRowNorm(keys, dim, r, r + 1, this.keyNorm[g]!);
    }
  }

  /** Grows the bound buffers to n keys (may grow the memory: call before taking views). */
  reserve(n: number): void {
    if (n <= this.capacity) return;
    const cap = Math.max(n, 2 * this.capacity, 1024);
    for (let g = 0; g < this.kvHeads; g++) {
      if (this.capacity > 0) { this.heap.release(this.upper[g]!); this.heap.release(this.centre[g]!); }
      this.upper[g] = this.heap.alloc(4 * this.group * cap);
      this.centre[g] = this.heap.alloc(4 * this.group * cap);
    }
    this.capacity = cap;
  }

  /** Writes the bound buffers' addresses and the row's bucket count into the control block. */
  prepare(ctrl: Int32Array, n: number): void {
    for (let g = 0; g < this.kvHeads; g++) {
      const H = L.HEADS_BASE + L.HEAD_SLOTS * g;
      ctrl[H + L.H_UPPER] = this.upper[g]!;
      ctrl[H + L.H_CENTRE] = this.centre[g]!;
    }
    // Buckets down to ln(n/ε) + 12 nats, as CertifiedRule.sweptRow: below, n keys weigh ≤ ε·e^{−12} of the top.
    ctrl[L.BUCKET_COUNT] = Math.min(BUCKETS, Math.max(2, Math.ceil((Math.log(n / this.epsilon) + 12) * BUCKETS_PER_NAT)));
  }

  /**
   * One certified step: the bounds round, the plan, fold rounds until every row's bound is ≤ ε (or
   * its buckets are exhausted), then the merged rows into `out`. `round(mode)` runs one task
   * generation on all threads; `states[t]` and `certs[t]` are thread t's states and report.
   */
  run(ctrl: Int32Array, memory: { buffer: ArrayBufferLike }, queries: Float32Array, n: number, threads: number,
    states: readonly number[], certs: readonly number[], plan: number, round: (mode: number) => void, out: Float32Array): void {
    const { group: m, valueDim: dv, scale, epsilon } = this, heads = this.kvHeads * m, stride = dv + STATE_EXTRA;
    const B = ctrl[L.BUCKET_COUNT]!, d = this.rows.dim;
    const stopAt = epsilon / ((1 - epsilon) * STOP_SLACK), denseFrom = Math.ceil(SWEPT_DENSE_SWITCH * n);
    const work = this.lastWork;
    let t0 = performance.now();
    round(L.MODE_BOUNDS);
    let t1 = performance.now();
    work.boundsMs = t1 - t0;
    const buf = memory.buffer;
    const reports = certs.map((c) => new Int32Array(buf, c, L.certWords(heads)));
    const topsOf = certs.map((c) => new Float32Array(buf, c, L.certWords(heads)));
    const planView = new Int32Array(buf, plan, heads * L.PLAN_SLOTS);
    const planTop = new Float32Array(buf, plan, heads * L.PLAN_SLOTS);
    const slices: [number, number, number, number][] = []; // thread, g, a, b
    for (let t = 0; t < threads; t++) forSegments(ctrl, t, (g, a, b) => slices.push([t, g, a, b]));
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / m), j = h % m, p = h * L.PLAN_SLOTS, q = queries.subarray(h * d, (h + 1) * d);
      const qNorm = this.rows.queryNorm(q), kn = this.keyNorm[g]!;
      planView[p + L.P_ACTION] = L.P_DENSE;
      this.last[h] = -2;
      if (!float32SoftmaxSafe(qNorm, kn, scale)) continue;
      let top = -Infinity;
      for (let t = 0; t < threads; t++) top = Math.max(top, topsOf[t]![L.certTop(h)]!);
      const gaps = this.gaps[h]!, counts = gaps.counts;
      counts.fill(0, 0, B);
      let gap = 0, keys = 0;
      for (const [t, sg, a, b] of slices) {
        if (sg !== g) continue;
        const rangeTop = topsOf[t]![L.certTop(h)]!, k = bucketShift(top, rangeTop), c0 = L.certCounts(heads, h), src = reports[t]!;
        for (let s = 0; s < B; s++) counts[Math.min(s + k, B - 1)]! += src[c0 + s]!;
        gap += (b - a) * typicalGap(new Float32Array(buf, this.upper[g]!, m * n), new Float32Array(buf, this.centre[g]!, m * n), m * a + j * (b - a), b - a);
        keys += b - a;
      }
      gaps.finishCounts(B, Math.exp(-gap / Math.max(1, keys)));
      const last = gaps.stopBucket(stopAt, -1, 0);
      if (gaps.countBetween(-1, last) >= denseFrom) continue;
      planView[p + L.P_ACTION] = L.P_BUCKETS; planView[p + L.P_FROM] = 0; planView[p + L.P_TO] = last;
      planTop[p + L.P_TOP] = top;
      this.last[h] = last;
      this.tops[h] = top;
      this.slack[h] = this.rows.margin(qNorm, kn, scale) + this.rows.logitRounding(qNorm, kn, scale);
    }
    const flat = this.last.every((b) => b === -2);
    this.flatSkip = flat ? this.flatBackoff : 0;
    this.flatBackoff = flat ? Math.min(2 * this.flatBackoff, FLAT_RETRY_MAX) : FLAT_RETRY_MIN;
    t0 = performance.now();
    work.planMs = t0 - t1;
    work.rounds = 0;
    const merged = this.merged;
    for (;;) {
      round(L.MODE_FOLD);
      work.rounds++;
      let more = false;
      for (let h = 0; h < heads; h++) {
        const o = h * stride;
        initStates(merged.subarray(o, o + stride), 1, dv, 'softmax');
        let taken = 0, calls = 0;
        for (let t = 0; t < threads; t++) {
          lseMerge(merged, o, new Float32Array(buf, states[t]!, heads * stride), o, dv);
          taken += reports[t]![L.certTaken(h)]!; calls += reports[t]![L.certCalls(h)]!;
        }
        const p = h * L.PLAN_SLOTS, last = this.last[h]!;
        planView[p + L.P_ACTION] = L.P_NONE;
        if (last === -2) { this.errorBound[h] = 0; this.keysUsed[h] = n; continue; }
        this.keysUsed[h] = taken;
        // W ≤ W_S (class comment): each attendIds call rescales its thread's float32 state once
        // (another rounding and a float32 exp), so the sum's slack counts the calls too.
        const shrink = Math.exp(-this.slack[h]!) * (1 - this.rows.sumSlack(taken + 2 * calls) - 2e-6 * calls);
        const w = merged[o + dv + 1]! * shrink, mx = merged[o + dv]!, gaps = this.gaps[h]!;
        const delta = taken >= n ? 0 : tvBound(w, mx, gaps.massAfter(last), this.tops[h]!);
        this.errorBound[h] = delta;
        if (delta > epsilon && last < B - 1) {
          const next = gaps.stopBucket(stopAt, last, w * Math.exp(mx - this.tops[h]!));
          planView[p + L.P_ACTION] = L.P_BUCKETS; planView[p + L.P_FROM] = last + 1; planView[p + L.P_TO] = next;
          this.last[h] = next;
          more = true;
        }
      }
      if (!more) break;
    }
    work.foldMs = performance.now() - t0;
    for (let h = 0; h < heads; h++) finishState(merged, h * stride, dv, out, h * dv);
  }
}
