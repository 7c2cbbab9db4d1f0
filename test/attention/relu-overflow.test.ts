// ReLU^α with large α and scores: t^α overflows float64 (100^300) and float32 far earlier, but the
// normalised weights (t_i/t_max)^α / Σ_j (t_j/t_max)^α are finite, so the output must be too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, KVCache, matrix } from '../../src/index.js';
import { referenceAttention } from '../../src/attention/reference.js';

// Scores (⟨q,k⟩·scale with scale 1): 100 and 50; values 1 and 3.
const q = matrix([1, 0], 1, 2), k = matrix([100, 0, 50, 0], 2, 2), v = matrix([1, 3], 2, 1);
/** Exact output for ReLU^α(score): (100^α·1 + 50^α·3) / (100^α + 50^α) = (1 + 3·2^−α) / (1 + 2^−α). */
const exact = (alpha: number) => (1 + 3 * 2 ** -alpha) / (1 + 2 ** -alpha);

test('ReLU^α with α = 300 and scores 100, 50: finite and exact on the sparse, dense and reference paths', () => {
  for (const alpha of [20, 40, 300]) {
    for (const sparsity of [undefined, 'dense'] as const) {
      const { output } = attention(q, k, v, { kind: 'relu', alpha, scale: 1, ...(sparsity ? { sparsity } : {}) });
      assert.ok(Math.abs(output.data[0]! - exact(alpha)) <= 1e-6, `α=${alpha} ${sparsity ?? 'sparse'}: got ${output.data[0]}, want ${exact(alpha)}`);
    }
    const ref = referenceAttention({ q: q.data, m: 1, k: k.data, n: 2, v: v.data, d: 2, dv: 1, kind: 'relu', scale: 1, alpha, bias: 0, causal: false });
    assert.ok(Math.abs(ref[0]! - exact(alpha)) <= 1e-12, `reference α=${alpha}: got ${ref[0]}`);
  }
});

test('KVCache ReLU^α with α = 300: finite and exact, sparse and dense', () => {
  for (const sparsity of [undefined, 'dense'] as const) {
    const cache = new KVCache({ heads: 1, kvHeads: 1, headDim: 2, valueDim: 1, kind: 'relu', alpha: 300, scale: 1, ...(sparsity ? { sparsity } : {}) });
    cache.append(k.data, v.data);
    const out = cache.attend(q.data).output;
    assert.ok(Math.abs(out[0]! - exact(300)) <= 1e-6, `${sparsity ?? 'sparse'}: got ${out[0]}`);
  }
});
