/// <reference types="@webgpu/types" />
// The projection first filter of exact sparse ReLU (WebGpuDecodePlan firstFilter 'proj', and
// 'proj-gather' whose candidates go straight to the gathered attention): every key whose float64
// score exceeds the bias must pass it (checked on its candidate lists, not only through the
// output), the output must equal the float64 answer, and on low-rank keys it must actually drop
// keys. Adversarial keys: ties at the bias and keys 2⁻¹⁰ above it, a key whose residual the query is
// parallel to (the bound is tight: a halved one drops it), a degenerate basis (all keys
// equal; keys of rank 2 < 8), keys appended after the basis was made and outside its span, zero and
// huge keys, a zero query, n = 0 and 1, d = 48 / 64 / 128, ranks 8 / 16 / 32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { deviceOrSkip } from './gpu-helpers.js';
import { check, edgeKeys, llmKeys, tightResidualKeys } from './first-filter-check.js';

/** The bias leaving `share` of every head's scaled scores above it. */
function biasAt(share: number, k: Float32Array, q: Float32Array, heads: number, kvHeads: number, n: number, d: number): number {
  const scores: number[] = [];
  for (let h = 0; h < heads; h++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[h * d + i]! * k[(Math.floor(h / (heads / kvHeads)) * n + j) * d + i]!;
    scores.push(s / Math.sqrt(d));
  }
  return scores.sort((a, b) => b - a)[Math.floor(share * scores.length)]!;
}

/** The projection scan at K keys a thread. */
const keys = (K: number) => ({ projectionKeysPerThread: K });

test('projection first filter: low-rank LLM-like keys — every positive key passes, the output is the float64 answer, and most keys are dropped (d = 64 / 128, f32/f16, contiguous/paged, ranks 8 / 16, 1–8 keys a thread)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(51), heads = 4, kvHeads = 2;
  for (const [d, n, rank, storage, paged, filter, projection] of [[64, 600, 8, 'f32', false, 'proj', keys(1)], [128, 400, 16, 'f16', false, 'proj', keys(2)],
    [128, 400, 8, 'f32', true, 'proj-gather', {}], [128, 700, 8, 'f16', false, 'proj-gather', keys(2)], [64, 600, 24, 'f32', false, 'proj-gather', keys(4)]] as const) {
    // Queries as an LLM's: mostly in the keys' span (here 1.5·(k_a − k_b) of two keys of the head's group).
    const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, 16).data, q = new Float32Array(heads * d);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads)), a = g * n + Math.floor(r.uniform() * n), b = g * n + Math.floor(r.uniform() * n);
      for (let i = 0; i < d; i++) q[h * d + i] = 1.5 * (k[a * d + i]! - k[b * d + i]!);
    }
    const bias = biasAt(0.02, k, q, heads, kvHeads, n, d);
    const label = `llm d=${d} r=${rank} ${filter} ${storage}${paged ? ' paged' : ''} ${JSON.stringify(projection)}`;
    const sizes = await check(device, { label, heads, kvHeads, d, dv: 16, n, storage, k, v, q, bias, paged, filter, projectionRank: rank, projection });
    // The filter must filter: a bound that passed everything would pass this test's other checks.
    for (const s of sizes) assert.ok(s < n / 4, `${label}: the projection filter kept ${s} of ${n} keys`);
  }
});

test('projection first filter: ties at the bias, keys just above it, a zero query, zero and huge keys, n = 0 and 1', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(52), heads = 2, kvHeads = 1, d = 48, dv = 8;
  const { n, k, v, q, bias } = edgeKeys(r, heads, d, dv);
  for (const [storage, filter, rank, projection] of [['f32', 'proj', 8, {}], ['f16', 'proj-gather', 8, keys(1)], ['f32', 'proj-gather', 32, {}],
    ['f16', 'proj-gather', 8, keys(4)], ['f32', 'proj', 32, keys(2)]] as const) {
    await check(device, { label: `edges ${storage} ${filter} r=${rank} ${JSON.stringify(projection)}`, heads, kvHeads, d, dv, n, storage, k, v, q, bias, scale: 1, filter, projectionRank: rank, projection });
  }
  // Huge keys (f32: norms ~1e6 beside unit ones; and one at 1e30, beyond f16 and float32 squares).
  const kh = gaussian(r, 64, d).data;
  for (let i = 0; i < d; i++) { kh[5 * d + i] = 1e6 * (i % 2 ? 1 : -1); kh[6 * d + i] = -1e6 * (i % 2 ? 1 : -1); kh[9 * d + i] = i === 3 ? 1e30 : 0; }
  for (const projection of [{}, keys(1)]) {
    const label = JSON.stringify(projection);
    await check(device, { label: `huge keys ${label}`, heads, kvHeads, d, dv, n: 64, storage: 'f32', k: kh, v: gaussian(r, 64, dv).data, q: gaussian(r, heads, d, 3).data, bias: 0.5, filter: 'proj', projection });
    await check(device, { label: `n = 1 ${label}`, heads, kvHeads, d, dv, n: 1, storage: 'f32', k: gaussian(r, 1, d).data, v: gaussian(r, 1, dv).data, q: gaussian(r, heads, d).data, bias: -10, filter: 'proj', projection });
    await check(device, { label: `n = 0 ${label}`, heads, kvHeads, d, dv, n: 0, storage: 'f32', k: new Float32Array(0), v: new Float32Array(0), q: gaussian(r, heads, d).data, bias: 0, filter: 'proj-gather', projection });
  }
});

