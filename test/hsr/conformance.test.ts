// Every index kind against the scan oracle. Candidates are verified with the same float64 dot as
// scan and every bound is certified for that value, so results must agree exactly (stronger than
// the docs/api.md band).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HalfSpaceIndex, indexKinds, matrix } from '../../src/index.js';
import { dotRow } from '../../src/hsr/dot.js';
import { createKernels } from '../../src/kernels/index.js';
import { SHAPES, normal, points, type Shape } from './datasets.js';
import { exactDotScaled, scaled } from './exact.js';

const KINDS = indexKinds().filter((k) => k !== 'scan');
const DIMS = [2, 8, 64, 128];

/** Offsets worth testing for one normal: score quantiles, exact scores of points (on the hyperplane), 0. */
function offsetsFor(scores: number[], pick: number): number[] {
  if (scores.length === 0) return [0, 1];
  const sorted = [...scores].sort((x, y) => y - x);
  const at = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))]!;
  return [at(0.01), at(0.25), at(0.9), scores[pick % scores.length]!, 0, -Math.abs(at(0)) - 1];
}

function build(kind: string, data: Float32Array, n: number, d: number, leafSize?: number): HalfSpaceIndex {
  return HalfSpaceIndex.build(matrix(data.subarray(0, n * d), n, d), leafSize === undefined ? { kind } : { kind, leafSize });
}

const caseArb = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  dim: fc.constantFrom(...DIMS),
  n: fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: 3, max: 300 })),
  shape: fc.constantFrom<Shape>(...SHAPES),
  leafSize: fc.constantFrom(1, 3, 8, 32),
  limitFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  pick: fc.nat(),
});

test('query(a, b) and queryBatch equal scan for every kind, limit (prefix) included', () => {
  fc.assert(fc.property(caseArb, ({ seed, dim, n, shape, leafSize, limitFraction, pick }) => {
    const data = points(shape, n, dim, seed);
    const oracle = build('scan', data, n, dim);
    const indexes = KINDS.map((k) => build(k, data, n, dim, leafSize));
    const limit = Math.floor(limitFraction * n);
    for (let h = 0; h < 3; h++) {
      const a = normal(shape, dim, seed + h);
      const scores = Array.from({ length: n }, (_, i) => dotRow(a, data, i, dim));
      const offsets = offsetsFor(scores, pick + h);
      for (const b of offsets) {
        const want = [...oracle.query(a, b)];
        const wantPrefix = [...oracle.query(a, b, limit)];
        for (const idx of indexes) {
          assert.deepEqual([...idx.query(a, b)], want, `${idx.kind} ${shape} d=${dim} n=${n} b=${b}`);
          assert.ok(idx.lastQueryStats.reported === want.length && idx.lastQueryStats.pointsScored <= n);
          assert.deepEqual([...idx.query(a, b, limit)], wantPrefix, `${idx.kind} limit=${limit}`);
        }
      }
      const normals = offsets.map((_, k) => normal(shape, dim, seed + 7 * k + h));
      for (const idx of indexes) {
        const batch = idx.queryBatch(normals, offsets, limit);
        const single = normals.map((x, k) => [...oracle.query(x, offsets[k]!, limit)]);
        assert.deepEqual(batch.map((r) => [...r]), single, `${idx.kind} queryBatch`);
        assert.equal(idx.lastQueryStats.reported, single.reduce((s, r) => s + r.length, 0));
      }
    }
  }), { numRuns: 200 });
});

test('scoreBounds bound the float64 score; quantized and ball-tree bound the exact real score too', () => {
  fc.assert(fc.property(caseArb, ({ seed, dim, n, shape, leafSize, limitFraction }) => {
    const data = points(shape, Math.min(n, 120), dim, seed);
    const m = Math.min(n, 120);
    const limit = Math.floor(limitFraction * m);
    for (const kind of indexKinds()) {
      const idx = build(kind, data, m, dim, leafSize);
      const normals = [0, 1, 2].map((h) => normal(shape, dim, seed + h));
      const upper = normals.map(() => new Float64Array(m).fill(NaN));
      const lower = normals.map(() => new Float64Array(m).fill(NaN));
      idx.scoreBoundsBatch(normals, upper, lower, limit);
      normals.forEach((a, h) => {
        for (let i = 0; i < m; i++) {
          if (i >= limit) { assert.ok(Number.isNaN(upper[h]![i]!), 'entries past limit stay untouched'); continue; }
          const computed = dotRow(a, data, i, dim);
          assert.ok(lower[h]![i]! <= computed && computed <= upper[h]![i]!, `${kind} float64 score ${computed} in [${lower[h]![i]}, ${upper[h]![i]}]`);
          if (kind === 'scan') continue; // scan returns the float64 score itself
          const exact = exactDotScaled(a, data, i, dim);
          assert.ok(scaled(lower[h]![i]!) <= exact && exact <= scaled(upper[h]![i]!), `${kind} exact score in bounds, id ${i}`);
        }
      });
      const one = { upper: new Float64Array(m), lower: new Float64Array(m) };
      idx.scoreBounds(normals[0]!, one.upper, one.lower, limit);
      assert.deepEqual(one.upper.subarray(0, limit), upper[0]!.subarray(0, limit), `${kind} scoreBounds = batch entry`);
    }
  }), { numRuns: 100 });
});

