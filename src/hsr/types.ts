/**
 * The contract every half-space reporting structure implements. Points are stored row-major
 * (`point i` = `points[i*dim .. (i+1)*dim)`), ids are insertion order.
 *
 * Exactness band (API.md): `query(a, b)` reports every point with ⟨a,p⟩ ≥ b + 1e-5·‖a‖·‖p‖ and
 * none with ⟨a,p⟩ < b − 1e-5·‖a‖·‖p‖. Implementations verify candidates in float64 from the stored
 * float32 points, so in practice they agree with the `scan` oracle exactly.
 */
export interface QueryStats {
  /** Tree nodes, blocks or compressed keys whose bound was evaluated. */
  nodesVisited: number;
  /** Exact full-precision dot products ⟨a,p⟩ evaluated. */
  pointsScored: number;
  /** Ids returned. */
  reported: number;
}

export interface HalfSpaceReporter {
  readonly kind: string;
  readonly size: number;
  readonly dim: number;
  /** Appends a point (already validated: Float32Array of `dim` finite values); returns its id. */
  insert(point: Float32Array): number;
  /** Ids i with ⟨normal, p_i⟩ ≥ offset, ascending. `normal` is validated by the caller. */
  query(normal: Float32Array, offset: number): Uint32Array;
  /**
   * Certified per-point score bounds: for every id i, `lower[i] ≤ ⟨normal, p_i⟩ ≤ upper[i]`
   * (float64, rounding included). Arrays have at least `size` entries. This is the primitive of
   * top-k selection and certified softmax; `scan` returns the exact scores in both.
   */
  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array): void;
  /** The stored points, row-major; only the first `size*dim` entries are meaningful. */
  points(): Float32Array;
  readonly lastQueryStats: QueryStats;
}

export interface IndexOptions {
  kind?: string;
  /** Points per leaf (trees) or per block (blocked structures). */
  leafSize?: number;
}

export function emptyStats(): QueryStats {
  return { nodesVisited: 0, pointsScored: 0, reported: 0 };
}
