/// <reference types="@webgpu/types" />
// Certified ε through the fused pass (WebGpuDecodePlan sparsePass 'fused' with { epsilon }:
// src/webgpu/certified-keep.ts — the cut computed in every workgroup of the attention pass, the
// keys kept read off the scan's bytes, no cut pass, no compaction, no id list). Against the
// float64 reference: errorBound ≥ the true total variation of the kept set (the split path's
// lists, which the same cut on the same bytes makes: the fused step must attend exactly those keys —
// keysScored and keysUsed equal), errorBound ≤ ε, the output within 2·errorBound·max‖v‖; and
// against the split step: the same errorBound (to float32 summation order). Adversarial inputs:
// all keys equal (ties), one huge key, a zero query, n = 0 and 1, GQA 1 / 2 / 3 / 4 / 12 heads a KV head,
// several blocks a KV group, f32 and f16, contiguous and paged; and with the projection's bounds
// (firstFilter 'proj'), whose bytes webgpu-proj-certified.test.ts checks key by key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { gaussian, referenceAttention, referenceWeights, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, planStep, upload, readBuffer } from './gpu-helpers.js';
import { llmKeys, pageSize, rows } from './first-filter-check.js';
import { CERTIFIED_DENSE_MAX } from '../../src/webgpu/plan-options.js';

interface Case {
  label: string; heads: number; kvHeads: number; d: number; dv: number; n: number; storage: 'f32' | 'f16'; eps: number;
  k: Float32Array; v: Float32Array; q: Float32Array; paged?: boolean;
  /** The plans' targetWorkgroups (the fused pass's blocks). */
  target?: number;
  certifiedCut?: 'global' | 'global-top-sum';
  /** The fused plan's fusedKeysPerThread. */
  kpt?: 1 | 2 | 4;
  /** Both plans' bounds from the projection first filter (firstFilter 'proj', projectionRank). */
  proj?: 8 | 16;
}

/** One step of a fused and a split certified plan over the same buffers, checked as the file's header says. Returns keysUsed a head. */
async function check(device: GPUDevice, c: Case): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, storage, eps } = c, cap = Math.max(pageSize, Math.ceil(n / pageSize) * pageSize), group = heads / kvHeads;
  const K = rows(c.k, c, d, cap), V = rows(c.v, c, dv, cap);
  const bufs = { queries: upload(device, c.q), keys: upload(device, K.data), values: upload(device, V.data), ...(K.table ? { pageTable: upload(device, K.table) } : {}) };
  const run = async (sparsePass: 'fused' | 'split') => {
    const { plan, out, stats: st } = await planStep(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: 'softmax', sparsity: { epsilon: eps }, sparsePass, certifiedDenseMax: 0,
      certifiedCut: c.certifiedCut, fusedKeysPerThread: sparsePass === 'fused' ? c.kpt : undefined, ...(c.proj ? { firstFilter: 'proj', projectionRank: c.proj } as const : {}), maxLength: cap, targetWorkgroups: c.target ?? 8, layout: c.paged ? { pageSize } : 'contiguous' },
      bufs, n, `${c.label} ${sparsePass}`);
    let lists: { ids: Uint32Array; counts: Uint32Array; headsPerList: number } | null = null;
    const sel = plan.selected;
    if (sparsePass === 'fused') assert.equal(sel, null, `${c.label}: a fused step leaves no id list`);
    else {
      lists = { ids: new Uint32Array(await readBuffer(device, sel!.ids, (heads / sel!.headsPerList) * cap * 4)),
        counts: new Uint32Array(await readBuffer(device, sel!.counts, 16 * Math.ceil(heads / 4))), headsPerList: sel!.headsPerList };
    }
    plan.destroy();
    return { out, words: new Uint32Array(st), bounds: new Float32Array(st), lists };
  };
  const split = await run('split'), fused = await run('fused');
  const tol = storage === 'f16' ? 1e-3 : 2e-5;
  const used: number[] = [];
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), k = asStored(c.k.subarray(g * n * d, (g + 1) * n * d), storage), v = asStored(c.v.subarray(g * n * dv, (g + 1) * n * dv), storage);
    const x = { q: c.q.subarray(h * d, (h + 1) * d), m: 1, k, n, v, d, dv, kind: 'softmax' as const, scale: 1 / Math.sqrt(d), alpha: 1, bias: 0, causal: false };
    const ref = referenceAttention(x), w = referenceWeights(x, 0);
    const li = Math.floor(h / split.lists!.headsPerList), list = split.lists!.ids.slice(li * cap, li * cap + split.lists!.counts[li]!);
    assert.equal(fused.words[4 * h], split.words[4 * h], `${c.label} head ${h}: keysScored, fused against split (the same cut keeps the same keys)`);
    assert.equal(fused.words[4 * h + 1], list.length, `${c.label} head ${h}: keysUsed is the split path's list`);
    const bound = fused.bounds[4 * h + 2]!, splitBound = split.bounds[4 * h + 2]!;
    assert.ok(Math.abs(bound - splitBound) <= 1e-5 * splitBound, `${c.label} head ${h}: errorBound ${bound} against the split step's ${splitBound}`);
    const inList = new Uint8Array(n);
    for (const j of list) inList[j] = 1;
    let all = 0, skipped = 0;
    for (let j = 0; j < n; j++) { all += w[j]!; if (!inList[j]) skipped += w[j]!; }
    if (n > 0) assert.ok(skipped / all <= bound, `${c.label} head ${h}: TV ${skipped / all} > errorBound ${bound}`);
    assert.ok(bound <= eps, `${c.label} head ${h}: errorBound ${bound} > ε ${eps}`);
    let vNorm = 0, vMax = 0;
    for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < dv; i++) { s += v[j * dv + i]! ** 2; vMax = Math.max(vMax, Math.abs(v[j * dv + i]!)); } vNorm = Math.max(vNorm, Math.sqrt(s)); }
    for (let i = 0; i < dv; i++) {
      const got = fused.out[h * dv + i]!;
      assert.ok(Math.abs(got - ref[i]!) <= 2 * bound * vNorm + tol * vMax, `${c.label} head ${h} dim ${i}: ${got} vs ${ref[i]} (errorBound ${bound})`);
    }
    used.push(fused.words[4 * h + 1]!);
  }
  for (const b of Object.values(bufs)) b.destroy();
  return used;
}

