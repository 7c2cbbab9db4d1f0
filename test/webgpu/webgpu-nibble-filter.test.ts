/// <reference types="@webgpu/types" />
// The 4-bit first filter of exact sparse ReLU (WebGpuDecodePlan firstFilter 'int4', and 'int4-gather'
// whose candidates go straight to the gathered attention): every key whose
// float64 score exceeds the bias must pass it (checked on its candidate lists, not only through the
// output), the output must equal the float64 answer, and on LLM-like keys it must actually drop
// keys. Adversarial keys: ties at the bias, keys just above it, a key whose bound is tight (its
// residual parallel to the query: a narrower bound fails), zero and huge keys, a zero query,
// values exactly halfway between 4-bit and int8 levels, n = 0 and 1, d not a multiple of 32.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { deviceOrSkip } from './gpu-helpers.js';
import { check, edgeKeys, llmKeys } from './first-filter-check.js';

test('4-bit first filter: LLM-like keys — every positive key passes, the output is the float64 answer, and most keys are dropped (f32/f16, contiguous/paged)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(41), heads = 4, kvHeads = 2, d = 32, dv = 16, n = 1000;
  const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 1.5).data;
  // The bias leaving 2 % of the scores positive.
  const scores: number[] = [];
  for (let h = 0; h < heads; h++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[h * d + i]! * k[(Math.floor(h / (heads / kvHeads)) * n + j) * d + i]!;
    scores.push(s / Math.sqrt(d));
  }
  const bias = scores.sort((a, b) => b - a)[Math.floor(0.02 * scores.length)]!;
  for (const [storage, paged, filter] of [['f32', false, 'int4'], ['f16', true, 'int4'], ['f32', false, 'int4-gather'], ['f16', true, 'int4-gather']] as const) {
    const sizes = await check(device, { label: `llm ${filter} ${storage}${paged ? ' paged' : ''}`, heads, kvHeads, d, dv, n, storage, k, v, q, bias, paged, filter });
    // The filter must filter: a bound that passed everything would pass this test's other checks.
    for (const s of sizes) assert.ok(s < n / 2, `llm ${storage}: the 4-bit filter kept ${s} of ${n} keys`);
  }
});

test('4-bit first filter: ties at the bias, keys just above it, a residual the query is parallel to (tight bound), zero and huge keys, a zero query, values halfway between levels, d = 48, n = 0 and 1', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(42), heads = 2, kvHeads = 1, d = 48, dv = 8;
  const { n, k, v, q, bias } = edgeKeys(r, heads, d, dv);
  await check(device, { label: 'edges f32', heads, kvHeads, d, dv, n, storage: 'f32', k, v, q, bias, scale: 1 });
  await check(device, { label: 'edges f16', heads, kvHeads, d, dv, n, storage: 'f16', k, v, q, bias, scale: 1 });
  await check(device, { label: 'edges f32, straight to the gathered attention', heads, kvHeads, d, dv, n, storage: 'f32', k, v, q, bias, scale: 1, filter: 'int4-gather' });
  // A key whose 4-bit residual the query is parallel to, so the bound's Cauchy–Schwarz term is
  // tight for it: a bias just below its score leaves no slack (a narrower bound would drop it).
  // Dim 0 = 7 sets the scale s = 1; dims c ± 0.49; the query ∝ the residual (0.49·sign c).
  {
    const da = 32, na = 64, ka = gaussian(r, na, da, 2).data, qa = new Float32Array(da);
    for (let i = 0; i < da; i++) {
      const c = i === 0 ? 7 : (1 + (i % 6)) * (i % 2 ? 1 : -1);
      ka[i] = i === 0 ? 7 : c + 0.49 * Math.sign(c);
      qa[i] = i === 0 ? 0 : 3 * (ka[i]! - c);
    }
    for (let j = 0; j < na; j += 2) for (let i = 0; i < da; i++) ka[(j + 1) * da + i] = -ka[j * da + i]!;
    let s0 = 0;
    for (let i = 0; i < da; i++) s0 += qa[i]! * ka[i]!;
    await check(device, { label: 'tight residual', heads: 1, kvHeads: 1, d: da, dv, n: na, storage: 'f32', k: ka, v: gaussian(r, na, dv).data, q: qa, bias: s0 * (1 - 2 ** -12), scale: 1 });
  }
  // Huge keys (f32: norms ~1e6 beside unit ones) and a huge query scale.
  const kh = gaussian(r, 64, d).data;
  for (let i = 0; i < d; i++) { kh[5 * d + i] = 1e6 * (i % 2 ? 1 : -1); kh[6 * d + i] = -1e6 * (i % 2 ? 1 : -1); }
  await check(device, { label: 'huge keys', heads, kvHeads, d, dv, n: 64, storage: 'f32', k: kh, v: gaussian(r, 64, dv).data, q: gaussian(r, heads, d, 3).data, bias: 0.5 });
  // n = 1 and n = 0.
  await check(device, { label: 'n = 1', heads, kvHeads, d, dv, n: 1, storage: 'f32', k: gaussian(r, 1, d).data, v: gaussian(r, 1, dv).data, q: gaussian(r, heads, d).data, bias: -10 });
  await check(device, { label: 'n = 0', heads, kvHeads, d, dv, n: 0, storage: 'f32', k: new Float32Array(0), v: new Float32Array(0), q: gaussian(r, heads, d).data, bias: 0 });
});

test('4-bit first filter: only with exact sparse ReLU', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 1, headDim: 16, storage: 'f32' as const, maxLength: 64 };
  const bad = (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION';
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, firstFilter: 'int4' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'dense', firstFilter: 'int4' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { topK: 4 }, firstFilter: 'int4-gather' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'int2' as never }), bad);
  assert.equal(WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact' }).firstFilterCandidates, null);
});
