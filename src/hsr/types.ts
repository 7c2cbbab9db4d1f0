/**
 * The contract every half-space reporting structure implements. Points are stored row-major
 * (`point i` = `points[i*dim .. (i+1)*dim)`), ids are insertion order.
 *
 * Exactness band (docs/api.md): `query(a, b)` reports every point with ⟨a,p⟩ ≥ b + 1e-5·‖a‖·‖p‖ and
 * none with ⟨a,p⟩ < b − 1e-5·‖a‖·‖p‖. Implementations verify candidates in float64 from the stored
 * float32 points (`dotRow`, the same arithmetic as `scan`), and every pruning bound is certified to
 * hold for that float64 value too, so in practice every kind agrees with the `scan` oracle exactly.
 *
 * Prefix (`limit`): every query-like method takes an optional `limit`; only ids `< limit` are
 * considered (default and maximum: `size`). This is how causal prefill restricts query i to the keys
 * it may see; implementations prune by position (trees keep per-node minimum ids, `quantized` scans
 * only the prefix) instead of scoring everything and masking afterwards.
 *
 * Inputs reaching a reporter are already validated by the `HalfSpaceIndex` facade (Float32Array of
 * `dim` finite values, finite offsets, integer `limit` in [0, size]); reporters do not re-check.
 */
import type { F32Buffer, Kernels } from '../kernels/types.js';

export interface QueryStats {
  /** Tree nodes, blocks or compressed keys whose bound was evaluated (summed over a batch). */
  nodesVisited: number;
  /**
   * Points scored from their full-precision float32 coordinates (float64 dots, or float32 SIMD dots
   * under a certified margin with a float64 re-check inside it), each counted once (summed over a batch).
   */
  pointsScored: number;
  /** Ids returned (summed over a batch); 0 for `scoreBounds`. */
  reported: number;
}

export interface HalfSpaceReporter {
  readonly kind: string;
  readonly size: number;
  readonly dim: number;
  /** Appends a point (already validated: Float32Array of `dim` finite values); returns its id. */
  insert(point: Float32Array): number;
  /**
   * Ids i < limit with ⟨normal, p_i⟩ ≥ offset (float64 from the stored float32 values), ascending.
   * `limit` defaults to `size`.
   */
  query(normal: Float32Array, offset: number, limit?: number): Uint32Array;
  /**
   * `query` for several normals at once (e.g. the query heads of one KV group), sharing one pass
   * over the index: result h equals `query(normals[h], offsets[h], limit)`. `normals.length ===
   * offsets.length`; `lastQueryStats` holds the sums over the batch (for `quantized`,
   * nodesVisited = normals.length · limit: each compressed key's bound is evaluated once per normal).
   */
  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit?: number): Uint32Array[];
  /**
   * Certified per-point score bounds: for every id i < limit, `lower[i] ≤ ⟨normal, p_i⟩ ≤ upper[i]`
   * where ⟨·,·⟩ is the float64 evaluation from the stored float32 point (the value `query`
   * compares with `offset`); for every kind except `scan` the bounds hold for the exact real dot
   * product too (rounding included). Entries at
   * i ≥ limit are left untouched; arrays need at least `limit` entries (default `size`).
   * This is the primitive of top-k selection and certified softmax. What each kind returns:
   * - `scan`: the float64 scores (upper = lower; the real score is within γ_d·Σ|a_j·p_j|, ~1e-14
   *   relative), pointsScored = limit, nodesVisited = 0.
   * - `quantized`: ⟨q,k̂⟩ ± certified error from one pass over the int8 keys;
   *   nodesVisited = limit, pointsScored = 0.
   * - `ball-tree`: the bounds of the point's leaf node (centre ± radius); nodesVisited = nodes
   *   whose bound was evaluated; points still in the insert buffer are scored exactly (pointsScored).
   */
  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit?: number): void;
  /**
   * `scoreBounds` for several normals sharing one pass: fills `upper[h]`, `lower[h]` for
   * `normals[h]`. Stats are summed over the batch.
   */
  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit?: number): void;
  /**
   * Optional (only `quantized` has it): per normal, ascending, a superset of `queryBatch`'s answer
   * — ids whose certified bound reaches the offset, not checked exactly — for callers that score
   * them exactly anyway. pointsScored = 0.
   */
  candidateBatch?(normals: readonly Float32Array[], offsets: readonly number[], limit?: number): Uint32Array[];
  /**
   * Optional fast path of certified softmax (only `quantized` has it): float32 bounds on logits for
   * a batch of normals, upper[h·limit + i] ≥ scale·⟨normals[h], p_i⟩ (exact real value; scale > 0)
   * and centre[h·limit + i] an estimate of it, computed by the kernels whose memory holds both
   * buffers (the reporter's own kernels). Returns false, writing nothing, when it cannot serve
   * these inputs. nodesVisited = normals.length · limit.
   */
  logitBoundsBatch?(normals: readonly Float32Array[], scale: number, upper: F32Buffer, centre: F32Buffer, limit?: number): boolean;
  /**
   * The stored points, row-major in id order; only the first `size*dim` entries are meaningful.
   * May be a view that `insert` replaces (storage grows by reallocation; `quantized` keeps it in
   * kernel memory): call `points()` again after inserting instead of keeping the array.
   */
  points(): Float32Array;
  /** Bytes of the typed arrays this reporter holds (allocated capacity, stored points included). */
  memoryBytes(): number;
  /** Work done by the most recent query / queryBatch / scoreBounds / scoreBoundsBatch call. */
  readonly lastQueryStats: QueryStats;
}

export interface IndexOptions {
  kind?: string;
  /** Points per leaf (trees) or per block (blocked structures). */
  leafSize?: number;
  /**
   * Kernel backend for kinds that sweep compressed keys (`quantized`); default: a fresh
   * `createKernels()` (WebAssembly SIMD where available, else plain JS) owned by the index.
   */
  kernels?: Kernels;
}

export function emptyStats(): QueryStats {
  return { nodesVisited: 0, pointsScored: 0, reported: 0 };
}

/** Sets all three counters at once (reporters reuse one stats object). */
export function setStats(s: QueryStats, nodesVisited: number, pointsScored: number, reported: number): void {
  s.nodesVisited = nodesVisited; s.pointsScored = pointsScored; s.reported = reported;
}
