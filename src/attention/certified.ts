/**
 * Loops of certified mode (see certified-rule.ts CertifiedRule.row and docs/softmax.md): bucket the keys by
 * how far their upper bound lies below the largest one, walk them in that order on bounds only,
 * then score the taken keys (gathered by id). Plain functions of typed arrays (row-loops.ts
 * says why).
 */

import { BUCKETS, BUCKETS_PER_NAT, BUCKET_EDGE } from './buckets.js';

/** Gaps at or beyond this go to the tail bucket (buckets.ts: Δ = 1/BUCKETS_PER_NAT nat). */
const TAIL_GAP = (BUCKETS - 1) / BUCKETS_PER_NAT;

/** max_j up[j]·scale over j < limit (m0; = scale·max up[j], rounding is monotone). */
export function maxUpper(up: Float64Array, limit: number, scale: number): number {
  let m = -Infinity;
  for (let j = 0; j < limit; j++) if (up[j]! > m) m = up[j]!;
  return m * scale;
}

/**
 * Counting sort of ids j < limit by bucket ⌊(m0 − up[j]·scale)/Δ⌋ (stable: ascending ids within a
 * bucket). Fills start[0..BUCKETS] (bucket b = ids[start[b] .. start[b+1])) and
 * tail[b] = Σ_{b' ≥ b} count_{b'}·e^{−b'Δ}, the bound on the mass of buckets b and beyond.
 */
export function bucketByGap(up: Float64Array, scale: number, limit: number, m0: number, bucketOfKey: Uint16Array,
  start: Int32Array, fill: Int32Array, ids: Uint32Array, tail: Float64Array): void {
  start.fill(0);
  for (let j = 0; j < limit; j++) {
    const gap = m0 - up[j]! * scale;
    const b = gap < TAIL_GAP ? (gap * BUCKETS_PER_NAT) | 0 : BUCKETS - 1;
    bucketOfKey[j] = b;
    start[b + 1]!++;
  }
  for (let b = 0; b < BUCKETS; b++) { start[b + 1]! += start[b]!; fill[b] = start[b]!; }
  for (let j = 0; j < limit; j++) ids[fill[bucketOfKey[j]!]!++] = j;
  tail[BUCKETS] = 0;
  for (let b = BUCKETS - 1; b >= 0; b--) tail[b] = tail[b + 1]! + (start[b + 1]! - start[b]!) * BUCKET_EDGE[b]!;
}

/**
 * A lower bound on how many keys the walk will take, from the bucket counts alone: the estimated
 * weight of buckets 0..b is at most tail[0] − tail[b+1] (relative to m0) and the mass left after
 * them is tail[b+1], so the walk cannot stop inside a bucket before the first b with
 * tail[b+1] ≤ stopAt·(tail[0] − tail[b+1]); it takes at least the keys of the buckets before that b.
 */
export function minWalk(start: Int32Array, tail: Float64Array, stopAt: number): number {
  const total = tail[0]!;
  for (let b = 0; b < BUCKETS; b++) {
    if (tail[b + 1]! <= stopAt * (total - tail[b + 1]!)) return start[b]!;
  }
  return start[BUCKETS - 1]!;
}

/**
 * Phase 1, bounds only: takes ids in bucket order until U/(Ŵ + U) ≤ ε, Ŵ summing the taken keys'
 * estimated weights (bound midpoints: for 'quantized' the int8 score), U the bucket bound on the
 * rest. Relative terms: Ŵ = w·e^{mw}, U = u·e^{m0}, f = e^{m0−mw} recomputed only when mw rises, so
 * the test costs two multiplications per key. Gives up once `maxTake` keys are taken (the caller
 * then goes dense). Returns the number taken; res[0] = u, res[1] = the bucket of the last taken
 * key, res[2] = the largest estimated logit.
 */
export function walkBounds(ids: Uint32Array, up: Float64Array, lo: Float64Array, scale: number, start: Int32Array,
  tail: Float64Array, m0: number, stopAt: number, maxTake: number, res: Float64Array): number {
  let mw = -Infinity, w = 0, f = Infinity, taken = 0, u = tail[0]!, b = 0;
  for (; b < BUCKETS; b++) {
    const end = start[b + 1]!;
    while (taken < end) {
      const j = ids[taken++]!;
      const e = 0.5 * (lo[j]! + up[j]!) * scale;
      if (e > mw) { w *= Math.exp(mw - e); mw = e; f = Math.exp(m0 - mw); }
      w += Math.exp(e - mw);
      u = (end - taken) * BUCKET_EDGE[b]! + tail[b + 1]!;
      if (u * f <= stopAt * w || taken >= maxTake) break;
    }
    if (u * f <= stopAt * w || taken >= maxTake) break;
  }
  res[0] = u; res[1] = Math.min(b, BUCKETS - 1); res[2] = mw;
  return taken;
}

/**
 * Σ_{from ≤ p < to} e^{up[ids[p]]·scale − m0}, terms under e^{cut} counted as `floor` = e^{cut} (see
 * massCut): the skipped keys' own bounds, relative to m0.
 */
export function skippedMass(ids: Uint32Array, up: Float64Array, scale: number, from: number, to: number, m0: number, cut: number, floor: number): number {
  let mass = 0;
  for (let p = from; p < to; p++) {
    const e = up[ids[p]!]! * scale - m0;
    mass += e < cut ? floor : Math.exp(e);
  }
  return mass;
}

/**
 * Reorders ids[0..taken) (distinct, < limit) ascending: mark them, then one pass over [0, limit) —
 * O(limit) byte reads, cheaper than sorting the ~10% of keys a certified row takes. marks[0..limit)
 * must be 0 and is left 0; order is scratch.
 */
export function positionOrder(ids: Uint32Array, taken: number, limit: number, marks: Uint8Array, order: Uint32Array): void {
  for (let p = 0; p < taken; p++) marks[ids[p]!] = 1;
  let c = 0;
  for (let j = 0; j < limit; j++) if (marks[j]) { marks[j] = 0; order[c++] = j; }
  for (let p = 0; p < taken; p++) ids[p] = order[p]!;
}
