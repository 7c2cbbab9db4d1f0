import { HsrError } from '../errors.js';
import { assertCount, assertMatrix, assertVector, describe, type Matrix } from '../tensor/matrix.js';
import { ScanIndex } from './scan.js';
import type { HalfSpaceReporter, IndexOptions, QueryStats } from './types.js';

/** Builds a reporter of one kind over n validated points of dimension dim. */
export type ReporterFactory = (points: Float32Array, n: number, dim: number, options: IndexOptions) => HalfSpaceReporter;

const kinds = new Map<string, ReporterFactory>([
  ['scan', (p, n, d) => new ScanIndex(p, n, d)],
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
    return new HalfSpaceIndex(factory(points.data, points.rows, points.cols, options));
  }

  get kind(): string { return this.reporter.kind; }
  get size(): number { return this.reporter.size; }
  get dim(): number { return this.reporter.dim; }
  get lastQueryStats(): QueryStats { return this.reporter.lastQueryStats; }

  insert(point: Float32Array): number {
    assertVector(point, this.dim, 'HalfSpaceIndex.insert point');
    return this.reporter.insert(point);
  }

  query(normal: Float32Array, offset: number): Uint32Array {
    assertVector(normal, this.dim, 'HalfSpaceIndex.query normal');
    if (typeof offset !== 'number' || !Number.isFinite(offset)) {
      throw new HsrError('NON_FINITE', `HalfSpaceIndex.query: expected a finite offset, got ${describe(offset)}`);
    }
    return this.reporter.query(normal, offset);
  }
}
