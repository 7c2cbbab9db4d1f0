import { BUCKETS, BUCKETS_PER_NAT, BUCKET_EDGE } from './buckets.js';

/**
 * The bucket edges as a module-local binding: the per-row loops below read them hundreds of times a
 * row, and a module loader that turns imports into getters (tsx, CommonJS bundles) would call one per read.
 */
const EDGE = BUCKET_EDGE;
/** e^{−(b+½)/W}: a bucket's mid weight, for estimates. */
const MID = BUCKET_EDGE.map((e) => e * Math.exp(-0.5 / BUCKETS_PER_NAT));

/**
 * One row's key counts per gap bucket (buckets.ts) below its top upper bound, and the arithmetic
 * certified selection does on them: where to stop, how many keys that takes, and the certified
 * bound on the mass of the buckets after the stop. Filled by the kernels' gapHistogram on one key
 * array (SweptBounds) or by merging the histograms of several key ranges (the decode pool's
 * certified rows, src/kernels/pool/certified.ts).
 */
export class GapCounts {
  /** Counts in [0, buckets); the rest is gapHistogram's scratch (4·BUCKETS). */
  readonly counts = new Int32Array(4 * BUCKETS);
  /** tail[b] = Σ_{b' ≥ b} counts[b']·EDGE[b'] (relative to top), tail[buckets] = 0. */
  private readonly tail = new Float64Array(BUCKETS + 1);
  /** The row's bucket count (≤ BUCKETS); the last bucket takes everything below. */
  buckets = BUCKETS;
  /** e^{−r̄}: a key's estimated weight is its bucket's mid weight times this (r̄: typical upper − estimate). */
  private shrink = 1;

  /** Sets the bucket count and estimate factor once `counts` holds the row's counts; sums the tails. */
  finishCounts(buckets: number, shrink: number): void {
    this.buckets = buckets;
    this.shrink = shrink;
    const { tail, counts } = this;
    tail[buckets] = 0;
    for (let b = buckets - 1; b >= 0; b--) tail[b] = tail[b + 1]! + counts[b]! * EDGE[b]!;
  }

  /**
   * The first bucket b > after at which taking buckets (after, b] is estimated to certify:
   * tail[b + 1] ≤ stopAt·(known + Σ_{after < b' ≤ b} estimate[b']), masses relative to top
   * (`known`: the mass already taken). The last bucket when none does.
   */
  stopBucket(stopAt: number, after: number, known: number): number {
    let w = known;
    for (let b = after + 1; b < this.buckets; b++) {
      w += this.counts[b]! * MID[b]! * this.shrink;
      if (this.counts[b]! > 0 && this.tail[b + 1]! <= stopAt * w) return b;
    }
    return this.buckets - 1;
  }

  /** Keys in buckets (after, b]. */
  countBetween(after: number, b: number): number {
    let c = 0;
    for (let x = after + 1; x <= b; x++) c += this.counts[x]!;
    return c;
  }

  /** Bound on the mass (relative to top) of the keys in buckets after b. */
  massAfter(b: number): number { return this.tail[b + 1]!; }
}
