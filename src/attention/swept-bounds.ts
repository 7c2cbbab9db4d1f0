import type { HalfSpaceReporter } from '../hsr/types.js';
import { grownBuffer } from '../kernels/growable.js';
import { BUCKETS, BUCKETS_PER_NAT } from './buckets.js';
import { GapCounts } from './gap-counts.js';
import type { CoreKernels, F32Buffer, SelectionKernels, U32Buffer } from '../kernels/types.js';

/**
 * Certified selection on float32 logit bounds, with every per-key loop in the kernels: the index's
 * fused sweep writes an upper bound U_j ≥ the exact logit and an estimate C_j for every key and
 * head (`logitBoundsBatch`), `gapHistogram` counts each head's keys in the buckets of buckets.ts
 * (Δ = 1/16 nat below the largest bound, 48 nats deep), JS picks the bucket to stop at from the counts (a bucket's mass is
 * estimated as count·e^{−(b+½)Δ − r̄}, r̄ the head's typical U − C read off 64 sampled keys), and
 * `selectBuckets` lists the taken keys in position order.
 * The certificate: a key in bucket b has e^{U_j − top} ≤ e^{−bΔ} (gapBucket's guarantee), so the
 * mass of every bucket after the stop is at most Σ_{b' > b} count_{b'}·e^{−b'Δ} (relative to top).
 *
 * Compared with the float64 bucket walk (certified.ts, the same buckets) this takes whole buckets —
 * at most e^{Δ} more mass than needed per bucket edge — and touches each key's bound twice in SIMD
 * loops instead of several float64 passes.
 */

/** Keys sampled per head to estimate the typical gap between upper bound and estimate. */
const RADIUS_SAMPLES = 64;

/**
 * Buffers (in the kernels' memory) and bucket arithmetic of swept certified rows for one group of
 * query heads. Views of kernel memory are re-fetched after every call that may allocate.
 */
export class SweptBounds extends GapCounts {
  private upper: F32Buffer;
  private centre: F32Buffer;
  private idBuf: U32Buffer;
  private stride = 0;
  /** The current head's largest upper bound (the histogram's top). */
  top = -Infinity;

  constructor(readonly kernels: CoreKernels & SelectionKernels) {
    super();
    this.upper = kernels.allocF32(16);
    this.centre = kernels.allocF32(16);
    this.idBuf = kernels.allocU32(16);
  }

  /**
   * Bounds of `queries` (one group) against keys [0, limit) of `index`, scaled to logits; false
   * when the index has no fused sweep for them (then callers use the float64 path).
   */
  fill(index: HalfSpaceReporter, queries: readonly Float32Array[], scale: number, limit: number): boolean {
    if (!index.logitBoundsBatch) return false;
    const need = queries.length * limit;
    const f32 = (length: number) => this.kernels.allocF32(length);
    this.upper = grownBuffer(this.upper, need, 0, f32);
    this.centre = grownBuffer(this.centre, need, 0, f32);
    // selectBuckets may write one entry past its matches
    this.idBuf = grownBuffer(this.idBuf, limit + 4, 0, (length) => this.kernels.allocU32(length));
    this.stride = limit;
    return index.logitBoundsBatch(queries, scale, this.upper, this.centre, limit);
  }

  /**
   * Histogram of head h's keys [0, lim) (lim ≤ the filled limit) over `depth` nats below the top
   * (≤ 48; keys further down share the last bucket and its edge): sets `top`, `buckets` and the
   * tail sums. A shallower histogram is cheaper for short rows (fewer buckets to clear, sum and walk)
   * and costs nothing in the certificate when lim·e^{−depth} is negligible next to ε.
   */
  histogram(h: number, lim: number, depth = 48): void {
    const from = h * this.stride, buckets = Math.min(BUCKETS, Math.max(2, Math.ceil(depth * BUCKETS_PER_NAT)));
    this.top = this.kernels.gapHistogram(this.upper.view().subarray(from, from + lim), lim, BUCKETS_PER_NAT, buckets, this.counts);
    this.finishCounts(buckets, Math.exp(-typicalGap(this.upper.view(), this.centre.view(), from, lim)));
  }

  /**
   * Lists head h's keys [0, lim) of buckets (after, b] in position order at ids()[at ..]; returns
   * their number.
   */
  select(h: number, lim: number, after: number, b: number, at: number): number {
    const from = h * this.stride;
    return this.kernels.selectBuckets(this.upper.view().subarray(from, from + lim), lim, this.top, BUCKETS_PER_NAT,
      this.buckets, after + 1, b, 0, this.ids().subarray(at));
  }

  /** The id list (a view of kernel memory: re-fetch after any allocation). */
  ids(): Uint32Array {
    return this.idBuf.view();
  }
}

/**
 * Mean of upper − centre over about RADIUS_SAMPLES evenly spaced keys [from, from + lim): the typical
 * gap between a key's upper bound and its estimate, for the buckets' mass estimates.
 */
export function typicalGap(upper: Float32Array, centre: Float32Array, from: number, lim: number): number {
  const step = Math.max(1, Math.floor(lim / RADIUS_SAMPLES));
  let gap = 0, samples = 0;
  for (let i = 0; i < lim; i += step, samples++) gap += upper[from + i]! - centre[from + i]!;
  return samples > 0 ? gap / samples : 0;
}
