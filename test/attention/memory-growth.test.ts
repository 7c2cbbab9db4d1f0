import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, KVCache } from '../../src/index.js';
import { referenceAttention } from '../../src/attention/reference.js';
import { gaussian, referenceInput, rng, type Problem } from './fixtures.js';

// n·d large enough that the kernels' memory (2 MiB at first) grows while a call is under way:
// views of keys and values taken before the growth are detached and must not be used after it.
const n = 6000, d = 64, m = 6;

/** max_j ‖v_j‖: the output error of a row is at most 2·errorBound·max‖v‖ (each coordinate too). */
function maxRowNorm(v: Problem['v']): number {
  let max = 0;
  for (let j = 0; j < v.rows; j++) {
    let s = 0;
    for (let c = 0; c < v.cols; c++) s += v.data[j * v.cols + c]! ** 2;
    max = Math.max(max, Math.sqrt(s));
  }
  return max;
}

function problem(): Problem {
  const r = rng(42);
  return { q: gaussian(r, m, d, 0.3), k: gaussian(r, n, d), v: gaussian(r, n, d) };
}

test('attention() sparse modes stay correct when the kernels memory grows mid-call', () => {
  const p = problem();
  const ref = referenceAttention(referenceInput(p, 'softmax'));
  const maxV = maxRowNorm(p.v);
  for (const sparsity of [{ epsilon: 1e-2 }, { topK: 200 }, 'paper', { threshold: 0.5 }] as const) {
    const { output, stats } = attention(p.q, p.k, p.v, { kind: 'softmax', sparsity });
    assert.equal(output.data.length, m * d);
    for (let i = 0; i < m; i++) {
      const bound = stats.errorBound![i]!;
      for (let c = 0; c < d; c++) {
        const err = Math.abs(output.data[i * d + c]! - ref[i * d + c]!);
        assert.ok(err <= 2 * bound * maxV + 1e-5, `${JSON.stringify(sparsity)} row ${i} col ${c}: error ${err} > 2·${bound}·${maxV}`);
      }
    }
  }
  const relu = attention(p.q, p.k, p.v, { kind: 'relu', alpha: 2, bias: 0.05 });
  const reluRef = referenceAttention(referenceInput(p, 'relu', { alpha: 2, bias: 0.05 }));
  for (let j = 0; j < reluRef.length; j++) assert.ok(Math.abs(relu.output.data[j]! - reluRef[j]!) <= 1e-5 * (1 + Math.abs(reluRef[j]!)));
});

test('KVCache decode stays correct while appends grow the kernels memory', () => {
  const p = problem();
  const cache = new KVCache({ heads: 1, kvHeads: 1, headDim: d, kind: 'softmax', sparsity: { epsilon: 1e-3 } });
  cache.append(p.k.data, p.v.data);
  const { output, stats } = cache.attend(p.q.data.subarray(0, d));
  const ref = referenceAttention(referenceInput({ q: { data: p.q.data.subarray(0, d), rows: 1, cols: d }, k: p.k, v: p.v }, 'softmax'));
  const maxV = maxRowNorm(p.v);
  for (let c = 0; c < d; c++) assert.ok(Math.abs(output[c]! - ref[c]!) <= 2 * stats.errorBound![0]! * maxV + 1e-5);
});
