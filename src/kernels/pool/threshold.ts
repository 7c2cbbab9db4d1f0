import { KernelRows, maxRowNorm } from '../../attention/kernel-rows.js';
import { KeyMoments } from '../../attention/moments.js';
import { exactLogit, paperThreshold } from '../../attention/threshold-rule.js';
import { finishState, lseMerge } from '../state.js';
import { STATE_EXTRA, type Kernels } from '../types.js';
import * as L from './layout.js';

/** Threshold rows' selection, as KVCache's sparsity option spells it. */
export type PoolThresholdSelection = 'paper' | { threshold: number };

/**
 * Threshold and paper softmax rows split across the decode pool's threads (the main thread's side;
 * the threads' is slice.ts MODE_THRESHOLD). The rule is ThresholdRule's: a row keeps the keys whose
 * scaled logit reaches its threshold t — fixed, or the paper's μ + σ·√(0.4·ln n) from the KV head's
 * key moments over the whole cache (n = the cache length, not a thread's range) — each key decided
 * by its float64 logit (exactLogit), so every thread keeps, in its range, exactly the keys the
 * one-thread rule keeps. The threads fold them into their own states and the states are merged by
 * log-sum-exp (lseMerge). A row where no key reaches t keeps its single best key (largest float64
 * logit, the smaller id on ties), as the one-thread rule's top-1 fallback does; the pool finds it
 * here by scoring every key of the row (O(n·d) on the calling thread: a threshold above every key
 * is a mis-set threshold, not the common case).
 */
export class PoolThreshold {
  /** Per KV head: key moments ('paper' only) and the largest key norm (the sweep offsets' margin). */
  private readonly moments: KeyMoments[] | null;
  private readonly keyNorm: Float64Array;
  /** Per query head, of the last attend: the keys its row used. */
  readonly keysUsed: Float64Array;
  /** The float32 logits' certified margin (KernelRows.margin, as ThresholdRule.sweptRow). */
  private readonly rows: KernelRows;

  constructor(kernels: Kernels, private readonly kvHeads: number, private readonly group: number, dim: number, private readonly valueDim: number,
    private readonly scale: number, private readonly selection: PoolThresholdSelection) {
    this.rows = new KernelRows(kernels, dim, valueDim);
    this.moments = selection === 'paper' ? Array.from({ length: kvHeads }, () => new KeyMoments(dim)) : null;
    this.keyNorm = new Float64Array(kvHeads);
    this.keysUsed = new Float64Array(kvHeads * group);
  }

  /** Notes appended keys ([t, kvHeads, dim]): moments and largest norms per KV head. */
  noteKeys(keys: Float32Array, dim: number): void {
    const rows = keys.length / dim;
    for (let r = 0; r < rows; r++) {
      const g = r % this.kvHeads;
      this.keyNorm[g] = maxRowNorm(keys, dim, r, r + 1, this.keyNorm[g]!);
      this.moments?.[g]!.add(keys, r);
    }
  }

  /**
   * Writes each query head's threshold, its float32 logits' margin (Infinity where float32 scoring
   * is not safe: every candidate then decided in float64) and the scale (float64, L.thresholdWords)
   * to `limits`, and returns KV head g's sweep offsets: t/scale lowered by more than the rounding of
   * that division and of the float64 dot, so the sweep's candidates include every key the float64
   * test keeps.
   */
  prepare(queries: Float32Array, n: number, dim: number, limits: Float64Array): number[][] {
    const heads = this.kvHeads * this.group, scale = this.scale, sel = this.selection, rows = this.rows;
    limits[2 * heads] = scale;
    return Array.from({ length: this.kvHeads }, (_, g) => Array.from({ length: this.group }, (_, j) => {
      const h = g * this.group + j, q = queries.subarray(h * dim, (h + 1) * dim), kn = this.keyNorm[g]!;
      const t = limits[2 * h] = sel === 'paper' ? paperThreshold(q, this.moments![g]!, n, scale) : sel.threshold;
      const qNorm = rows.queryNorm(q);
      limits[2 * h + 1] = rows.usable(qNorm, kn) ? rows.margin(qNorm, kn, scale) : Infinity;
      const off = t / scale;
      return off - Math.abs(off) * 1e-12 - 1e-12 * qNorm * kn;
    }));
  }

  /**
   * Merges the threads' states of every row (log-sum-exp), writes the rows to `out` ([heads,
   * valueDim]) and their keys used; rows no thread kept a key of take their best key's value row.
   */
  finish(buf: ArrayBufferLike, states: readonly number[], certs: readonly number[], queries: Float32Array,
    keys: (g: number) => Float32Array, values: (g: number) => Float32Array, n: number, dim: number, out: Float32Array): void {
    const { group: m, valueDim: dv } = this, heads = this.kvHeads * m, stride = dv + STATE_EXTRA;
    const s0 = new Float32Array(buf, states[0]!, heads * stride);
    for (let t = 1; t < states.length; t++) {
      const st = new Float32Array(buf, states[t]!, heads * stride);
      for (let h = 0; h < heads; h++) lseMerge(s0, h * stride, st, h * stride, dv);
    }
    for (let h = 0; h < heads; h++) {
      let kept = 0;
      for (const c of certs) kept += new Int32Array(buf, c, L.certWords(heads))[L.certTaken(h)]!;
      this.keysUsed[h] = kept;
      if (kept > 0 || n === 0) { finishState(s0, h * stride, dv, out, h * dv); continue; }
      const g = Math.floor(h / m), q = queries.subarray(h * dim, (h + 1) * dim), k = keys(g);
      let best = 0, top = -Infinity;
      for (let j = 0; j < n; j++) {
        const x = exactLogit(q, k, j, dim, this.scale);
        if (x > top) { top = x; best = j; }
      }
      out.set(values(g).subarray(best * dv, (best + 1) * dv), h * dv);
      this.keysUsed[h] = 1;
    }
  }
}
