/// <reference types="@webgpu/types" />
// The 'webgpu' backend against the float64 reference, on whatever adapter Dawn finds (in CI:
// SwiftShader, which scripts/run-tests.mjs points Vulkan at). Shapes are small: SwiftShader is a CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, KVCache, type KVCacheOptions } from '../../src/index.js';
import type { GpuDecoder } from '../../src/webgpu/decoder.js';
import { gaussian, referenceAttention, referenceWeights, rng, type Rand } from '../attention/fixtures.js';
import { gpuOrSkip, asStored } from './gpu-helpers.js';

/** LLM-like keys: a shared offset direction, a few strong outliers per query, Gaussian rest. */
function llmKeys(r: Rand, n: number, kvHeads: number, d: number): Float32Array {
  const k = gaussian(r, n, kvHeads * d, 0.6).data;
  for (let i = 0; i < k.length; i += d) k[i] = (k[i] ?? 0) + 2;
  for (let j = 0; j < n; j += 37) for (let c = 0; c < kvHeads * d; c++) k[j * kvHeads * d + c]! *= 3;
  return k;
}

/** Head h's keys or values out of token-major [n, kvHeads, dim] rows. */
function headRows(x: Float32Array, n: number, kvHeads: number, dim: number, g: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let j = 0; j < n; j++) out.set(x.subarray((j * kvHeads + g) * dim, (j * kvHeads + g + 1) * dim), j * dim);
  return out;
}

interface Case { label: string; opts: Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>; n: number; d: number; dv: number; keys?: 'gauss' | 'llm' | 'ties' }

/**
 * Runs one case with appends in three batches (so the GPU buffers grow) and checks every head:
 * exact modes within `tol` of the float64 reference (relative to max|v|); certified rows with
 * TV(kept) ≤ errorBound ≤ ε, the output within 2·errorBound·max‖v‖ of the reference, and stats.
 */
