// The work counters are what benchmarks report: check they count what was done, and that each
// kind prunes where it should (these fail if a bound gets loose or pruning stops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HalfSpaceIndex, matrix } from '../../src/index.js';
import { dotRow } from '../../src/hsr/dot.js';
import { normal, points } from './datasets.js';

/** The offset that activates about `fraction` of the points for normal a. */
function quantileOffset(a: Float32Array, data: Float32Array, n: number, d: number, fraction: number): number {
  const s = Array.from({ length: n }, (_, i) => dotRow(a, data, i, d)).sort((x, y) => y - x);
  return s[Math.floor(fraction * n)]!;
}

test('scan scores every point of the prefix; quantized evaluates every compressed key of it', () => {
  const n = 500, d = 16, data = points('gaussian', n, d, 1), a = normal('gaussian', d, 1);
  const scan = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'scan' });
  const quant = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'quantized' });
  scan.query(a, 0, 300);
  assert.deepEqual(scan.lastQueryStats, { nodesVisited: 0, pointsScored: 300, reported: scan.query(a, 0, 300).length });
  const hits = quant.query(a, 1, 300);
  assert.equal(quant.lastQueryStats.nodesVisited, 300);
  assert.equal(quant.lastQueryStats.reported, hits.length);
  quant.queryBatch([a, a, a, a], [1, 1, 2, 3], 300);
  assert.equal(quant.lastQueryStats.nodesVisited, 4 * 300);
  quant.scoreBounds(a, new Float64Array(n), new Float64Array(n), 200);
  assert.deepEqual(quant.lastQueryStats, { nodesVisited: 200, pointsScored: 0, reported: 0 });
});

test('quantized candidates stay close to the active set on Gaussian keys (d = 64, 128)', () => {
  for (const d of [64, 128]) {
    const n = 4000, data = points('gaussian', n, d, d);
    const idx = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'quantized' });
    for (const fraction of [0.01, 0.25]) {
      const a = normal('gaussian', d, 5);
      idx.query(a, quantileOffset(a, data, n, d, fraction));
      const { pointsScored, reported } = idx.lastQueryStats;
      assert.ok(pointsScored <= 1.5 * reported + 0.01 * n, `d=${d} ${fraction}: ${pointsScored} scored for ${reported} reported`);
    }
  }
});

test('ball-tree prunes on low-dimensional and clustered keys, and reports whole subtrees unscored', () => {
  const n = 20000;
  for (const [shape, d] of [['gaussian', 2], ['clustered', 8], ['clustered', 64]] as const) {
    const data = points(shape, n, d, 3);
    const idx = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'ball-tree' });
    const a = normal(shape, d, 4);
    idx.query(a, quantileOffset(a, data, n, d, 0.01));
    assert.ok(idx.lastQueryStats.pointsScored < 0.2 * n, `${shape} d=${d}: ${idx.lastQueryStats.pointsScored} of ${n} scored`);
    idx.query(a, quantileOffset(a, data, n, d, 0.5));
    const { pointsScored, reported } = idx.lastQueryStats;
    assert.ok(pointsScored < reported, `${shape} d=${d}: half active, ${pointsScored} scored for ${reported} reported`);
  }
});

test('ball-tree prefix queries prune by position, not by masking after scoring', () => {
  // Ids follow position along a line, so a prefix is a few subtrees.
  const n = 8192, d = 2, data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) { data[2 * i] = i; data[2 * i + 1] = Math.sin(i); }
  const idx = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'ball-tree' });
  const a = new Float32Array([0, 1]);
  const hits = idx.query(a, 0.5, 1000);
  assert.ok(hits.every((id) => id < 1000));
  assert.ok(idx.lastQueryStats.pointsScored <= 1000 + 64, `${idx.lastQueryStats.pointsScored} scored for a prefix of 1000`);
  idx.query(a, -1e9, 0);
  assert.deepEqual(idx.lastQueryStats, { nodesVisited: 0, pointsScored: 0, reported: 0 });
});