test('certified ε, fused: LLM-like keys, GQA 8/2, 6/2, 4/2, 4/4, 12/1 (scan groups of 6 heads), d = 128, 64, 32, several blocks, 1–4 keys a thread, f32/f16, contiguous/paged — the split path\'s keys and errorBound, TV ≤ errorBound ≤ ε', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(131);
  for (const [heads, kvHeads, d, storage, paged, n, eps, target, certifiedCut, kpt] of [[8, 2, 128, 'f16', false, 1500, 1e-3, 8, 'global', 1], [8, 2, 128, 'f32', true, 1500, 1e-2, 16, 'global-top-sum', 4],
    [4, 2, 64, 'f32', false, 1000, 1e-3, 2, 'global-top-sum', 2], [4, 4, 64, 'f16', true, 1000, 1e-2, 8, 'global', 1], [6, 2, 64, 'f16', false, 1000, 1e-3, 8, 'global', 4],
    [8, 2, 128, 'f16', false, 1500, 1e-3, 8, 'global-top-sum', 1], [12, 1, 32, 'f32', false, 800, 1e-3, 4, 'global', 1]] as const) {
    // LLM-like keys; a group's queries close to each other, and every 50th key aligned with them:
    // a few keys carry most of the mass, so the cut can leave most out.
    const dv = d, k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 0.2).data;
    const base = gaussian(r, kvHeads, d, 1).data, group = heads / kvHeads;
    for (let h = 0; h < heads; h++) for (let i = 0; i < d; i++) q[h * d + i]! += base[Math.floor(h / group) * d + i]!;
    for (let g = 0; g < kvHeads; g++) for (let j = 0; j < n; j += 50) for (let i = 0; i < d; i++) k[(g * n + j) * d + i] = 2 * base[g * d + i]!;
    const label = `${heads}/${kvHeads} d ${d} ${storage}${paged ? ' paged' : ''} ε ${eps} ${certifiedCut}, ${kpt} keys a thread`;
    const used = await check(device, { label, heads, kvHeads, d, dv, n, storage, eps, k, v, q, paged, target, certifiedCut, kpt });
    // The bounds cut: most keys are left out (the test fails if the rule kept everything) — at
    // d ≥ 64 (the 12/1 case at d = 32, there for the bytes' layout, keeps nearly all: its logits spread less).
    if (d >= 64) assert.ok(used.every((u) => u < 0.7 * n), `${label}: kept ${used} of ${n}`);
  }
});