test('projection first filter: a key whose residual the query is parallel to — the bound is tight there: a bias 1 % below its score keeps it (a halved bound drops it)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // The query is parallel to k*'s residual: the Cauchy–Schwarz term is met with equality, and only the
  // bound's rounding allowances and the basis' small tilt toward e₂₀ (k* is among the sampled keys) are
  // left between its upper bound and its score (first-filter-check.ts tightResidualKeys).
  const r = rng(53), { d, n, k, q, score } = tightResidualKeys(r);
  for (const [filter, projection] of [['proj', {}], ['proj-gather', {}], ['proj-gather', keys(2)]] as const) {
    const sizes = await check(device, { label: `tight residual ${filter} ${JSON.stringify(projection)}`, heads: 1, kvHeads: 1, d, dv: 8, n, storage: 'f32', k, v: gaussian(r, n, 8).data, q,
      bias: score * 0.99, scale: 1, filter, projectionRank: 8, projection });
    assert.ok(sizes[0]! <= 4, `tight residual ${filter}: ${sizes[0]} candidates (keys scoring 0 must not pass a bias of ${score * 0.99})`);
  }
});

test('projection first filter: degenerate bases (all keys equal; keys of rank 2 < 8) and keys appended after the basis, outside its span', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(54), heads = 2, kvHeads = 1, d = 64, dv = 8;
  // All keys equal: every basis row is left zero; the bound is the centred Cauchy–Schwarz one.
  {
    const n = 96, one = gaussian(r, 1, d).data, k = new Float32Array(n * d), q = gaussian(r, heads, d).data;
    for (let j = 0; j < n; j++) k.set(one, j * d);
    let s = 0;
    for (let i = 0; i < d; i++) s += q[i]! * one[i]!;
    for (const bias of [s / 8 - 1e-3, s / 8 + 1e-3]) {
      await check(device, { label: `equal keys, bias ${bias}`, heads, kvHeads, d, dv, n, storage: 'f32', k, v: gaussian(r, n, dv).data, q, bias, filter: 'proj', projectionRank: 8 });
    }
  }
  // Rank 2 < 8: keys α·u + β·w + c.
  {
    const n = 300, u = gaussian(r, 1, d).data, w = gaussian(r, 1, d).data, c = gaussian(r, 1, d).data, k = new Float32Array(n * d);
    for (let j = 0; j < n; j++) { const a = r.gauss(), b = r.gauss(); for (let i = 0; i < d; i++) k[j * d + i] = a * u[i]! + b * w[i]! + c[i]!; }
    const q = gaussian(r, heads, d).data, bias = biasAt(0.03, k, q, heads, kvHeads, n, d);
    const sizes = await check(device, { label: 'rank 2', heads, kvHeads, d, dv, n, storage: 'f16', k, v: gaussian(r, n, dv).data, q, bias, filter: 'proj-gather', projectionRank: 8 });
    assert.ok(sizes[0]! < n / 4, `rank 2: the projection filter kept ${sizes[0]} of ${n} keys`);
  }
  // The basis made from the first 64 keys (a 4-dim span), then 236 keys appended in other directions,
  // many scoring far above the bias: coded with the old basis, their residuals carry them.
  {
    const n = 300, n0 = 64, U = gaussian(r, 4, d).data, k = gaussian(r, n, d, 2).data, q = gaussian(r, heads, d).data;
    for (let j = 0; j < n0; j++) for (let i = 0; i < d; i++) { let x = 0; for (let a = 0; a < 4; a++) x += U[a * d + i]! * k[j * d + a]!; k[j * d + i] = x; }
    const bias = biasAt(0.05, k, q, heads, kvHeads, n, d);
    for (const [filter, projection] of [['proj', {}], ['proj-gather', {}], ['proj-gather', keys(4)]] as const) {
      await check(device, { label: `appended ${filter} ${JSON.stringify(projection)}`, heads, kvHeads, d, dv, n, storage: 'f32', k, v: gaussian(r, n, dv).data, q, bias, filter, projectionRank: 8, firstStep: n0, projection });
    }
  }
});

test('projection first filter: with exact sparse ReLU (certified ε: \'proj\' only, webgpu-proj-certified.test.ts), ranks 8 / 16 / 24 / 32; its tuning options only with it', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 1, headDim: 16, storage: 'f32' as const, maxLength: 64 };
  const bad = (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION';
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, firstFilter: 'proj-gather' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'dense', firstFilter: 'proj-gather' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'proj', projectionRank: 12 }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'int4', projectionRank: 8 }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'int8', projectionKeysPerThread: 8 }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'proj-gather', projectionKeysPerThread: 3 }), bad);
  assert.ok(WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'proj', projectionRank: 24 }).firstFilterCandidates);
});
