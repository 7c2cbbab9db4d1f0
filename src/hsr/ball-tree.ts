import { buildBallTree, type BallTree } from './ball-tree-build.js';
import { dotRow } from './dot.js';
import { GrowableRows } from '../kernels/growable.js';
import { IdList } from './id-list.js';
import { normUp, roundingSlack } from './rounding.js';
import { emptyStats, setStats, type HalfSpaceReporter, type QueryStats } from './types.js';

export const DEFAULT_LEAF_SIZE = 32;
/** Inserted points wait in a brute-force buffer until it exceeds this fraction of the tree's size. */
const REBUILD_FRACTION = 1 / 8;

/**
 * Ball tree (ball-tree-build.ts) with exact leaves. For a normal a and offset b, a node with centre
 * c and certified radius r is
 *   pruned          when fl(⟨a,c⟩) + ‖a‖·r < b   (no point inside can reach b),
 *   reported whole  when fl(⟨a,c⟩) − ‖a‖·r ≥ b   (every point inside passes; no point is scored),
 * otherwise split; leaves score their points in float64 (`dotRow`, identical to `scan`).
 * Prefix queries (`limit`) skip subtrees whose minimum id is ≥ limit and filter ids in whole
 * reports and leaves.
 *
 * Inserts: points appended after the last build wait in a buffer (ids ≥ the tree's size) that
 * queries score brute force; when the buffer exceeds max(leafSize, size/8) the tree is rebuilt over
 * everything. Rebuilds cost O(n·d·log n), so each insert costs amortised O(8·d·log n) and queries
 * score at most n/9 buffered points beyond the tree's own.
 */
export class BallTreeIndex implements HalfSpaceReporter {
  readonly kind = 'ball-tree';
  readonly lastQueryStats: QueryStats = emptyStats();
  private readonly rows: GrowableRows;
  private readonly g: number;
  private tree: BallTree;
  private stack: Int32Array;
  private readonly hits = new IdList();

  constructor(points: Float32Array, n: number, readonly dim: number, private readonly leafSize = DEFAULT_LEAF_SIZE) {
    this.rows = GrowableRows.from(points, n, dim);
    this.g = roundingSlack(dim);
    this.tree = buildBallTree(this.rows.data, n, dim, leafSize);
    this.stack = new Int32Array(this.tree.nodes + 1);
  }

  get size(): number { return this.rows.size; }
  points(): Float32Array { return this.rows.data; }

  memoryBytes(): number {
    const t = this.tree;
    return this.rows.data.byteLength + t.order.byteLength + t.ordered.byteLength + t.start.byteLength + t.end.byteLength
      + t.right.byteLength + t.centres.byteLength + t.slack.byteLength + t.minId.byteLength + t.maxId.byteLength
      + this.stack.byteLength;
  }

  insert(point: Float32Array): number {
    const id = this.rows.push(point);
    if (this.size - this.tree.size > Math.max(this.leafSize, this.tree.size * REBUILD_FRACTION)) {
      this.tree = buildBallTree(this.rows.data, this.size, this.dim, this.leafSize);
      this.stack = new Int32Array(this.tree.nodes + 1);
    }
    return id;
  }

  query(normal: Float32Array, offset: number, limit = this.size): Uint32Array {
    const { tree: t, dim, stack } = this;
    const hits = this.hits.clear();
    const qNorm = normUp(normal, this.g);
    let visited = 0, scored = 0, sp = 0;
    if (t.nodes > 0) stack[sp++] = 0;
    while (sp > 0) {
      const node = stack[--sp]!;
      if (t.minId[node]! >= limit) continue;
      visited++;
      const centre = dotRow(normal, t.centres, node, dim);
      const radius = qNorm * t.slack[node]!;
      if (centre + radius < offset) continue;
      const lo = t.start[node]!, hi = t.end[node]!;
      if (centre - radius >= offset) {
        if (t.maxId[node]! < limit) for (let pos = lo; pos < hi; pos++) hits.push(t.order[pos]!);
        else for (let pos = lo; pos < hi; pos++) { const id = t.order[pos]!; if (id < limit) hits.push(id); }
      } else if (t.right[node]! < 0) {
        for (let pos = lo; pos < hi; pos++) {
          const id = t.order[pos]!;
          if (id >= limit) continue;
          scored++;
          if (dotRow(normal, t.ordered, pos, dim) >= offset) hits.push(id);
        }
      } else {
        stack[sp++] = t.right[node]!;
        stack[sp++] = node + 1;
      }
    }
    const treeHits = hits.length;
    hits.ids.subarray(0, treeHits).sort();
    for (let id = t.size; id < limit; id++) {
      scored++;
      if (dotRow(normal, this.rows.data, id, dim) >= offset) hits.push(id);
    }
    setStats(this.lastQueryStats, visited, scored, hits.length);
    return hits.toArray();
  }

  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit = this.size): Uint32Array[] {
    const sum = emptyStats();
    const out = normals.map((a, h) => {
      const r = this.query(a, offsets[h]!, limit);
      addStats(sum, this.lastQueryStats);
      return r;
    });
    setStats(this.lastQueryStats, sum.nodesVisited, sum.pointsScored, sum.reported);
    return out;
  }

  /** Each point gets its leaf's bounds (one centre dot per leaf); buffered points get exact scores. */
  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit = this.size): void {
    const { tree: t, dim } = this;
    const qNorm = normUp(normal, this.g);
    let visited = 0, scored = 0;
    for (let node = 0; node < t.nodes; node++) {
      if (t.right[node]! >= 0 || t.minId[node]! >= limit) continue;
      visited++;
      const centre = dotRow(normal, t.centres, node, dim);
      const radius = qNorm * t.slack[node]!;
      for (let pos = t.start[node]!; pos < t.end[node]!; pos++) {
        const id = t.order[pos]!;
        if (id < limit) { upper[id] = centre + radius; lower[id] = centre - radius; }
      }
    }
    for (let id = t.size; id < limit; id++) {
      scored++;
      upper[id] = lower[id] = dotRow(normal, this.rows.data, id, dim);
    }
    setStats(this.lastQueryStats, visited, scored, 0);
  }

  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit = this.size): void {
    const sum = emptyStats();
    normals.forEach((a, h) => {
      this.scoreBounds(a, upper[h]!, lower[h]!, limit);
      addStats(sum, this.lastQueryStats);
    });
    setStats(this.lastQueryStats, sum.nodesVisited, sum.pointsScored, 0);
  }
}

function addStats(sum: QueryStats, s: QueryStats): void {
  sum.nodesVisited += s.nodesVisited; sum.pointsScored += s.pointsScored; sum.reported += s.reported;
}
