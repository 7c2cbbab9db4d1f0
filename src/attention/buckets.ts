/**
 * The one bucket scheme of certified selection, shared by the float64 bucket walk (certified.ts)
 * and the fused sweep's float32 buckets (swept-bounds.ts, the kernels' gapHistogram): a key goes to
 * bucket b = ⌊(top − U_j)·W⌋ by how far its upper bound U_j lies below the row's largest one, in
 * buckets of Δ = 1/W nat, DEPTH nats deep; the last bucket takes everything further down. A key of
 * bucket b weighs at most e^{−bΔ} relative to the top key (each path's bucket function guarantees
 * b ≤ W·(top − U_j) in its own arithmetic), which is what the certified bound adds up.
 */

/** Buckets per nat (W = 1/Δ): a power of two, as gapHistogram requires. */
export const BUCKETS_PER_NAT = 16;
/** Nats of buckets: the last one (everything further down) weighs e^{−47.9} ≈ 1.6e−21 per key. */
export const BUCKET_DEPTH = 48;
export const BUCKETS = BUCKET_DEPTH * BUCKETS_PER_NAT;
/** e^{−b/W}: the largest weight relative to the top a key of bucket b can have. */
export const BUCKET_EDGE = Float64Array.from({ length: BUCKETS }, (_, b) => Math.exp(-b / BUCKETS_PER_NAT));
