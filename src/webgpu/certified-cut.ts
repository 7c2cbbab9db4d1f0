/**
 * Certified ε's cut on the GPU's bucket bytes, in float64 (select-wgsl.ts cutSource is the GPU's):
 * the bytes' mass edges and the global rule, which the tests and bench/local-cut.ts hold the GPU to.
 *
 * The certified scan buckets every key's upper and lower bound below its head's anchor a (1/8 nat
 * buckets, one byte a key and head, saturated at 255): a key whose upper bound is in byte b has
 * mass e^{s − a} ≤ e^{−(b − ABOVE)/8}, one whose lower bound is in byte b has mass
 * ≥ e^{−(b − ABOVE + 1)/8} (0 for the saturated byte 255), and a cut at c keeps the keys whose upper
 * byte is < c (c = 256: every key). Byte 0 holds every key more than 7.875 nats above the anchor —
 * its edge caps their lower mass at e^{7.875}, however far above they are; the 'global-top-sum'
 * cut takes those keys' own Σ e^{lo − a} instead (the scan sums it: select-wgsl.ts
 * certifiedScanSource 'top byte').
 */
import { ABOVE } from './select-wgsl.js';

/** Values of a bucket byte; a cut at BYTES keeps every key. */
export const BYTES = 256;

/** Mass bound of a key whose upper-bound byte is b, relative to the anchor. */
export const upperEdge = (b: number): number => Math.exp(-(b - ABOVE) / 8);
/** Mass bound of a key whose lower-bound byte is b (saturated: nothing), relative to the anchor. */
export const lowerEdge = (b: number): number => (b >= BYTES - 1 ? 0 : Math.exp(-(b - ABOVE + 1) / 8));

export interface Cut {
  /** The cut byte c (keys with upper byte < c kept; BYTES: all). */
  c: number;
  /** U(c), the skipped keys' upper mass, and L(c), the kept keys' lower mass (relative to the anchor). */
  U: number; L: number;
  /** Kept flags by key. */
  kept: Uint8Array;
}

/**
 * The global rule on one head's bytes up[k], lo[k]: the smallest c ≥ 1 with U(c) ≤ ratio·L(c),
 * U(c) = Σ_{up ≥ c} upperEdge, L(c) = Σ_{lo < c} lowerEdge — byte 0's term of L the larger of its
 * edge count and `topMass` (those keys' own lower mass) when given.
 */
export function globalCutOfBuckets(up: ArrayLike<number>, lo: ArrayLike<number>, ratio: number, topMass?: number): Cut {
  const ups = new Float64Array(BYTES), los = new Float64Array(BYTES);
  for (let j = 0; j < up.length; j++) { ups[up[j]!]! += 1; los[lo[j]!]! += 1; }
  const S = new Float64Array(BYTES + 1);
  for (let t = BYTES - 1; t >= 0; t--) S[t] = S[t + 1]! + ups[t]! * upperEdge(t);
  let L = 0, c = 1;
  for (; c <= BYTES; c++) {
    const b = c - 1, edges = los[b]! * lowerEdge(b);
    L += b === 0 && topMass !== undefined ? Math.max(topMass, edges) : edges;
    if (c === BYTES || S[c]! <= ratio * L) break;
  }
  return { c, U: S[c]!, L, kept: Uint8Array.from(up, (b) => (b < c ? 1 : 0)) };
}
