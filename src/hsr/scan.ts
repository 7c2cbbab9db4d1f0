import { dotRow } from './dot.js';
import { GrowableRows } from './growable.js';
import { emptyStats, type HalfSpaceReporter, type QueryStats } from './types.js';

/**
 * Brute force: scores every point. The oracle in tests and the baseline in benchmarks.
 */
export class ScanIndex implements HalfSpaceReporter {
  readonly kind = 'scan';
  readonly lastQueryStats: QueryStats = emptyStats();
  private readonly rows: GrowableRows;

  constructor(points: Float32Array, n: number, readonly dim: number) {
    this.rows = GrowableRows.from(points, n, dim);
  }

  get size(): number { return this.rows.size; }
  points(): Float32Array { return this.rows.data; }
  insert(point: Float32Array): number { return this.rows.push(point); }

  query(normal: Float32Array, offset: number): Uint32Array {
    const { data, size } = this.rows;
    const hits: number[] = [];
    for (let i = 0; i < size; i++) if (dotRow(normal, data, i, this.dim) >= offset) hits.push(i);
    const s = this.lastQueryStats;
    s.nodesVisited = 0; s.pointsScored = size; s.reported = hits.length;
    return Uint32Array.from(hits);
  }

  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array): void {
    const { data, size } = this.rows;
    for (let i = 0; i < size; i++) upper[i] = lower[i] = dotRow(normal, data, i, this.dim);
    const s = this.lastQueryStats;
    s.nodesVisited = 0; s.pointsScored = size; s.reported = 0;
  }
}