test('certified ε, fused, on the projection bounds (firstFilter \'proj\', proj-certified.ts): low-rank LLM-like keys, GQA 4/2 and 6/2, ranks 8 / 16, both cuts, f32/f16, contiguous/paged; all keys equal — the split path\'s keys and errorBound, TV ≤ errorBound ≤ ε', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(134);
  for (const [heads, kvHeads, d, storage, paged, n, proj, certifiedCut] of [[4, 2, 64, 'f32', false, 800, 8, 'global'], [6, 2, 64, 'f16', true, 700, 16, 'global-top-sum'],
    [4, 2, 128, 'f16', false, 600, 8, 'global-top-sum']] as const) {
    // Queries in the keys' span (2.5·(k_a − k_b) of two keys of the head's KV group), as an LLM's.
    const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, d).data, q = new Float32Array(heads * d);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads)), a = g * n + Math.floor(r.uniform() * n), b = g * n + Math.floor(r.uniform() * n);
      for (let i = 0; i < d; i++) q[h * d + i] = 2.5 * (k[a * d + i]! - k[b * d + i]!);
    }
    const label = `proj ${proj} ${heads}/${kvHeads} d ${d} ${storage}${paged ? ' paged' : ''} ${certifiedCut}`;
    await check(device, { label, heads, kvHeads, d, dv: d, n, storage, eps: 1e-3, k, v, q, paged, target: 8, certifiedCut, proj });
  }
  const n = 300, d = 48, equal = new Float32Array(n * d);
  for (let j = 0; j < n; j++) equal.set(gaussian(rng(8), 1, d).data, j * d);
  const used = await check(device, { label: 'proj, all keys equal', heads: 2, kvHeads: 1, d, dv: 16, n, storage: 'f32', eps: 1e-3, k: equal, v: gaussian(r, n, 16).data, q: gaussian(r, 2, d).data, target: 4, proj: 8 });
  assert.ok(used.every((u) => u === n), `proj, all keys equal: kept ${used}`);
});

test('certified ε, fused: all keys equal (ties), one huge key, a zero query, n = 0 and 1, one head a KV head', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(132), heads = 4, kvHeads = 1, d = 64, dv = 16, n = 900;
  const v = gaussian(r, n, dv).data, q = gaussian(r, heads, d, 1).data;
  q.fill(0, 0, d); // head 0: a zero query (every key the same logit)
  const equal = new Float32Array(n * d);
  for (let j = 0; j < n; j++) equal.set(gaussian(rng(7), 1, d).data, j * d);
  const used = await check(device, { label: 'all keys equal', heads, kvHeads, d, dv, n, storage: 'f32', eps: 1e-3, k: equal, v, q, target: 4 });
  await check(device, { label: 'all keys equal, top-sum cut', heads, kvHeads, d, dv, n, storage: 'f16', eps: 1e-3, k: equal, v, q, target: 4, certifiedCut: 'global-top-sum' });
  // Equal logits: no key can be skipped (each carries 1/n of the mass, more than ε).
  assert.ok(used.every((u) => u === n), `all keys equal: kept ${used}`);
  const huge = gaussian(r, n, d, 0.5).data;
  for (let i = 0; i < d; i++) huge[333 * d + i] = 40 * q[d + i]!; // head 1's query times 40: one dominant key
  for (const storage of ['f32', 'f16'] as const) {
    for (const certifiedCut of ['global', 'global-top-sum'] as const) await check(device, { label: `one huge key ${storage} ${certifiedCut}`, heads, kvHeads, d, dv, n, storage, eps: 1e-3, k: huge, v, q, target: 4, certifiedCut });
  }
  await check(device, { label: 'n = 1', heads, kvHeads, d, dv, n: 1, storage: 'f32', eps: 1e-3, k: huge.subarray(0, d), v: v.subarray(0, dv), q });
  // n = 0: zero output, zero stats (errorBound 0: nothing is skipped).
  for (const sparsePass of ['fused', 'split'] as const) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: 'softmax', sparsity: { epsilon: 1e-3 }, sparsePass, certifiedDenseMax: 0, maxLength: 64 });
    const bufs = { queries: upload(device, q), keys: upload(device, new Float32Array(64 * d)), values: upload(device, new Float32Array(64 * dv)),
      output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    // A step over 64 keys first, so a stale cut would show in the n = 0 step's errorBound.
    for (const len of [64, 0]) {
      const enc = device.createCommandEncoder();
      plan.encode(enc, bufs, len);
      device.queue.submit([enc.finish()]);
    }
    assert.ok(new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4)).every((x) => x === 0), `n = 0 ${sparsePass}: output`);
    assert.ok(new Uint32Array(await readBuffer(device, plan.stats, heads * 16)).every((x) => x === 0), `n = 0 ${sparsePass}: stats`);
    plan.destroy();
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('certified ε, fused: the option is checked', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 1, headDim: 16, storage: 'f32', maxLength: 16, kind: 'softmax', sparsity: { epsilon: 1e-3 } } as const;
  for (const bad of [{ sparsePass: 'fused', fusedPrefetch: true }, { sparsePass: 'split', fusedLeanState: true }, { sparsePass: 'fused', gatheredLeanState: true }] as const) {
    assert.throws(() => WebGpuDecodePlan.create(device, { ...base, ...bad }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION', JSON.stringify(bad));
  }
  WebGpuDecodePlan.create(device, { ...base, sparsePass: 'fused', fusedLeanState: false }).destroy();
  WebGpuDecodePlan.create(device, { ...base, sparsePass: 'fused', certifiedCut: 'global-top-sum' }).destroy();
});