async function check(c: Case, seed: number): Promise<void> {
  const r = rng(seed), heads = 4, kvHeads = 2, group = heads / kvHeads, { n, d, dv } = c;
  const keys = c.keys === 'llm' ? llmKeys(r, n, kvHeads, d) : gaussian(r, n, kvHeads * d, 1.2).data;
  if (c.keys === 'ties') for (let j = 1; j < n; j += 2) keys.copyWithin(j * kvHeads * d, (j - 1) * kvHeads * d, j * kvHeads * d);
  const values = gaussian(r, n, kvHeads * dv).data;
  const queries = gaussian(r, heads, d, 1.5).data;
  queries.fill(0, 0, d); // head 0: a zero query (uniform softmax, ReLU all-zero)
  const cache = await KVCache.create({ heads, kvHeads, headDim: d, valueDim: dv, backend: 'webgpu', ...c.opts });
  const cut = [0, Math.floor(n / 3), Math.floor(n / 2), n];
  for (let b = 0; b < 3; b++) {
    cache.append(keys.subarray(cut[b]! * kvHeads * d, cut[b + 1]! * kvHeads * d), values.subarray(cut[b]! * kvHeads * dv, cut[b + 1]! * kvHeads * dv));
  }
  assert.equal(cache.length, n);
  const { output, stats } = await cache.attendAsync(queries);
  const storage = c.opts.storage ?? 'f32', o = cache.options;
  const kStored = asStored(keys, storage), vStored = asStored(values, storage);
  const eps = o.selection.rule === 'certified' ? o.selection.epsilon : null;
  const selection = eps !== null ? await (cache as unknown as { gpu: GpuDecoder }).gpu.lastSelection() : null;
  let used = 0;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    const x = {
      q: queries.subarray(h * d, (h + 1) * d), m: 1, n, d, dv, kind: o.kind, scale: o.scale, alpha: o.alpha, bias: o.bias, causal: false,
      k: headRows(c.keys === 'ties' ? kStored : keys, n, kvHeads, d, g), v: headRows(values, n, kvHeads, dv, g),
    };
    const ref = referenceAttention(x);
    let vMax = 0;
    for (const t of x.v) vMax = Math.max(vMax, Math.abs(t));
    const tol = (storage === 'f16' ? 1e-3 : 2e-5) * vMax;
    if (eps === null) {
      for (let i = 0; i < dv; i++) assert.ok(Math.abs(output[h * dv + i]! - ref[i]!) <= tol, `${c.label} head ${h} dim ${i}: ${output[h * dv + i]} vs ${ref[i]}`);
      if (o.kind === 'relu') used += referenceWeights({ ...x, k: headRows(kStored, n, kvHeads, d, g) }, 0).filter((w) => w > 0).length;
      continue;
    }
    // Certified: the true TV of the kept set over the stored keys is within the bound.
    const w = referenceWeights({ ...x, k: headRows(kStored, n, kvHeads, d, g), v: headRows(vStored, n, kvHeads, dv, g) }, 0);
    let all = 0, skipped = 0;
    const kept = new Uint8Array(n);
    for (const id of selection![h]!) kept[id] = 1;
    for (let j = 0; j < n; j++) { all += w[j]!; if (!kept[j]) skipped += w[j]!; }
    const bound = stats.errorBound![h]!;
    assert.ok(skipped / all <= bound, `${c.label} head ${h}: TV ${skipped / all} > errorBound ${bound}`);
    assert.ok(bound <= eps, `${c.label} head ${h}: errorBound ${bound} > ε ${eps}`);
    let vNorm = 0;
    for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < dv; i++) s += x.v[j * dv + i]! ** 2; vNorm = Math.max(vNorm, Math.sqrt(s)); }
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(output[h * dv + i]! - ref[i]!) <= 2 * bound * vNorm + tol, `${c.label} head ${h} dim ${i}`);
    used += selection![h]!.length;
  }
  if (eps !== null) {
    assert.equal(stats.keysUsed, used);
    assert.equal(stats.boundsEvaluated, heads * n);
  } else if (o.kind === 'relu') {
    assert.equal(stats.keysUsed, used, `${c.label}: keysUsed`);
  } else {
    assert.equal(stats.keysUsed, heads * n);
  }
}

const cases: Case[] = [];
for (const storage of ['f32', 'f16'] as const) {
  cases.push(
    { label: `dense softmax ${storage}`, opts: { kind: 'softmax', storage }, n: 600, d: 24, dv: 20 },
    { label: `dense softmax ${storage}, ties, n = 3`, opts: { kind: 'softmax', storage }, n: 3, d: 16, dv: 8, keys: 'ties' },
    { label: `dense ReLU² ${storage}`, opts: { kind: 'relu', sparsity: 'dense', alpha: 2, bias: 0.2, storage }, n: 300, d: 16, dv: 16 },
    { label: `exact sparse ReLU ${storage}`, opts: { kind: 'relu', bias: 1, storage }, n: 700, d: 32, dv: 16 },
    { label: `certified ε = 1e-2 ${storage}`, opts: { kind: 'softmax', sparsity: { epsilon: 1e-2 }, storage }, n: 900, d: 32, dv: 16, keys: 'llm' },
  );
}
cases.push({ label: 'certified ε = 1e-3 f32, ties', opts: { kind: 'softmax', sparsity: { epsilon: 1e-3 } }, n: 500, d: 16, dv: 8, keys: 'ties' });

test('webgpu backend: dense, exact ReLU and certified rows against the float64 reference (f32 and f16 storage)', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  let seed = 1;
  for (const c of cases) await check(c, seed++);
});

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

test('webgpu backend: a GPU object without an adapter gives UNSUPPORTED', async () => {
  const noAdapter = { requestAdapter: async () => null, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: new Set() } as unknown as GPU;
  await assert.rejects(KVCache.create({ kind: 'softmax', heads: 1, kvHeads: 1, headDim: 4, backend: 'webgpu', gpu: noAdapter }),
    (e: unknown) => e instanceof HsrError && e.code === 'UNSUPPORTED' && /adapter/.test(e.message));
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
