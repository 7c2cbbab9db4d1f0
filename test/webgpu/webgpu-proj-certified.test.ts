/// <reference types="@webgpu/types" />
// Certified softmax ε on the projection first filter's bounds (WebGpuDecodePlan firstFilter 'proj'
// with sparsity { epsilon }: proj-certified.ts). Checked on the scan's own output, per key and head:
// the upper-bound byte's mass edge must be ≥ the key's true mass relative to the anchor and the
// lower-bound byte's ≤ it (every key, against float64 scores of the keys as stored) — a bound made
// too tight fails here (the tight-residual case: a halved width misplaces that key's bytes) — and on
// the step: errorBound ≥ the kept set's true TV, ≤ ε, the output within 2·errorBound·max‖v‖ of the
// float64 answer. Low-rank LLM-like keys (it must keep few of them), a key whose residual the query is
// parallel to, equal keys (ties), zero keys, a zero query, huge keys (1e6, and 1e30 beyond f16 and
// float32 squares), n = 0 and 1, d = 16 / 48 / 64 / 128, ranks 8 / 16, f32 / f16, contiguous / paged,
// GQA 1 / 2 / 3 / 8 (two bucket words a key), the top-sum cut; the default one query pass
// (certifiedQuery 'proj': two steps, so what it clears is checked) and the int8 query pass before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import type { DecodePlanOptions } from '../../src/webgpu/plan-options.js';
import { ABOVE } from '../../src/webgpu/select-wgsl.js';
import { gaussian, referenceAttention, referenceWeights, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, readBuffer, upload } from './gpu-helpers.js';
import { llmKeys, pageSize, rows, tightResidualKeys } from './first-filter-check.js';

interface Case {
  label: string; heads: number; kvHeads: number; d: number; dv: number; n: number; storage: 'f32' | 'f16';
  /** Keys [kvHeads, n, d], values [kvHeads, n, dv], queries [heads, d]. */
  k: Float32Array; v: Float32Array; q: Float32Array;
  eps?: number; scale?: number; paged?: boolean; rank?: number; cut?: DecodePlanOptions['certifiedCut'];
  /** The plan's tuning options certifiedQuery and certifiedCompactKeys. */
  tuning?: Pick<DecodePlanOptions, 'certifiedQuery' | 'certifiedCompactKeys'>;
}

const BYTE_MAX = 255;

