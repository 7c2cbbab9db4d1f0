// attentionAsync on the CPU backends: every query head is attention() over its KV head's columns,
// outputs side by side, stats summed and errorBound interleaved position-major.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, attentionAsync, type Matrix } from '../../src/index.js';
import { gaussian, rng } from './fixtures.js';

/** Columns [c0, c0 + w) of a matrix. */
function cols(x: Matrix, c0: number, w: number): Matrix {
  const data = new Float32Array(x.rows * w);
  for (let i = 0; i < x.rows; i++) data.set(x.data.subarray(i * x.cols + c0, i * x.cols + c0 + w), i * w);
  return { data, rows: x.rows, cols: w };
}

test('attentionAsync (CPU): GQA heads are attention() per head — outputs, summed stats, errorBound per (position, head)', async () => {
  const r = rng(3), m = 24, n = 40, heads = 4, kvHeads = 2, d = 16, dv = 8, group = heads / kvHeads;
  const q = gaussian(r, m, heads * d), k = gaussian(r, n, kvHeads * d), v = gaussian(r, n, kvHeads * dv);
  for (const o of [{ kind: 'softmax', sparsity: { epsilon: 1e-2 } }, { kind: 'relu', bias: 0.3 }] as const) {
    const opts = { ...o, causal: true, backend: 'js' as const };
    const got = await attentionAsync(q, k, v, { ...opts, heads, kvHeads });
    assert.equal(got.output.cols, heads * dv);
    let scored = 0, used = 0;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      const one = attention(cols(q, h * d, d), cols(k, g * d, d), cols(v, g * dv, dv), opts);
      scored += one.stats.keysScored; used += one.stats.keysUsed;
      for (let i = 0; i < m; i++) {
        for (let c = 0; c < dv; c++) assert.equal(got.output.data[(i * heads + h) * dv + c], one.output.data[i * dv + c]);
        if (one.stats.errorBound) assert.equal(got.stats.errorBound![i * heads + h], one.stats.errorBound[i]);
      }
    }
    assert.equal(got.stats.keysScored, scored);
    assert.equal(got.stats.keysUsed, used);
    assert.equal(got.stats.errorBound?.length, o.kind === 'softmax' ? m * heads : undefined);
  }
});
