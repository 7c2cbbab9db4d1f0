/// <reference types="@webgpu/types" />
// The 'webgpu' backend's edges on whatever adapter Dawn finds (in CI: SwiftShader, which
// scripts/run-tests.mjs points Vulkan at): n = 0, bad input, ReLU^α beyond float32. The
// modes against the float64 reference and the CPU, and no adapter, are the conformance suite (conformance.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, KVCache } from '../../src/index.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { gpuOrSkip } from './gpu-helpers.js';

test('webgpu backend: n = 0 gives zeros; attend() and the sync constructor are UNSUPPORTED; bad storage is BAD_OPTION', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const cache = await KVCache.create({ kind: 'softmax', sparsity: { epsilon: 1e-3 }, heads: 2, kvHeads: 1, headDim: 8, backend: 'webgpu' });
  const { output, stats } = await cache.attendAsync(new Float32Array(16).fill(1));
  assert.deepEqual([...output], new Array(16).fill(0));
  assert.deepEqual([...stats.errorBound!], [0, 0]);
  assert.throws(() => cache.attend(new Float32Array(16)), (e: unknown) => e instanceof HsrError && e.code === 'UNSUPPORTED');
  await assert.rejects(cache.attendAsync(new Float32Array(3)), (e: unknown) => e instanceof HsrError && e.code === 'DIM_MISMATCH');
  assert.throws(() => new KVCache({ kind: 'softmax', heads: 1, kvHeads: 1, headDim: 4, backend: 'webgpu' }), (e: unknown) => e instanceof HsrError && e.code === 'UNSUPPORTED');
  await assert.rejects(KVCache.create({ kind: 'softmax', heads: 1, kvHeads: 1, headDim: 4, backend: 'webgpu', storage: 'f8' as 'f16' }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
  const half = await KVCache.create({ kind: 'softmax', heads: 1, kvHeads: 1, headDim: 4, backend: 'webgpu', storage: 'f16' });
  assert.throws(() => half.append(new Float32Array([1e5, 0, 0, 0]), new Float32Array(4)), (e: unknown) => e instanceof HsrError && e.code === 'UNSUPPORTED');
});

test('webgpu backend: ReLU^α beyond float32\'s range (α = 300, t up to 100; α = 20 with a rising reference) gives the float64 answer, dense and exact sparse', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // t^α overflows float32 from 100^20 on; the normalised answer is finite and well conditioned.
  const n = 300, d = 32, dv = 16;
  const scoreCases = [
    { alpha: 300, bias: 0, score: (i: number) => 50 + (50 * i) / n },
    { alpha: 300, bias: 0, score: (i: number) => 100 - (50 * i) / n },
    { alpha: 20, bias: 0.5, score: (i: number, u: number) => (i < 64 ? 0.5 + 1e-3 * u : 40 + 60 * u) },
  ];
  let seed = 40;
  for (const c of scoreCases) {
    for (const sparsity of ['dense', undefined] as const) {
      const r = rng(seed++);
      const k = gaussian(r, n, d).data, v = gaussian(r, n, dv).data;
      for (let i = 0; i < n; i++) k[i * d] = c.score(i, r.uniform());
      const q = new Float32Array(d);
      q[0] = 1; // the score of key i is exactly k[i·d]
      const cache = await KVCache.create({ heads: 1, kvHeads: 1, headDim: d, valueDim: dv, backend: 'webgpu', kind: 'relu', alpha: c.alpha, bias: c.bias, scale: 1, sparsity });
      cache.append(k, v);
      const { output } = await cache.attendAsync(q);
      const ref = referenceAttention({ q, m: 1, k, n, v, d, dv, kind: 'relu', scale: 1, alpha: c.alpha, bias: c.bias, causal: false });
      // Each weight's float32 error is a few ulps per multiplication of (t/t_max)^α, and the splits'
      // α·ln t_max states meet in float32 exp: relative α·2⁻²¹ each, with room.
      const tol = c.alpha * 2 ** -21 * 4;
      for (let i = 0; i < dv; i++) {
        assert.ok(Number.isFinite(output[i]!) && Math.abs(output[i]! - ref[i]!) <= tol * (1 + Math.abs(ref[i]!)),
          `α = ${c.alpha} ${sparsity ?? 'exact sparse'} dim ${i}: ${output[i]} vs ${ref[i]}`);
      }
    }
  }
});