test('certified ε, certifiedDenseMax: steps up to it run dense (the float64 answer, errorBound 0, every key used), longer ones select (codes made then)', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(133), heads = 4, kvHeads = 2, d = 32, dv = 16, n = 600, cap = 640;
  const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 2).data;
  const K = rows(k, { kvHeads, n, storage: 'f32' }, d, cap), V = rows(v, { kvHeads, n, storage: 'f32' }, dv, cap);
  const bufs = { queries: upload(device, q), keys: upload(device, K.data), values: upload(device, V.data),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const step = async (plan: WebGpuDecodePlan, len: number) => {
    const enc = device.createCommandEncoder();
    plan.encode(enc, bufs, len);
    device.queue.submit([enc.finish()]);
    const st = await readBuffer(device, plan.stats, heads * 16);
    return { out: new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4)), words: new Uint32Array(st), bounds: new Float32Array(st) };
  };
  for (const sparsePass of ['split', 'fused'] as const) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: 'softmax', sparsity: { epsilon: 1e-3 }, sparsePass, certifiedDenseMax: 400, maxLength: cap, targetWorkgroups: 8 });
    const sparse = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: 'softmax', sparsity: { epsilon: 1e-3 }, sparsePass, certifiedDenseMax: 0, maxLength: cap, targetWorkgroups: 8 });
    // The default: steps up to CERTIFIED_DENSE_MAX run dense.
    const byDefault = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: 'softmax', sparsity: { epsilon: 1e-3 }, sparsePass, maxLength: cap, targetWorkgroups: 8 });
    const dflt = await step(byDefault, n);
    assert.ok(n <= CERTIFIED_DENSE_MAX && byDefault.selected === null, `${sparsePass}: the default runs ${n} keys dense`);
    assert.deepEqual([dflt.words[0], dflt.words[1], dflt.bounds[2]], [n, n, 0], `${sparsePass}: the default's stats`);
    byDefault.destroy();
    for (const len of [400, 1]) {
      const got = await step(plan, len);
      assert.equal(plan.selected, null, `${sparsePass} ${len}: a dense step leaves no id list`);
      assert.equal(plan.quantizedLength, 0, `${sparsePass} ${len}: a dense step codes no key`);
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const ref = referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, n: len, d, dv, kind: 'softmax', scale: 1 / Math.sqrt(d), alpha: 1, bias: 0, causal: false,
          k: k.subarray(g * n * d, (g * n + len) * d), v: v.subarray(g * n * dv, (g * n + len) * dv) });
        for (let i = 0; i < dv; i++) assert.ok(Math.abs(got.out[h * dv + i]! - ref[i]!) <= 2e-5 * 4, `${sparsePass} ${len} head ${h} dim ${i}: ${got.out[h * dv + i]} vs ${ref[i]}`);
        assert.deepEqual([got.words[4 * h], got.words[4 * h + 1], got.bounds[4 * h + 2]], [len, len, 0], `${sparsePass} ${len} head ${h}: stats`);
      }
    }
    // Past it the plan selects as a plan without the option does (the codes of every key made now).
    const got = await step(plan, n), want = await step(sparse, n);
    assert.equal(plan.quantizedLength, n);
    // (The same keys; errorBound to float32 summation order: the id lists' order comes from atomics.)
    for (let h = 0; h < heads; h++) {
      assert.deepEqual([got.words[4 * h], got.words[4 * h + 1]], [want.words[4 * h], want.words[4 * h + 1]], `${sparsePass} head ${h}: keys past certifiedDenseMax`);
      assert.ok(Math.abs(got.bounds[4 * h + 2]! - want.bounds[4 * h + 2]!) <= 1e-5 * want.bounds[4 * h + 2]!, `${sparsePass} head ${h}: errorBound past certifiedDenseMax`);
    }
    for (let i = 0; i < heads * dv; i++) assert.ok(Math.abs(got.out[i]! - want.out[i]!) <= 2e-5 * 4, `${sparsePass}: output ${i}`);
    assert.ok(got.words[1]! < n, `${sparsePass}: the selection left keys out (${got.words[1]} of ${n})`);
    plan.destroy(); sparse.destroy();
  }
  for (const b of Object.values(bufs)) b.destroy();
  const base = { heads, kvHeads, headDim: d, storage: 'f32', maxLength: 64 } as const;
  for (const bad of [{ kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedDenseMax: -1 }, { kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedDenseMax: 1.5 },
    { kind: 'softmax', certifiedDenseMax: 10 }, { kind: 'relu', sparsity: 'exact', certifiedDenseMax: 10 }] as const) {
    assert.throws(() => WebGpuDecodePlan.create(device, { ...base, ...bad }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /certifiedDenseMax/.test(e.message), JSON.stringify(bad));
  }
});
