import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HalfSpaceIndex, matrix } from '../../src/index.js';
import { dotRow } from '../../src/hsr/dot.js';
import { createKernels, relaxedSimdUsable } from '../../src/kernels/index.js';
import type { Kernels } from '../../src/kernels/types.js';
import { rng } from '../attention/fixtures.js';
import { exactDotScaled, scaled } from './exact.js';

/**
 * The integer sweep at both query precisions: the default backend's int16 query and, where relaxed
 * SIMD is usable, the 7-bit query of 'wasm-relaxed-q7' (bound re-derived in src/hsr/quantized.ts).
 */
const variants: [string, () => Kernels][] = [['default kernels', () => createKernels()]];
if (relaxedSimdUsable()) variants.push(['7-bit query (wasm-relaxed-q7)', () => createKernels({ backend: 'wasm-relaxed-q7' })]);

/**
 * The quantized index's two sweeps: the integer one (quantised query × int8 codes, dim ≤ 1024) with
 * batches of 4–5 normals (a group of three plus singles) and the float32 fallback (dim > 1024).
 * Keys with norms from 1e-30 to 1e30, zero keys and a zero normal; bounds checked against the
 * exact (BigInt) score, queryBatch against brute force.
 */
for (const [label, kernelsFor] of variants) test(`quantized integer and float32 sweeps: bounds hold exactly, queryBatch equals brute force (${label})`, () => {
  const r = rng(21);
  for (const [dim, n, heads] of [[1024, 24, 5], [1030, 12, 4], [16, 200, 5], [3, 50, 4]] as const) {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const f = i % 5 === 4 ? 0 : 10 ** Math.round(r.uniform() * 60 - 30);
      for (let j = 0; j < dim; j++) data[i * dim + j] = r.gauss() * f;
    }
    const idx = HalfSpaceIndex.build(matrix(data, n, dim), { kind: 'quantized', kernels: kernelsFor() });
    const normals = Array.from({ length: heads }, (_, h) => Float32Array.from({ length: dim }, (_, j) =>
      h === 1 ? 0 : (j % 3 === 0 ? 1.999 : r.gauss()) * 10 ** (h * 3 - 6)));
    const upper = normals.map(() => new Float64Array(n)), lower = normals.map(() => new Float64Array(n));
    idx.scoreBoundsBatch(normals, upper, lower, n);
    const offsets = normals.map((a, h) => {
      const scores = Array.from({ length: n }, (_, i) => dotRow(a, data, i, dim)).sort((x, y) => x - y);
      return scores[Math.floor(n * (h + 1) / (heads + 2))]!;
    });
    const hits = idx.queryBatch(normals, offsets, n);
    normals.forEach((a, h) => {
      const want: number[] = [];
      for (let i = 0; i < n; i++) {
        const exact = exactDotScaled(a, data, i, dim);
        assert.ok(scaled(lower[h]![i]!) <= exact && exact <= scaled(upper[h]![i]!), `dim ${dim} head ${h} key ${i}: exact score in bounds`);
        if (dotRow(a, data, i, dim) >= offsets[h]!) want.push(i);
      }
      assert.deepEqual([...hits[h]!], want, `dim ${dim} head ${h}: queryBatch = brute force`);
    });
  }
});

for (const [label, kernelsFor] of variants) test(`quantized integer sweep: the query-quantisation term is needed and enough (codes exact, every q rounding aligned; ${label})`, () => {
  // Keys with integer entries ≤ 127 quantise exactly (s = 1, no residual); q_j just below the
  // rounding midpoint 1 + 2^−(shift+1) makes every query rounding error point the same way as the codes.
  for (const dim of [16, 64]) {
    const n = 4;
    const data = new Float32Array(n * dim).map((_, i) => (i < dim ? 127 : i < 2 * dim ? -127 : (i % 7) * 18 - 50));
    const kernels = kernelsFor(), shift = kernels.sweepQueryShift;
    const idx = HalfSpaceIndex.build(matrix(data, n, dim), { kind: 'quantized', kernels });
    const q = new Float32Array(dim).fill(1 + 2 ** -(shift + 1) - 2 ** -(shift + 7));
    const upper = [new Float64Array(n)], lower = [new Float64Array(n)];
    idx.scoreBoundsBatch([q], upper, lower, n);
    for (let i = 0; i < n; i++) {
      const exact = exactDotScaled(q, data, i, dim);
      assert.ok(scaled(lower[0]![i]!) <= exact && exact <= scaled(upper[0]![i]!), `dim ${dim} key ${i}`);
    }
    const top = dotRow(q, data, 0, dim);
    assert.deepEqual([...idx.query(q, top)], [0], `dim ${dim}: the key on the hyperplane is reported`);
  }
});

for (const [label, kernelsFor] of variants) test(`quantized candidateBatch: ascending superset of queryBatch (= brute force), ties and extreme norms included, and not much more (${label})`, () => {
  const r = rng(23);
  for (const [dim, n, heads] of [[64, 3000, 6], [1030, 40, 3], [7, 500, 5], [64, 1, 2]] as const) {
    const data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const f = i % 7 === 6 ? 0 : i % 11 === 3 ? 10 ** Math.round(r.uniform() * 40 - 20) : 1;
      for (let j = 0; j < dim; j++) data[i * dim + j] = r.gauss() * f;
    }
    // A duplicated key, so some offset sits exactly on two keys' scores (ties must be candidates).
    if (n > 2) data.copyWithin(dim, 0, dim);
    const idx = HalfSpaceIndex.build(matrix(data, n, dim), { kind: 'quantized', kernels: kernelsFor() });
    const reporter = idx.reporter;
    const normals = Array.from({ length: heads }, () => Float32Array.from({ length: dim }, () => r.gauss()));
    const offsets = normals.map((a, h) => {
      const scores = Array.from({ length: n }, (_, i) => dotRow(a, data, i, dim)).sort((x, y) => y - x);
      return h === 0 ? dotRow(a, data, 0, dim) : scores[Math.min(n - 1, Math.floor(n * 0.02 * h))]!;
    });
    const hits = reporter.queryBatch(normals, offsets, n), cands = reporter.candidateBatch!(normals, offsets, n);
    assert.equal(reporter.lastQueryStats.pointsScored, 0, 'candidateBatch scores nothing exactly');
    normals.forEach((a, h) => {
      const c = [...cands[h]!], set = new Set(c);
      for (let p = 1; p < c.length; p++) assert.ok(c[p - 1]! < c[p]!, 'ascending, distinct');
      for (let i = 0; i < n; i++) if (dotRow(a, data, i, dim) >= offsets[h]!) assert.ok(set.has(i), `dim ${dim} head ${h}: hit ${i} missing`);
      for (const id of hits[h]!) assert.ok(set.has(id));
      if (dim === 64 && n > 1) assert.ok(c.length <= 2 * hits[h]!.length + 16, `dim ${dim} head ${h}: ${c.length} candidates for ${hits[h]!.length} hits`);
    });
  }
});
