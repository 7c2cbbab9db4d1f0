// A QuantizedIndex that reads its keys from a store's rows (KeyRowsView) instead of keeping a float32
// copy: every answer must equal the copying index's, and the copy's bytes must be gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuantizedIndex } from '../../src/hsr/quantized.js';
import { GrowableRows } from '../../src/kernels/growable.js';
import { createKernels } from '../../src/kernels/index.js';
import { DecodePool } from '../../src/kernels/pool/decode-pool.js';
import { rng } from '../attention/fixtures.js';

for (const backend of ['js', 'wasm'] as const) {
  test(`QuantizedIndex over a store's key rows (${backend}) answers as the copying index (ties, zero and wide keys, inserts, limits) and keeps no copy`, () => {
    const r = rng(7);
    for (const dim of [8, 64]) {
      const n = 300, kernels = createKernels({ backend });
      const keys = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < dim; j++) keys[i * dim + j] = r.gauss();
      }
      keys.copyWithin(5 * dim, 4 * dim, 5 * dim);    // a duplicate (ties)
      keys.fill(0, 9 * dim, 10 * dim);               // a zero key
      keys.fill(3e38, 20 * dim, 20 * dim + 1);       // a wide key (norm beyond float32)
      const copying = new QuantizedIndex(keys, 100, dim, kernels);
      const store = GrowableRows.from(keys, 100, dim, (length) => kernels.allocF32(length));
      const reading = new QuantizedIndex(new Float32Array(0), 100, dim, kernels, () => store.data);
      for (let i = 100; i < n; i++) {
        const key = keys.subarray(i * dim, (i + 1) * dim);
        copying.insert(key);
        store.push(key);
        reading.insert(key);
      }
      const saved = copying.memoryBytes() - reading.memoryBytes();
      assert.ok(saved >= 4 * n * dim, `the float32 copy of the keys (≥ ${4 * n * dim} bytes) is gone, saved ${saved}`);
      const normals = [0, 1, 2].map(() => Float32Array.from({ length: dim }, () => r.gauss()));
      normals.push(keys.slice(4 * dim, 5 * dim)); // the tied key's own direction
      const offsets = [0, 1, -2, 3];
      for (const limit of [n, 150, 7]) {
        assert.deepEqual(reading.queryBatch(normals, offsets, limit), copying.queryBatch(normals, offsets, limit), `queryBatch, limit ${limit}`);
        assert.deepEqual(reading.candidateBatch(normals, offsets, limit), copying.candidateBatch(normals, offsets, limit), `candidateBatch, limit ${limit}`);
        const bounds = (index: QuantizedIndex) => {
          const up = normals.map(() => new Float64Array(n)), lo = normals.map(() => new Float64Array(n));
          index.scoreBoundsBatch(normals, up, lo, limit);
          return [up, lo];
        };
        assert.deepEqual(bounds(reading), bounds(copying), `scoreBoundsBatch, limit ${limit}`);
      }
      assert.equal(reading.points(), store.data, 'points() is the store\'s rows');
    }
  });
}

test('DecodePool sparse rows: each KV head\'s index reads the decoder\'s keys (one float32 copy of the keys, not two)', async () => {
  const pool = await DecodePool.create({ heads: 4, kvHeads: 2, headDim: 16, threads: 1, sparse: { epsilon: 1e-2 },
    weighting: { kind: 'softmax', scale: 0.25, bias: 0, alpha: 1 } });
  try {
    const r = rng(3), t = 40;
    pool.append(Float32Array.from({ length: t * 2 * 16 }, () => r.gauss()), Float32Array.from({ length: t * 2 * 16 }, () => r.gauss()));
    const indexes = (pool as unknown as { indexes: QuantizedIndex[] }).indexes;
    for (let g = 0; g < 2; g++) {
      const mine = indexes[g]!.points(), theirs = pool.decoder.keys(g);
      assert.equal(mine.buffer, theirs.buffer);
      assert.equal(mine.byteOffset, theirs.byteOffset, `KV head ${g}: the index's points are the decoder's key rows`);
    }
  } finally {
    await pool.close();
  }
});
