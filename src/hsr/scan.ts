import { dotRow } from './dot.js';
import type { Kernels } from '../kernels/types.js';
import { GrowableRows } from '../kernels/growable.js';
import { IdList } from './id-list.js';
import { emptyStats, setStats, type HalfSpaceReporter, type QueryStats } from './types.js';

/**
 * Brute force: scores every point in float64. The oracle in tests and the baseline in benchmarks,
 * and the key store of dense KV caches: given `kernels`, the points live in that backend's memory
 * (like the quantized index's), so kernel calls over `points()` copy nothing.
 */
export class ScanIndex implements HalfSpaceReporter {
  readonly kind = 'scan';
  readonly lastQueryStats: QueryStats = emptyStats();
  private readonly rows: GrowableRows;
  private readonly hits = new IdList();

  constructor(points: Float32Array, n: number, readonly dim: number, kernels?: Kernels) {
    this.rows = GrowableRows.from(points, n, dim, kernels && ((length) => kernels.allocF32(length)));
  }

  get size(): number { return this.rows.size; }
  points(): Float32Array { return this.rows.data; }
  memoryBytes(): number { return this.rows.data.byteLength; }
  insert(point: Float32Array): number { return this.rows.push(point); }

  query(normal: Float32Array, offset: number, limit = this.size): Uint32Array {
    const { data } = this.rows;
    const hits = this.hits.clear();
    for (let i = 0; i < limit; i++) if (dotRow(normal, data, i, this.dim) >= offset) hits.push(i);
    setStats(this.lastQueryStats, 0, limit, hits.length);
    return hits.toArray();
  }

  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit = this.size): Uint32Array[] {
    const out = normals.map((a, h) => this.query(a, offsets[h]!, limit));
    setStats(this.lastQueryStats, 0, limit * normals.length, out.reduce((s, r) => s + r.length, 0));
    return out;
  }

  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit = this.size): void {
    const { data } = this.rows;
    for (let i = 0; i < limit; i++) upper[i] = lower[i] = dotRow(normal, data, i, this.dim);
    setStats(this.lastQueryStats, 0, limit, 0);
  }

  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit = this.size): void {
    normals.forEach((a, h) => this.scoreBounds(a, upper[h]!, lower[h]!, limit));
    setStats(this.lastQueryStats, 0, limit * normals.length, 0);
  }
}
