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
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, upload, readBuffer } from './gpu-helpers.js';

interface Case {
  label: string; heads: number; kvHeads: number; d: number; dv: number; n: number; storage: 'f32' | 'f16';
  /** Keys [kvHeads, n, d], values [kvHeads, n, dv], queries [heads, d]. */
  k: Float32Array; v: Float32Array; q: Float32Array;
  bias: number; alpha?: number; scale?: number; paged?: boolean;
  /** Default 'int4'. */
  filter?: 'int4' | 'int4-gather';
}

const pageSize = 16;

/** Rows [kvHeads, n, dim] as a contiguous [kvHeads, cap, dim] buffer or a paged pool (pages in reverse order). */
function rows(x: Float32Array, c: Case, dim: number, cap: number): { data: Float32Array | Uint16Array; table?: Uint32Array } {
  const pages = Math.ceil(cap / pageSize), out = new Float32Array(c.kvHeads * cap * dim);
  for (let g = 0; g < c.kvHeads; g++) for (let j = 0; j < c.n; j++) {
    const row = c.paged ? ((pages - 1 - Math.floor(j / pageSize)) * c.kvHeads + g) * pageSize + (j % pageSize) : g * cap + j;
    out.set(x.subarray((g * c.n + j) * dim, (g * c.n + j + 1) * dim), row * dim);
  }
  const data = c.storage === 'f32' ? out : Uint16Array.from(out, (y) => numberToF16Bits(y));
  return c.paged ? { data, table: Uint32Array.from({ length: pages }, (_, p) => pages - 1 - p) } : { data };
}

/** Runs one step of an 'int4' plan and checks candidates ⊇ positive keys and the output; returns candidates a list. */
async function check(device: GPUDevice, c: Case): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, storage } = c, cap = Math.max(pageSize, Math.ceil(n / pageSize) * pageSize), group = heads / kvHeads;
  const scale = c.scale ?? 1 / Math.sqrt(d), alpha = c.alpha ?? 1;
  const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: 'relu', alpha, bias: c.bias, scale,
    sparsity: 'exact', firstFilter: c.filter ?? 'int4', maxLength: cap, targetWorkgroups: 8, layout: c.paged ? { pageSize } : 'contiguous' });
  const K = rows(c.k, c, d, cap), V = rows(c.v, c, dv, cap);
  const bufs = { queries: upload(device, c.q), keys: upload(device, K.data), values: upload(device, V.data),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
    ...(K.table ? { pageTable: upload(device, K.table) } : {}) };
  const enc = device.createCommandEncoder();
  plan.encode(enc, bufs, n);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const cand = plan.firstFilterCandidates!, lists = heads / cand.headsPerList;
  const ids = new Uint32Array(await readBuffer(device, cand.ids, lists * cap * 4));
  const counts = new Uint32Array(await readBuffer(device, cand.counts, 16 * Math.ceil(lists / 4)));
  const sizes: number[] = [];
  for (let l = 0; l < lists; l++) {
    const list = ids.slice(l * cap, l * cap + counts[l]!);
    assert.equal(new Set(list).size, list.length, `${c.label} list ${l}: ids repeat`);
    assert.ok(list.every((j) => j < n), `${c.label} list ${l}: an id beyond n`);
    sizes.push(list.length);
  }
  const tol = storage === 'f16' ? 1e-3 : 2e-5;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), k = asStored(c.k.subarray(g * n * d, (g + 1) * n * d), storage), v = asStored(c.v.subarray(g * n * dv, (g + 1) * n * dv), storage);
    const q = c.q.subarray(h * d, (h + 1) * d);
    const inList = new Set(ids.slice(Math.floor(h / cand.headsPerList) * cap, Math.floor(h / cand.headsPerList) * cap + counts[Math.floor(h / cand.headsPerList)]!));
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!;
      if (s * scale > c.bias) assert.ok(inList.has(j), `${c.label} head ${h}: key ${j} (score ${s * scale} > bias ${c.bias}) dropped by the 4-bit filter`);
    }
    const ref = referenceAttention({ q, m: 1, k, n, v, d, dv, kind: 'relu', scale, alpha, bias: c.bias, causal: false });
    let vMax = 0;
    for (const x of v) vMax = Math.max(vMax, Math.abs(x));
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= tol * Math.max(vMax, 1e-30), `${c.label} head ${h} dim ${i}: ${got[h * dv + i]} vs ${ref[i]}`);
  }
  plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
  return sizes;
}

/** LLM-like keys: a low-rank part, noise, and four outlier channels offset by +6 (as bench/lib/keys.ts 'llm'). */
function llmKeys(r: ReturnType<typeof rng>, kvHeads: number, n: number, d: number): Float32Array {
  const rank = 4, U = gaussian(r, d, rank, 1 / Math.sqrt(rank)).data, k = new Float32Array(kvHeads * n * d);
  for (let j = 0; j < kvHeads * n; j++) {
    const z = gaussian(r, 1, rank).data;
    for (let c = 0; c < d; c++) {
      let x = 0.3 * r.gauss();
      for (let a = 0; a < rank; a++) x += U[c * rank + a]! * z[a]!;
      k[j * d + c] = x + (c % 11 === 3 ? 6 : 0);
    }
  }
  return k;
}

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
  // Keys in ± pairs (every key's negation follows it), so the centre is exactly 0 and the codes see
  // the values as given: dims at k + ½ (halfway between 4-bit levels of scale 1: max |y| = 7) and
  // at (m + ½)/127·7 (halfway between int8 levels). Query 0 is integer: scores exact, many equal
  // to the bias (weight 0) and some 2⁻¹⁰ above it; query 1 is zero (every score 0 = bias: none kept).
  const n = 256, k = new Float32Array(n * d), v = gaussian(r, n, dv).data, q = new Float32Array(heads * d);
  for (let i = 0; i < d; i++) q[i] = (i % 3) - 1;
  const score = (j: number) => { let s = 0; for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!; return s; };
  for (let j = 0; j < n; j += 2) {
    for (let i = 0; i < d; i++) k[j * d + i] = i === 0 ? 7 : j % 4 === 0 ? Math.floor(r.uniform() * 14) - 6.5 : ((Math.floor(r.uniform() * 254) - 126.5) / 127) * 7;
    if (j % 8 === 0) k[j * d + 1] = 0;
    if (j === 10) k.fill(0, j * d, (j + 1) * d); // a zero key (and its pair)
    if (j % 16 === 4 || j % 16 === 8) k.set(k.subarray((j - (j % 16)) * d, (j - (j % 16) + 1) * d), j * d); // duplicates: equal scores
  }
  // Bias: the score of rows 16m (and their copies 16m + 4, 16m + 8); some of them then 2⁻¹⁰ above it (q[2] = 1).
  const bias = score(32);
  let nudged = 0;
  for (let j = 0; j < n; j += 2) if (score(j) === bias && nudged++ % 2 === 1) k[j * d + 2]! += 2 ** -10;
  for (let j = 0; j < n; j += 2) for (let i = 0; i < d; i++) k[(j + 1) * d + i] = -k[j * d + i]!;
  const ties = Array.from({ length: n }, (_, j) => score(j)).filter((s) => s === bias).length;
  assert.ok(ties >= 2, `${ties} keys tie at the bias`);
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
