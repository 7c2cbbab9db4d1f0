// Keys whose norm exceeds float32's range (finite coordinates up to ±3.4e38): the quantized index
// sweeps in float32, so such keys must still be reported exactly as scan reports them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HalfSpaceIndex, matrix } from '../../src/index.js';
import { dotRow } from '../../src/hsr/dot.js';

const build = (kind: string, data: Float32Array, n: number, d: number) => HalfSpaceIndex.build(matrix(data, n, d), { kind });

test('quantized reports one 8-dim key with coordinates ≈ −2.8e38 exactly as scan and ball-tree do', () => {
  const d = 8, p = new Float32Array(d).fill(-2.8e38);
  const a = new Float32Array(d).fill(-1);
  for (const b of [0, 1e38, 2e39, -1]) {
    const want = [...build('scan', p, 1, d).query(a, b)];
    assert.deepEqual([...build('ball-tree', p, 1, d).query(a, b)], want, `ball-tree b=${b}`);
    assert.deepEqual([...build('quantized', p, 1, d).query(a, b)], want, `quantized b=${b}`);
  }
});

/** Points: mostly Gaussian, some with coordinates near ±3e38 (norms far beyond float32), some mixed. */
const caseArb = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  n: fc.integer({ min: 1, max: 120 }),
  dim: fc.constantFrom(2, 8, 64),
  hugeShare: fc.double({ min: 0.02, max: 0.5, noNaN: true }),
  querySize: fc.constantFrom(1e-30, 1, 1e30),
});

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

test('quantized equals scan on keys with coordinates ≈ ±3e38 mixed with ordinary keys: query, queryBatch, inserts, candidates and bounds', () => {
  fc.assert(fc.property(caseArb, ({ seed, n, dim, hugeShare, querySize }) => {
    const r = rng(seed);
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const huge = r() < hugeShare;
      for (let j = 0; j < dim; j++) {
        data[i * dim + j] = huge ? (r() < 0.5 ? -1 : 1) * (r() < 0.3 ? 3.4e38 : 3e38 * r()) : (r() - 0.5) * 4;
      }
    }
    const half = n >> 1;
    const scan = build('scan', data, n, dim);
    const quant = build('quantized', data.subarray(0, half * dim), half, dim);
    for (let i = half; i < n; i++) quant.insert(data.subarray(i * dim, (i + 1) * dim));
    const normals = [0, 1, 2].map(() => Float32Array.from({ length: dim }, () => (r() - 0.5) * querySize));
    for (const a of normals) {
      const scores = Array.from({ length: n }, (_, i) => dotRow(a, data, i, dim)).sort((x, y) => x - y);
      const offsets = [0, scores[0]!, scores[n >> 1]!, scores[n - 1]!, 1, -1].filter(Number.isFinite);
      for (const b of offsets) {
        const want = [...scan.query(a, b)];
        assert.deepEqual([...quant.query(a, b)], want, `b=${b}`);
        const stats = quant.lastQueryStats;
        assert.ok(stats.reported === want.length && stats.pointsScored <= n, `stats ${JSON.stringify(stats)}`);
        const limit = n >> 1;
        assert.deepEqual([...quant.query(a, b, limit)], [...scan.query(a, b, limit)], `b=${b} limit=${limit}`);
        const candidates = new Set(quant.reporter.candidateBatch!([a], [b])[0]);
        for (const id of want) assert.ok(candidates.has(id), `candidate ${id} missing for b=${b}`);
      }
      const batch = quant.queryBatch(normals, [0, 0, 0]).map((x) => [...x]);
      assert.deepEqual(batch, normals.map((x) => [...scan.query(x, 0)]));
      const up = new Float64Array(n), lo = new Float64Array(n);
      quant.scoreBounds(a, up, lo);
      for (let i = 0; i < n; i++) {
        const s = dotRow(a, data, i, dim);
        assert.ok(lo[i]! <= s && s <= up[i]!, `bounds of key ${i}: ${lo[i]} ≤ ${s} ≤ ${up[i]}`);
      }
    }
  }), { numRuns: 60 });
});
