import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, HsrError, indexKinds, matrix } from '../../src/index.js';
import { gaussian, referenceAttention, referenceInput, relativeError, rng } from './fixtures.js';

test('dense softmax attention equals the float64 reference, causal and not, m ≤ n and m > n', () => {
  const r = rng(1);
  for (const [m, n, d, dv] of [[5, 9, 8, 3], [9, 5, 4, 6], [1, 1, 3, 2], [7, 7, 16, 16]] as const) {
    const p = { q: gaussian(r, m, d, 2), k: gaussian(r, n, d, 2), v: gaussian(r, n, dv) };
    for (const causal of [false, true]) {
      const { output, stats } = attention(p.q, p.k, p.v, { kind: 'softmax', causal });
      const ref = referenceAttention(referenceInput(p, 'softmax', { causal }));
      assert.ok(relativeError(output.data, ref) < 1e-6, `m=${m} n=${n} causal=${causal}`);
      assert.equal(stats.errorBound, undefined);
      let visible = 0;
      for (let i = 0; i < m; i++) visible += causal ? Math.max(0, Math.min(n, i + n - m + 1)) : n;
      assert.equal(stats.keysScored, visible);
      assert.equal(stats.keysUsed, visible);
    }
  }
});

test('dense softmax is stable for logits up to ±1e4', () => {
  const q = matrix([100, -100], 1, 2), k = matrix([100, 0, 0, 100, 99.99, 0], 3, 2), v = matrix([1, 2, 3], 3, 1);
  const { output } = attention(q, k, v, { kind: 'softmax', scale: 1 });
  const ref = referenceAttention(referenceInput({ q, k, v }, 'softmax', { scale: 1 }));
  assert.ok(Number.isFinite(output.data[0]!));
  assert.ok(Math.abs(output.data[0]! - ref[0]!) < 1e-5);
});

test('ReLU^α attention through every index kind equals the float64 reference (≤ 1e-5 relative)', () => {
  const r = rng(2);
  for (const kind of indexKinds()) {
    for (const [m, n, d, alpha, bias] of [[6, 40, 8, 1, 0], [40, 40, 16, 2, 0.5], [50, 30, 4, 3, -0.2], [3, 200, 64, 2, 1]] as const) {
      const p = { q: gaussian(r, m, d, 2), k: gaussian(r, n, d, 2), v: gaussian(r, n, 5) };
      for (const causal of [false, true]) {
        const ref = referenceAttention(referenceInput(p, 'relu', { alpha, bias, causal }));
        const sparse = attention(p.q, p.k, p.v, { kind: 'relu', alpha, bias, causal, index: kind });
        const dense = attention(p.q, p.k, p.v, { kind: 'relu', alpha, bias, causal, sparsity: 'dense' });
        assert.ok(relativeError(sparse.output.data, ref) <= 1e-5, `${kind} m=${m} n=${n} causal=${causal}`);
        assert.ok(relativeError(dense.output.data, ref) <= 1e-5);
        assert.equal(sparse.stats.keysUsed, dense.stats.keysUsed, 'the same keys carry weight');
      }
    }
  }
});

test('ReLU rows with no activated key give zeros; n = 0 gives zeros', () => {
  const q = matrix([1, 0, -1, 0], 2, 2), k = matrix([1, 0, 0.5, 0], 2, 2), v = matrix([3, 4], 2, 1);
  const { output } = attention(q, k, v, { kind: 'relu', bias: 0, scale: 1 });
  assert.deepEqual([...output.data], [(1 * 3 + 0.5 * 4) / 1.5, 0].map(Math.fround));
  const empty = attention(q, matrix([], 0, 2), matrix([], 0, 3), { kind: 'softmax' });
  assert.deepEqual([...empty.output.data], [0, 0, 0, 0, 0, 0]);
});

test('attention validates shapes and options with HsrError codes', () => {
  const q = matrix([1, 2], 1, 2), k = matrix([1, 2, 3, 4], 2, 2), v = matrix([1, 2], 2, 1);
  const code = (c: string) => (e: unknown) => e instanceof HsrError && e.code === c;
  assert.throws(() => attention(q, matrix([1, 2, 3], 1, 3), matrix([1], 1, 1), { kind: 'softmax' }), code('DIM_MISMATCH'));
  assert.throws(() => attention(q, k, matrix([1], 1, 1), { kind: 'softmax' }), code('SHAPE_MISMATCH'));
  assert.throws(() => attention(q, k, v, { kind: 'nope' as 'relu' }), code('BAD_OPTION'));
  assert.throws(() => attention(q, k, v, { kind: 'relu', alpha: 1.5 }), code('BAD_OPTION'));
  assert.throws(() => attention(q, k, v, { kind: 'softmax', sparsity: { epsilon: 0 } }), code('BAD_OPTION'));
  assert.throws(() => attention(q, k, v, { kind: 'softmax', sparsity: { topK: 0 } }), code('BAD_OPTION'));
  assert.throws(() => attention(q, k, v, { kind: 'softmax', index: 'nope' }), code('BAD_OPTION'));
  assert.throws(() => attention({ data: new Float32Array([NaN, 1]), rows: 1, cols: 2 }, k, v, { kind: 'softmax' }), code('NON_FINITE'));
});