/** Runs one certified 'proj' step and checks the bucket bytes per key and the step; returns the keys kept a list. */
async function check(device: GPUDevice, c: Case): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, storage } = c, group = heads / kvHeads, eps = c.eps ?? 1e-3;
  const cap = Math.max(pageSize, Math.ceil(n / pageSize) * pageSize), scale = Math.fround(c.scale ?? 1 / Math.sqrt(d));
  const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: 'softmax', scale,
    sparsity: { epsilon: eps }, firstFilter: 'proj', projectionRank: c.rank ?? 8, certifiedCut: c.cut, certifiedDenseMax: 0, maxLength: cap, targetWorkgroups: 8,
    layout: c.paged ? { pageSize } : 'contiguous', ...c.tuning });
  const K = rows(c.k, c, d, cap), V = rows(c.v, c, dv, cap);
  const bufs = { queries: upload(device, c.q), keys: upload(device, K.data), values: upload(device, V.data),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
    ...(K.table ? { pageTable: upload(device, K.table) } : {}) };
  // Two steps: what one step's passes clear (the histogram, the lists' counts) must be cleared for the next.
  for (let step = 0; step < 2; step++) {
    const enc = device.createCommandEncoder();
    plan.encode(enc, bufs, n);
    device.queue.submit([enc.finish()]);
  }
  const got = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const statsBytes = await readBuffer(device, plan.stats, heads * 16), bounds = new Float32Array(statsBytes), words = new Uint32Array(statsBytes);
  const s = (plan as unknown as { selection: { anchor: GPUBuffer; upBytes: GPUBuffer; loBytes: GPUBuffer; hist: GPUBuffer } }).selection;
  const GH = Math.min(group, 8), WPK = Math.ceil(GH / 4), byteWords = (heads / GH) * WPK * cap * 4;
  const anchor = new Float32Array(await readBuffer(device, s.anchor, heads * 4));
  const up = new Uint32Array(await readBuffer(device, s.upBytes, byteWords)), lo = new Uint32Array(await readBuffer(device, s.loBytes, byteWords));
  // The histogram counts every key once a step (a step that did not clear it counts them twice).
  const NB = 448, hist = new Uint32Array(await readBuffer(device, s.hist, heads * NB * 2 * 4));
  const byteOf = (x: Uint32Array, h: number, j: number) => (x[(Math.floor(h / GH) * WPK + Math.floor((h % GH) / 4)) * cap + j]! >> (8 * ((h % GH) % 4))) & 0xff;
  // (A step over 0 keys runs dense: no lists.)
  const sel = n === 0 ? null : plan.selected!, lists = sel ? heads / sel.headsPerList : 0;
  const ids = sel ? new Uint32Array(await readBuffer(device, sel.ids, lists * cap * 4)) : new Uint32Array(0);
  const counts = sel ? new Uint32Array(await readBuffer(device, sel.counts, 16 * Math.ceil(lists / 4))) : new Uint32Array(0);
  assert.equal(plan.firstFilterCandidates, null, `${c.label}: certified 'proj' lists no candidates of its own`);
  const tol = storage === 'f16' ? 1e-3 : 2e-5, kept: number[] = [];
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), q = c.q.subarray(h * d, (h + 1) * d);
    const x = { q, m: 1, n, d, dv, kind: 'softmax' as const, scale, alpha: 1, bias: 0, causal: false,
      k: asStored(c.k.subarray(g * n * d, (g + 1) * n * d), storage), v: asStored(c.v.subarray(g * n * dv, (g + 1) * n * dv), storage) };
    // Every key's bytes against its float64 score: gap = anchor − s; the upper byte's bucket must start
    // at or below the gap (its edge e^{−(b − ABOVE)/8} ≥ e^{s − a}), the lower byte's end at or above it.
    const a = anchor[h]!;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += q[i]! * x.k[j * d + i]!;
      const gap = a - scale * dot, bu = byteOf(up, h, j), bl = byteOf(lo, h, j);
      assert.ok(bu === 0 || (bu - ABOVE) / 8 <= gap, `${c.label} head ${h} key ${j}: upper byte ${bu} above its score (anchor − score ${gap})`);
      assert.ok(bl === BYTE_MAX || (bl - ABOVE + 1) / 8 >= gap, `${c.label} head ${h} key ${j}: lower byte ${bl} below its score (anchor − score ${gap})`);
    }
    if (!sel) { assert.equal(words[4 * h], 0); continue; }
    for (const side of [0, 1]) {
      let total = 0;
      for (let b = 0; b < NB; b++) total += hist[(h * NB + b) * 2 + side]!;
      assert.equal(total, n, `${c.label} head ${h}: the histogram's ${side ? 'lower' : 'upper'} counts`);
    }
    const li = Math.floor(h / sel.headsPerList), list = ids.slice(li * cap, li * cap + counts[li]!);
    assert.equal(new Set(list).size, list.length, `${c.label} head ${h}: ids repeat`);
    kept.push(list.length);
    const w = referenceWeights(x, 0), ref = referenceAttention(x), inList = new Uint8Array(n);
    for (const j of list) inList[j] = 1;
    let all = 0, skipped = 0;
    for (let j = 0; j < n; j++) { all += w[j]!; if (!inList[j]) skipped += w[j]!; }
    const bound = bounds[4 * h + 2]!;
    assert.ok(skipped / all <= bound, `${c.label} head ${h}: TV ${skipped / all} > errorBound ${bound}`);
    assert.ok(bound <= eps, `${c.label} head ${h}: errorBound ${bound} > ε ${eps}`);
    let vNorm = 0, vMax = 0;
    for (let j = 0; j < n; j++) { let t = 0; for (let i = 0; i < dv; i++) { t += x.v[j * dv + i]! ** 2; vMax = Math.max(vMax, Math.abs(x.v[j * dv + i]!)); } vNorm = Math.max(vNorm, Math.sqrt(t)); }
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= 2 * bound * vNorm + tol * vMax, `${c.label} head ${h} dim ${i}: ${got[h * dv + i]} vs ${ref[i]}`);
  }
  plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
  return kept;
}

/** Queries as an LLM's: mostly in the keys' span (`gain`·(k_a − k_b) of two keys of the head's KV group). */
function spanQueries(r: ReturnType<typeof rng>, k: Float32Array, heads: number, kvHeads: number, n: number, d: number, gain: number): Float32Array {
  const q = new Float32Array(heads * d);
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads)), a = g * n + Math.floor(r.uniform() * n), b = g * n + Math.floor(r.uniform() * n);
    for (let i = 0; i < d; i++) q[h * d + i] = gain * (k[a * d + i]! - k[b * d + i]!);
  }
  return q;
}

