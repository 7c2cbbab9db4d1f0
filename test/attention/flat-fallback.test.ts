import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KVCache } from '../../src/index.js';
import { gaussian, rng } from './fixtures.js';

// Certified rows over flat scores cannot skip a key and go dense; after a group went dense on every
// row, the next ones go dense without the bound pass (retried after 4, 8, 16, … groups), so the
// fallback costs what dense costs. Sharp scores bring sparse rows back.
test('certified on flat keys: the fallback skips the bound pass on most steps, output equals dense, errorBound 0', () => {
  const r = rng(11);
  const heads = 4, kvHeads = 2, d = 16, n = 2048, steps = 20;
  const keys = gaussian(r, n * kvHeads, d, 1e-3).data, values = gaussian(r, n * kvHeads, d).data;
  const certified = new KVCache({ heads, kvHeads, headDim: d, kind: 'softmax', sparsity: { epsilon: 1e-2 } });
  const dense = new KVCache({ heads, kvHeads, headDim: d, kind: 'softmax', sparsity: 'dense' });
  certified.append(keys, values); dense.append(keys, values);
  let withoutBounds = 0;
  for (let t = 0; t < steps; t++) {
    const q = gaussian(r, heads, d).data;
    const c = certified.attend(q), want = dense.attend(q).output;
    assert.equal(c.stats.denseQueries, heads);
    assert.deepEqual([...c.stats.errorBound!], new Array(heads).fill(0));
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(c.output[i]! - want[i]!) < 1e-6);
    if (c.stats.boundsEvaluated === 0) withoutBounds++;
  }
  // Bound passes at steps 0, 5, 14 (then 4, 8, 16 steps without): 17 of 20 without.
  assert.equal(withoutBounds, steps - 3);
  // Sharp queries: certified rows are sparse again at the next bound pass.
  let sparse = false;
  for (let t = 0; t < 40 && !sparse; t++) {
    const q = new Float32Array(heads * d);
    for (let h = 0; h < heads; h++) q.set(keys.subarray(((t * 7 + h) * kvHeads + (h >> 1)) * d, ((t * 7 + h) * kvHeads + (h >> 1) + 1) * d).map((x) => x * 4e6), h * d);
    sparse = certified.attend(q).stats.keysUsed < heads * n;
  }
  assert.ok(sparse, 'sparse rows return once the scores sharpen');
});