test('inserts interleaved with queries keep every kind equal to scan', () => {
  fc.assert(fc.property(caseArb, fc.integer({ min: 0, max: 200 }), ({ seed, dim, n, shape, leafSize, pick }, extra) => {
    const data = points(shape, n + extra, dim, seed);
    const oracle = build('scan', data, n, dim);
    const indexes = KINDS.map((k) => build(k, data, n, dim, leafSize));
    const a = normal(shape, dim, seed);
    const scores = Array.from({ length: n + extra }, (_, i) => dotRow(a, data, i, dim));
    const offsets = offsetsFor(scores, pick);
    for (let i = n; i < n + extra; i++) {
      const p = data.subarray(i * dim, (i + 1) * dim);
      assert.equal(oracle.insert(p), i);
      for (const idx of indexes) assert.equal(idx.insert(p), i);
      if ((i - n) % 17 !== 16 && i !== n + extra - 1) continue;
      for (const b of offsets) {
        const limit = Math.floor(((pick % 7) / 6) * (i + 1));
        const want = [...oracle.query(a, b)];
        const wantPrefix = [...oracle.query(a, b, limit)];
        for (const idx of indexes) {
          assert.equal(idx.size, i + 1);
          assert.deepEqual([...idx.query(a, b)], want, `${idx.kind} after ${i + 1 - n} inserts`);
          assert.deepEqual([...idx.query(a, b, limit)], wantPrefix, `${idx.kind} prefix after inserts`);
        }
      }
    }
  }), { numRuns: 60 });
});

test('points exactly on the hyperplane are reported by every kind', () => {
  // Small integers: every dot product is exact, so b = ⟨a,p⟩ puts p on the hyperplane.
  const d = 8, n = 64;
  const data = points('degenerate', n, d, 3);
  const a = new Float32Array([1, -2, 3, 0, 1, 1, -1, 2]);
  for (const kind of indexKinds()) {
    const idx = build(kind, data, n, d, 4);
    for (let i = 0; i < n; i++) {
      const b = dotRow(a, data, i, d);
      assert.ok(idx.query(a, b).includes(i), `${kind}: id ${i} on ⟨a,p⟩ = ${b}`);
      assert.ok(!idx.query(a, b + 2 ** -20 * Math.max(1, Math.abs(b))).includes(i), `${kind}: id ${i} just above`);
    }
  }
});

test('empty and one-point indexes', () => {
  for (const kind of indexKinds()) {
    const empty = build(kind, new Float32Array(0), 0, 3);
    assert.equal(empty.size, 0);
    assert.deepEqual([...empty.query(new Float32Array([1, 2, 3]), -1)], []);
    assert.deepEqual(empty.queryBatch([new Float32Array(3)], [0]).map((r) => r.length), [0]);
    const one = build(kind, new Float32Array([1, 0, 0]), 1, 3);
    assert.deepEqual([...one.query(new Float32Array([1, 0, 0]), 1)], [0]);
    assert.deepEqual([...one.query(new Float32Array([1, 0, 0]), 1, 0)], []);
    assert.deepEqual([...one.query(new Float32Array([0, 0, 0]), 0)], [0], `${kind}: zero normal, offset 0`);
    assert.deepEqual([...one.query(new Float32Array([0, 0, 0]), 1e-300)], []);
  }
});

test('quantized on the plain-JS kernel backend equals scan too', () => {
  const kernels = createKernels({ backend: 'js' });
  fc.assert(fc.property(caseArb, ({ seed, dim, n, shape, limitFraction, pick }) => {
    const data = points(shape, n, dim, seed);
    const oracle = build('scan', data, n, dim);
    const idx = HalfSpaceIndex.build(matrix(data, n, dim), { kind: 'quantized', kernels });
    const a = normal(shape, dim, seed);
    const limit = Math.floor(limitFraction * n);
    for (const b of offsetsFor(Array.from({ length: n }, (_, i) => dotRow(a, data, i, dim)), pick)) {
      assert.deepEqual([...idx.query(a, b, limit)], [...oracle.query(a, b, limit)]);
    }
  }), { numRuns: 40 });
});

test('quantized queryBatch with more normals than the kernel memory holds (memory grows mid-call)', () => {
  const n = 50, d = 32, data = points('gaussian', n, d, 11);
  const idx = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'quantized' });
  const oracle = build('scan', data, n, d);
  const normals = Array.from({ length: 20000 }, (_, h) => normal('gaussian', d, h));
  const results = idx.queryBatch(normals, normals.map(() => 1));
  for (const h of [0, 1, 9999, 19999]) assert.deepEqual([...results[h]!], [...oracle.query(normals[h]!, 1)]);
  idx.insert(data.subarray(0, d));
  assert.deepEqual([...idx.query(normals[5]!, 1)], [...oracle.query(normals[5]!, 1), ...(dotRow(normals[5]!, data, 0, d) >= 1 ? [n] : [])]);
});

test('quantized on a shared kernel instance survives memory growth by other users between calls', () => {
  const kernels = createKernels();
  const n = 3000, d = 16, data = points('gaussian', n, d, 12);
  const idx = HalfSpaceIndex.build(matrix(data, n, d), { kind: 'quantized', kernels });
  const oracle = build('scan', data, n, d);
  const a = normal('gaussian', d, 3);
  for (let round = 0; round < 3; round++) {
    assert.deepEqual([...idx.query(a, 0.5)], [...oracle.query(a, 0.5)]);
    kernels.allocF32(1 << 20); // grows the shared memory: every earlier view of it is detached
  }
});
