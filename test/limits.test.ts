import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HsrError } from '../src/errors.js';
import { KVCache } from '../src/kvcache/kv-cache.js';
import { RopeTable } from '../src/model/rope.js';
import type { RopeConfig } from '../src/model/rope-scaling.js';

const DEFAULT_ROPE: RopeConfig = { theta: 1e4, scaling: { type: 'default' } };

test('KVCache({ heads: 2**30 … }) throws TOO_LARGE before allocating (an out-of-memory abort cannot be caught)', () => {
  for (const shape of [{ heads: 2 ** 30, kvHeads: 1, headDim: 64 }, { heads: 2 ** 20, kvHeads: 2 ** 20, headDim: 8 }, { heads: 4, kvHeads: 2, headDim: 2 ** 26 }]) {
    assert.throws(() => new KVCache({ ...shape, kind: 'softmax' }), (e: unknown) => e instanceof HsrError && e.code === 'TOO_LARGE' && /at most 268435456/.test(e.message), JSON.stringify(shape));
  }
  assert.equal(new KVCache({ heads: 8, kvHeads: 2, headDim: 64, kind: 'softmax' }).length, 0);
});

test('RopeTable for max_position_embeddings 2**25 builds only the positions used', () => {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  const rope = new RopeTable(64, 2 ** 25, DEFAULT_ROPE);
  const x = Float32Array.from({ length: 64 }, (_, i) => i);
  rope.apply(x, 0, 1, 1000);
  assert.ok(performance.now() - t0 < 500);
  assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 2 ** 20, 'under 4 MiB');
  const y = Float32Array.from({ length: 64 }, (_, i) => i);
  new RopeTable(64, 2048, DEFAULT_ROPE).apply(y, 0, 1, 1000);
  assert.deepEqual(x, y);
});