test('every weighting × selection × backend combination that does not exist is BAD_OPTION naming what is allowed', () => {
  const q = matrix([1, 2], 1, 2), k = matrix([1, 2, 3, 4], 2, 2), v = matrix([1, 2], 2, 1);
  const rejected = (options: Parameters<typeof attention>[3], allowed: RegExp) =>
    assert.throws(() => attention(q, k, v, options), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && allowed.test(e.message),
      JSON.stringify(options));
  // ReLU is exact: a softmax selection rule would silently change nothing, so it is refused.
  for (const sparsity of [{ topK: 5 }, { epsilon: 0.01 }, { threshold: 1 }, 'paper'] as const) {
    rejected({ kind: 'relu', sparsity }, /expected sparsity 'exact' \(the default\) or 'dense'/);
  }
  rejected({ kind: 'softmax', sparsity: 'exact' }, /'dense' \(the default\), 'paper', \{ threshold \}, \{ topK \} or \{ epsilon \}/);
  rejected({ kind: 'softmax', backend: 'gpu' as never }, /expected backend 'auto', 'js', 'wasm', 'wasm-simd', 'wasm-relaxed', 'wasm-relaxed-q7'/);
  // The allowed ones run and agree: ReLU 'exact' (the default) = 'dense'; every backend gives the same rows.
  const exact = attention(q, k, v, { kind: 'relu', sparsity: 'exact' }).output.data;
  assert.deepEqual([...exact], [...attention(q, k, v, { kind: 'relu', sparsity: 'dense' }).output.data]);
  for (const backend of ['js', 'wasm', 'auto'] as const) {
    const out = attention(q, k, v, { kind: 'softmax', sparsity: { epsilon: 0.01 }, backend }).output.data;
    assert.ok(Math.abs(out[0]! - attention(q, k, v, { kind: 'softmax' }).output.data[0]!) <= 1e-5, backend);
  }
});

test('exact ReLU on adversarial keys: ties at the threshold, duplicates, zero and huge vectors, n = 1, m > n', () => {
  const r = rng(3);
  const d = 4;
  // Keys on the hyperplane ⟨q,k⟩·scale = bias (weight 0), just above/below it, duplicated, zero, huge.
  const q = matrix([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1e3, -1e3, 1, 1], 4, d);
  const keyRows = [
    [2, 0, 0, 0], [2, 0, 0, 0], [2 + 1e-6, 0, 0, 0], [2 - 1e-6, 0, 0, 0], [0, 0, 0, 0], [0, 2, 5, 5],
    [1e18, -1e18, 3, 0], [1e-20, 1e-20, 0, 0], [-1e15, 0, 0, 0], [2, 2, 2, 2],
  ];
  const k = matrix(keyRows.flat(), keyRows.length, d), v = gaussian(r, keyRows.length, 3);
  for (const index of indexKinds()) {
    for (const causal of [false, true]) {
      for (const alpha of [1, 2, 3]) {
        const o = { kind: 'relu' as const, alpha, bias: 1, scale: 0.5, causal, index };
        const ref = referenceAttention(referenceInput({ q, k, v }, 'relu', o));
        const { output } = attention(q, k, v, o);
        assert.ok(relativeError(output.data, ref) <= 1e-5, `${index} causal=${causal} alpha=${alpha}`);
      }
    }
    // n = 1, and m > n with causal (the first m − n queries see nothing and give zeros).
    const one = { q: gaussian(r, 5, d), k: gaussian(r, 1, d), v: gaussian(r, 1, 2) };
    for (const causal of [false, true]) {
      const o = { kind: 'relu' as const, causal, index, bias: -10 };
      const ref = referenceAttention(referenceInput(one, 'relu', o));
      const { output } = attention(one.q, one.k, one.v, o);
      assert.ok(relativeError(output.data, ref) <= 1e-5);
      if (causal) assert.deepEqual([...output.data.subarray(0, 8)], new Array(8).fill(0));
    }
  }
});

test('sparse ReLU scores few keys when few are active (quantized index)', () => {
  const r = rng(4);
  const n = 4000, d = 32;
  const p = { q: gaussian(r, 4, d), k: gaussian(r, n, d), v: gaussian(r, n, 4) };
  const { stats } = attention(p.q, p.k, p.v, { kind: 'relu', bias: 2.5, scale: 1 / Math.sqrt(d), index: 'quantized' });
  assert.ok(stats.keysScored < 4 * n * 0.1, `scored ${stats.keysScored} of ${4 * n}`);
  assert.ok(stats.boundsEvaluated! > 0);
});

test('causal prefill asks the index about the visible prefix only (quantized: one bound per visible key, tiles of 16 rows)', () => {
  const r = rng(5);
  // n above RowAttention's DENSE_BELOW (1024): shorter certified rows are computed densely, without the index.
  // Queries sharp enough that certified rows stay sparse (flat groups that went dense skip the bounds).
  const m = 30, n = 1100, d = 8;
  const p = { q: gaussian(r, m, d, 4), k: gaussian(r, n, d), v: gaussian(r, n, 2) };
  let visible = 0;
  for (let i = 0; i < m; i++) visible += i + n - m + 1;
  for (const kind of ['relu', 'softmax'] as const) {
    const sparsity = kind === 'softmax' ? { epsilon: 1e-3 } : undefined;
    const { stats } = attention(p.q, p.k, p.v, { kind, causal: true, index: 'quantized', sparsity });
    // Queries go to the index in tiles of 16 sharing the tile's largest prefix: ≤ 15 extra keys each.
    assert.ok(stats.boundsEvaluated! >= visible && stats.boundsEvaluated! <= visible + 15 * m, kind);
    // ReLU scores each reported key again for its weight (the index verifies, attention weighs).
    assert.ok(stats.keysScored <= (kind === 'relu' ? 2 : 1) * visible, kind);
  }
});
