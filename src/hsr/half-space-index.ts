import { HsrError } from '../errors.js';
import { assertCount, assertMatrix, assertVector, describe, type Matrix } from '../tensor/matrix.js';
import { BallTreeIndex } from './ball-tree.js';
import { QuantizedIndex } from './quantized.js';
import { ScanIndex } from './scan.js';
import type { HalfSpaceReporter, IndexOptions, QueryStats } from './types.js';

/** Builds a reporter of one kind over n validated points of dimension dim. */
export type ReporterFactory = (points: Float32Array, n: number, dim: number, options: IndexOptions) => HalfSpaceReporter;

const kinds = new Map<string, ReporterFactory>([
  ['scan', (p, n, d, o) => new ScanIndex(p, n, d, o.kernels)],
  ['quantized', (p, n, d, o) => new QuantizedIndex(p, n, d, o.kernels)],
  ['ball-tree', (p, n, d, o) => new BallTreeIndex(p, n, d, o.leafSize)],
]);

/** Registers an index kind under `name` (used by the built-in kinds; open to extensions). */
export function registerIndexKind(name: string, factory: ReporterFactory): void {
  kinds.set(name, factory);
}

/** The names `HalfSpaceIndex.build` accepts as `kind`. */
export function indexKinds(): string[] {
  return [...kinds.keys()];
}

/**
 * Half-space reporting: `query(a, b)` returns the ids of the stored points p with ⟨a,p⟩ ≥ b.
 * This class validates at the boundary and delegates to one `HalfSpaceReporter` kind.
 */
export class HalfSpaceIndex {
  private constructor(readonly reporter: HalfSpaceReporter) {}

  static build(points: Matrix, options: IndexOptions = {}): HalfSpaceIndex {
    assertMatrix(points, 'HalfSpaceIndex.build points');
    if (options === null || typeof options !== 'object') {
      throw new HsrError('BAD_OPTION', `HalfSpaceIndex.build: expected an options object, got ${describe(options)}`);
    }
    const kind = options.kind ?? 'scan';
    const factory = kinds.get(kind);
    if (!factory) {
      throw new HsrError('BAD_OPTION', `HalfSpaceIndex.build: expected kind one of ${indexKinds().join(', ')}, got ${describe(kind)}`);
    }
    if (options.leafSize !== undefined) {
      assertCount(options.leafSize, 'HalfSpaceIndex.build leafSize');
      if (options.leafSize < 1) throw new HsrError('BAD_OPTION', `HalfSpaceIndex.build: expected leafSize ≥ 1, got ${options.leafSize}`);
    }
    if (options.kernels !== undefined && typeof options.kernels?.scoreBlockI8 !== 'function') {
      throw new HsrError('BAD_OPTION', `HalfSpaceIndex.build: expected kernels from createKernels(), got ${describe(options.kernels)}`);
    }
    return new HalfSpaceIndex(factory(points.data, points.rows, points.cols, options));
  }

  get kind(): string { return this.reporter.kind; }
  get size(): number { return this.reporter.size; }
  get dim(): number { return this.reporter.dim; }
  get lastQueryStats(): QueryStats { return this.reporter.lastQueryStats; }
  /** Bytes of the typed arrays the index holds (allocated capacity, stored points included). */
  memoryBytes(): number { return this.reporter.memoryBytes(); }

  insert(point: Float32Array): number {
    assertVector(point, this.dim, 'HalfSpaceIndex.insert point');
    return this.reporter.insert(point);
  }

  /** Ids i < limit (default `size`) with ⟨normal, p_i⟩ ≥ offset, ascending. */
  query(normal: Float32Array, offset: number, limit?: number): Uint32Array {
    assertVector(normal, this.dim, 'HalfSpaceIndex.query normal');
    assertOffset(offset, 'HalfSpaceIndex.query');
    return this.reporter.query(normal, offset, this.checkLimit(limit, 'HalfSpaceIndex.query'));
  }

  /**
   * `query` for several normals sharing one pass over the index (the query heads of one KV group):
   * result h = `query(normals[h], offsets[h], limit)`; `lastQueryStats` sums over the batch.
   */
  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit?: number): Uint32Array[] {
    const what = 'HalfSpaceIndex.queryBatch';
    this.checkNormals(normals, offsets.length, what);
    offsets.forEach((b) => assertOffset(b, what));
    return this.reporter.queryBatch(normals, offsets, this.checkLimit(limit, what));
  }

  /**
   * Certified bounds `lower[i] ≤ ⟨normal, p_i⟩ ≤ upper[i]` for every id i < limit (default `size`);
   * `upper` and `lower` need at least `limit` entries. See `HalfSpaceReporter.scoreBounds`.
   */
  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit?: number): void {
    const what = 'HalfSpaceIndex.scoreBounds';
    assertVector(normal, this.dim, `${what} normal`);
    const lim = this.checkLimit(limit, what);
    assertBoundArrays(upper, lower, lim, what);
    this.reporter.scoreBounds(normal, upper, lower, lim);
  }

  /** `scoreBounds` for several normals sharing one pass: fills `upper[h]`, `lower[h]` for `normals[h]`. */
  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit?: number): void {
    const what = 'HalfSpaceIndex.scoreBoundsBatch';
    this.checkNormals(normals, upper.length, what);
    const lim = this.checkLimit(limit, what);
    if (lower.length !== normals.length) {
      throw new HsrError('SHAPE_MISMATCH', `${what}: expected ${normals.length} lower arrays, got ${lower.length}`);
    }
    normals.forEach((_, h) => assertBoundArrays(upper[h], lower[h], lim, what));
    this.reporter.scoreBoundsBatch(normals, upper, lower, lim);
  }

  private checkLimit(limit: number | undefined, what: string): number {
    if (limit === undefined) return this.size;
    assertCount(limit, `${what} limit`);
    if (limit > this.size) throw new HsrError('BAD_OPTION', `${what}: expected limit ≤ size ${this.size}, got ${limit}`);
    return limit;
  }

  private checkNormals(normals: readonly Float32Array[], expected: number, what: string): void {
    if (!Array.isArray(normals)) throw new HsrError('BAD_DTYPE', `${what}: expected an array of normals, got ${describe(normals)}`);
    if (normals.length !== expected) {
      throw new HsrError('SHAPE_MISMATCH', `${what}: expected ${expected} normals (one per offset / bound array), got ${normals.length}`);
    }
    normals.forEach((a, h) => assertVector(a, this.dim, `${what} normals[${h}]`));
  }
}

function assertOffset(offset: unknown, what: string): asserts offset is number {
  if (typeof offset !== 'number' || !Number.isFinite(offset)) {
    throw new HsrError('NON_FINITE', `${what}: expected a finite offset, got ${describe(offset)}`);
  }
}

function assertBoundArrays(upper: unknown, lower: unknown, limit: number, what: string): void {
  for (const [name, arr] of [['upper', upper], ['lower', lower]] as const) {
    if (!(arr instanceof Float64Array)) throw new HsrError('BAD_DTYPE', `${what} ${name}: expected a Float64Array, got ${describe(arr)}`);
    if (arr.length < limit) throw new HsrError('SHAPE_MISMATCH', `${what} ${name}: expected at least ${limit} entries, got ${arr.length}`);
  }
}