test('certified ε on the projection bounds: low-rank LLM-like keys — every key\'s bucket bytes hold its score, errorBound ≥ TV and ≤ ε, and few keys are kept (d = 16 / 64 / 128, ranks 8 / 16, f32 / f16, contiguous / paged, GQA 2 / 3 / 8, the top-sum cut)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(71);
  // (heads, kvHeads, d, n, rank, storage, paged, cut, the most a list may keep: one list serves GQA heads, 8 at 8/1).
  for (const [heads, kvHeads, d, n, rank, storage, paged, cut, most] of [[4, 2, 64, 900, 8, 'f32', false, undefined, 0.5], [4, 2, 128, 600, 16, 'f16', true, undefined, 0.5],
    [6, 2, 64, 700, 8, 'f16', false, 'global-top-sum', 0.5], [8, 1, 16, 500, 8, 'f32', false, undefined, 0.75]] as const) {
    const k = llmKeys(r, kvHeads, n, d), q = spanQueries(r, k, heads, kvHeads, n, d, 2.5);
    const v = gaussian(r, kvHeads * n, 16).data;
    // Also with the int8 query pass before the projection's (its anchor from the int8 bounds) and one key a compaction thread.
    for (const tuning of [undefined, ...(d === 64 ? [{ certifiedQuery: 'int8', certifiedCompactKeys: 1 } as const] : [])]) {
      const label = `llm ${heads}/${kvHeads} d=${d} r=${rank} ${storage}${paged ? ' paged' : ''}${cut ? ` ${cut}` : ''}${tuning ? ' int8 query pass, 1 key a compaction thread' : ''}`;
      const kept = await check(device, { label, heads, kvHeads, d, dv: 16, n, storage, k, v, q, rank, paged, cut, tuning });
      // It must filter (a bound that kept everything would pass the checks above): the lists' mean (a
      // KV group whose queries spread their mass keeps more).
      assert.ok(kept.reduce((x, y) => x + y, 0) < most * n * kept.length, `${label}: kept ${kept} of ${n}`);
    }
  }
});

test('certified ε on the projection bounds: a key whose residual the query is parallel to — its bytes are tight (a halved bound misplaces them), ε = 1e-2 and 1e-3', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // k* scores 7.5 and −k* −7.5 with tight projection bounds, every other key 0 (first-filter-check.ts
  // tightResidualKeys).
  const r = rng(72), { d, n, k, q } = tightResidualKeys(r);
  for (const eps of [1e-2, 1e-3]) {
    for (const storage of ['f32', 'f16'] as const) {
      await check(device, { label: `tight residual ε=${eps} ${storage}`, heads: 1, kvHeads: 1, d, dv: 8, n, storage, k, v: gaussian(r, n, 8).data, q, eps, scale: 1 });
    }
  }
});

test('certified ε on the projection bounds: equal keys (ties), zero keys, a zero query, huge keys, n = 0 and 1 (GQA 1, d = 48)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(73), heads = 2, kvHeads = 2, d = 48, dv = 8;
  const one = gaussian(r, 1, d).data, equal = new Float32Array(kvHeads * 200 * d);
  for (let j = 0; j < kvHeads * 200; j++) equal.set(one, j * d);
  const huge = gaussian(r, kvHeads * 64, d).data;
  for (let i = 0; i < d; i++) { huge[5 * d + i] = 1e6 * (i % 2 ? 1 : -1); huge[6 * d + i] = -1e6 * (i % 2 ? 1 : -1); huge[9 * d + i] = i === 3 ? 1e30 : 0; }
  const cases: [string, number, Float32Array, Float32Array, 'f32' | 'f16'][] = [
    ['equal keys', 200, equal, gaussian(r, heads, d).data, 'f16'],
    ['zero keys', 100, new Float32Array(kvHeads * 100 * d), gaussian(r, heads, d).data, 'f32'],
    ['zero query', 150, gaussian(r, kvHeads * 150, d).data, new Float32Array(heads * d), 'f32'],
    ['huge keys', 64, huge, gaussian(r, heads, d, 0.5).data, 'f32'],
    ['n = 1', 1, gaussian(r, kvHeads, d).data, gaussian(r, heads, d).data, 'f16'],
    ['n = 0', 0, new Float32Array(0), gaussian(r, heads, d).data, 'f32'],
  ];
  for (const [label, n, k, q, storage] of cases) {
    const v = gaussian(r, kvHeads * n, dv).data;
    await check(device, { label, heads, kvHeads, d, dv, n, storage, k, v, q });
    await check(device, { label: `${label}, int8 query pass`, heads, kvHeads, d, dv, n, storage, k, v, q, tuning: { certifiedQuery: 'int8' } });
  }
});

test('certified ε on the projection bounds: only firstFilter \'proj\', with the query projected in a pass and one key a thread', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 1, headDim: 16, storage: 'f32' as const, maxLength: 64, kind: 'softmax' as const };
  const bad = (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION';
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, firstFilter: 'proj-gather' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, firstFilter: 'int4' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { topK: 4 }, firstFilter: 'proj' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, firstFilter: 'proj', projectionKeysPerThread: 4 }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, certifiedQuery: 'proj' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', firstFilter: 'proj', certifiedQuery: 'proj' }), bad);
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, firstFilter: 'proj', certifiedQuery: 'both' as 'proj' }), bad);
  assert.equal(WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, firstFilter: 'proj', projectionRank: 16 }).firstFilterCandidates, null);
});
