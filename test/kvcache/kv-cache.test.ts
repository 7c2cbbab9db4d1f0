import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, HsrError, indexKinds, KVCache, matrix, type AttentionOptions } from '../../src/index.js';
import { gaussian, rng } from '../attention/fixtures.js';

/**
 * Decodes t positions through a KVCache (heads query heads over kvHeads KV heads) and checks every
 * step against attention() on the same data for each head's KV head: last query row, causal prefix.
 */
function checkDecode(opts: Omit<AttentionOptions, 'causal'>, heads: number, kvHeads: number, d: number, dv: number, t: number, seed: number, tol = 1e-6): void {
  const r = rng(seed);
  const cache = new KVCache({ heads, kvHeads, headDim: d, valueDim: dv, ...opts });
  const keys = gaussian(r, t, kvHeads * d, 1.5).data, values = gaussian(r, t, kvHeads * dv).data;
  const group = heads / kvHeads;
  const boundDependent = typeof opts.sparsity === 'object' && 'epsilon' in opts.sparsity && opts.index === 'ball-tree';
  for (let p = 0; p < t; p++) {
    cache.append(keys.subarray(p * kvHeads * d, (p + 1) * kvHeads * d), values.subarray(p * kvHeads * dv, (p + 1) * kvHeads * dv));
    assert.equal(cache.length, p + 1);
    const queries = gaussian(r, heads, d, 1.5).data;
    const { output, stats } = cache.attend(queries);
    let used = 0;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      const kh = new Float32Array((p + 1) * d), vh = new Float32Array((p + 1) * dv);
      for (let j = 0; j <= p; j++) {
        kh.set(keys.subarray(j * kvHeads * d + g * d, j * kvHeads * d + (g + 1) * d), j * d);
        vh.set(values.subarray(j * kvHeads * dv + g * dv, j * kvHeads * dv + (g + 1) * dv), j * dv);
      }
      const one = attention(matrix(queries.slice(h * d, (h + 1) * d), 1, d), matrix(kh, p + 1, d), matrix(vh, p + 1, dv), opts as AttentionOptions);
      // Selections that depend on the index's bounds (certified mode) may differ between an index
      // grown by inserts and one built at once; both must then stay within their error bounds.
      const slack = boundDependent ? 2 * (stats.errorBound![h]! + one.stats.errorBound![0]!) * maxNorm(vh, dv) : 0;
      for (let c = 0; c < dv; c++) {
        assert.ok(Math.abs(output[h * dv + c]! - one.output.data[c]!) <= tol + slack, `step ${p} head ${h}`);
      }
      if (one.stats.errorBound && !boundDependent) assert.ok(Math.abs(stats.errorBound![h]! - one.stats.errorBound[0]!) <= 1e-12);
      used += one.stats.keysUsed;
    }
    if (!boundDependent) assert.equal(stats.keysUsed, used);
  }
}

function maxNorm(v: Float32Array, dv: number): number {
  let best = 0;
  for (let j = 0; j < v.length / dv; j++) {
    let s = 0;
    for (let c = 0; c < dv; c++) s += v[j * dv + c]! ** 2;
    best = Math.max(best, Math.sqrt(s));
  }
  return best;
}

test('KVCache decode equals attention() per head, grouped-query and not (dense softmax, ReLU)', () => {
  checkDecode({ kind: 'softmax' }, 6, 2, 8, 4, 20, 1);
  checkDecode({ kind: 'softmax' }, 2, 2, 4, 4, 10, 2);
  checkDecode({ kind: 'relu', alpha: 2, bias: 0.3 }, 6, 2, 8, 5, 20, 3);
  checkDecode({ kind: 'relu', alpha: 1, sparsity: 'dense' }, 4, 1, 8, 3, 12, 4);
});

test('KVCache decode equals attention() for every sparse softmax mode and index kind', () => {
  let seed = 10;
  for (const index of indexKinds()) {
    for (const sparsity of [{ epsilon: 1e-3 }, { topK: 3 }, { threshold: 0.2 }, 'paper'] as const) {
      checkDecode({ kind: 'softmax', sparsity, index }, 6, 2, 8, 4, 24, seed++, 1e-6);
    }
    checkDecode({ kind: 'relu', alpha: 2, bias: 0.5, index }, 4, 2, 8, 4, 16, seed++);
  }
});

test('KVCache grows past its initial capacity and attends to zero keys with zeros', () => {
  const cache = new KVCache({ heads: 2, kvHeads: 1, headDim: 2, kind: 'softmax' });
  assert.deepEqual([...cache.attend(new Float32Array(4)).output], [0, 0, 0, 0]);
  const r = rng(5);
  const t = 300;
  cache.append(gaussian(r, t, 2).data, gaussian(r, t, 2).data);
  assert.equal(cache.length, t);
});

test('KVCache validates options and inputs with HsrError codes', () => {
  const code = (c: string) => (e: unknown) => e instanceof HsrError && e.code === c;
  assert.throws(() => new KVCache({ heads: 3, kvHeads: 2, headDim: 4, kind: 'softmax' }), code('BAD_OPTION'));
  assert.throws(() => new KVCache({ heads: 0, kvHeads: 0, headDim: 4, kind: 'softmax' }), code('BAD_OPTION'));
  assert.throws(() => new KVCache({ heads: 2, kvHeads: 1, headDim: 4, kind: 'softmax', index: 'nope' }), code('BAD_OPTION'));
  assert.throws(() => new KVCache({ heads: 2, kvHeads: 1, headDim: 4, kind: 'softmax', sparsity: { epsilon: 2 } }), code('BAD_OPTION'));
  assert.throws(() => new KVCache({ heads: 2, kvHeads: 1, headDim: 4, valueDim: 1.5, kind: 'softmax' }), code('BAD_OPTION'));
  assert.throws(() => new KVCache({ heads: 2, kvHeads: 1, headDim: 4, kind: 'relu', sparsity: { topK: 5 } }), code('BAD_OPTION'));
  const cache = new KVCache({ heads: 2, kvHeads: 1, headDim: 2, valueDim: 3, kind: 'relu' });
  assert.throws(() => cache.append(new Float32Array(3), new Float32Array(3)), code('SHAPE_MISMATCH'));
  assert.throws(() => cache.append(new Float32Array(2), new Float32Array(2)), code('SHAPE_MISMATCH'));
  assert.throws(() => cache.append(new Float32Array([1, NaN]), new Float32Array(3)), code('NON_FINITE'));
  assert.throws(() => cache.attend(new Float32Array(3)), code('DIM_MISMATCH'));
  assert.throws(() => cache.attend([1, 2, 3, 4] as unknown as Float32Array), code('BAD_DTYPE'));
  assert.equal(cache.length, 0);
});

test('KVCache.destroy(): length 0, later append / attend / attendAsync are CLOSED, twice is harmless', async () => {
  const r = rng(9), c = new KVCache({ heads: 2, kvHeads: 1, headDim: 4, kind: 'softmax', sparsity: { epsilon: 1e-3 } });
  c.append(gaussian(r, 5, 4).data, gaussian(r, 5, 4).data);
  const q = gaussian(r, 2, 4).data;
  assert.equal(c.attend(q).output.length, 8);
  c.destroy();
  const closed = (e: unknown) => e instanceof HsrError && e.code === 'CLOSED';
  assert.equal(c.length, 0);
  assert.throws(() => c.attend(q), closed);
  assert.throws(() => c.append(new Float32Array(4), new Float32Array(4)), closed);
  await assert.rejects(c.attendAsync(q), closed);
  c.destroy();
});
