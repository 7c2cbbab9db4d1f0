/// <reference types="@webgpu/types" />
// Threshold, 'paper' and top-k softmax on the 'webgpu' backend against the CPU KVCache (the same
// options on the plain-TypeScript kernels, fed the keys as the GPU stores them): the same kept keys
// (the float64 rule: logit ≥ t, else the best key; the top k by logit desc, id asc), the same
// keysUsed, outputs within the f32 / f16 tolerances, and errorBound never below the true TV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, KVCache, WebGpuDecodePlan, webGpuDevice, type KVCacheOptions } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import type { GpuDecoder } from '../../src/webgpu/decoder.js';
import { CACHED } from '../../src/webgpu/select-kernels.js';
import { paperThreshold } from '../../src/attention/threshold-rule.js';
import { KeyMoments } from '../../src/attention/moments.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { gpuOrSkip, asStored, readBuffer } from './gpu-helpers.js';
import { expectedKept } from './conformance.js';

type Sparsity = 'paper' | { threshold: number } | { topK: number };

interface Case {
  label: string; sparsity: Sparsity; n: number; d: number; dv: number; storage?: 'f32' | 'f16';
  /**
   * Keys: 'gauss', 'dups' (every other key repeats the one before), 'grid' (integers: exact logits,
   * many ties), or 'three' (every key one of three rows: each logit a third of the keys).
   */
  keys?: 'gauss' | 'dups' | 'grid' | 'three';
  scale?: number;
  /**
   * The threshold is the float64 logit of a key for query head 1 — the first whose logit, divided
   * back by the scale, lies above its dot product (exact with integer keys): that key must be kept.
   */
  atKey?: boolean;
  /** The threshold is the float64 logit of key 1 for query head 1: every key tied with it must be kept. */
  tieAt?: boolean;
  /** Checks after every append batch (the capacity grows, and the radix rounds with it), not only the last. */
  everyBatch?: boolean;
}

const heads = 4, kvHeads = 2, group = heads / kvHeads;

/** Float64 logits of query head h over the stored keys of its KV head. */
function logits(q: Float32Array, keys: Float32Array, n: number, d: number, h: number, scale: number): Float64Array {
  const g = Math.floor(h / group), x = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += q[h * d + i]! * keys[(j * kvHeads + g) * d + i]!;
    x[j] = s * scale;
  }
  return x;
}

async function check(c: Case, seed: number): Promise<void> {
  const r = rng(seed), { n, d, dv } = c, storage = c.storage ?? 'f32';
  let keys = gaussian(r, n, kvHeads * d, 1.2).data;
  if (c.keys === 'grid') keys = keys.map((v) => Math.round(v * 2));
  if (c.keys === 'dups') for (let j = 1; j < n; j += 2) keys.copyWithin(j * kvHeads * d, (j - 1) * kvHeads * d, j * kvHeads * d);
  if (c.keys === 'three') for (let j = 3; j < n; j++) keys.copyWithin(j * kvHeads * d, (j % 3) * kvHeads * d, (j % 3 + 1) * kvHeads * d);
  keys = asStored(keys, storage);
  const values = asStored(gaussian(r, n, kvHeads * dv).data, storage);
  const queries = gaussian(r, heads, d, 1.5).data;
  queries.fill(0, 0, d); // head 0: a zero query (every logit 0: all ties)
  if (c.atKey) {
    const s = c.scale ?? 1 / Math.sqrt(d), x = logits(queries, keys, n, d, 1, s), dots = logits(queries, keys, n, d, 1, 1);
    const j = dots.findIndex((dot, i) => x[i]! / s > dot);
    assert.ok(j >= 0, 'a key whose logit rounds up');
    c.sparsity = { threshold: x[j]! };
  }
  if (c.tieAt) c.sparsity = { threshold: logits(queries, keys, n, d, 1, c.scale ?? 1 / Math.sqrt(d))[1]! };
  const opts: KVCacheOptions = { heads, kvHeads, headDim: d, valueDim: dv, kind: 'softmax', sparsity: c.sparsity, scale: c.scale };
  const gpu = await KVCache.create({ ...opts, backend: 'webgpu', storage });
  const cpu = new KVCache({ ...opts, backend: 'js' });
  const cut = [0, Math.floor(n / 3), Math.floor(n / 2), n];
  for (let b = 0; b < 3; b++) {
    const k = keys.subarray(cut[b]! * kvHeads * d, cut[b + 1]! * kvHeads * d), v = values.subarray(cut[b]! * kvHeads * dv, cut[b + 1]! * kvHeads * dv);
    gpu.append(k, v); cpu.append(k, v);
    if (b === 2 || c.everyBatch) await verify(c, gpu, cpu, keys, values, queries, cut[b + 1]!);
  }
}

/** One decode step of both caches over their first `now` keys, checked as `check` says. */
async function verify(c: Case, gpu: KVCache, cpu: KVCache, keys: Float32Array, values: Float32Array, queries: Float32Array, now: number): Promise<void> {
  const { d, dv } = c, storage = c.storage ?? 'f32', label = `${c.label} (n = ${now})`, n = now;
  const got = await gpu.attendAsync(queries), want = cpu.attend(queries);
  const selection = await (gpu as unknown as { gpu: GpuDecoder }).gpu.lastSelection();
  const scale = gpu.options.scale;
  let vMax = 0;
  for (const v of values) vMax = Math.max(vMax, Math.abs(v));
  const tol = (storage === 'f16' ? 1e-3 : 2e-5) * vMax;
  const moments = Array.from({ length: kvHeads }, () => new KeyMoments(d));
  for (let j = 0; j < n * kvHeads; j++) moments[j % kvHeads]!.add(keys, j);
  const sparsity = c.sparsity as Sparsity;
  for (let h = 0; h < heads; h++) {
    const x = logits(queries, keys, n, d, h, scale);
    const rule = sparsity === 'paper'
      ? { threshold: paperThreshold(queries.subarray(h * d, (h + 1) * d), moments[Math.floor(h / group)]!, n, scale) }
      : 'topK' in sparsity ? { topK: Math.min(sparsity.topK, n) } : sparsity;
    const kept = expectedKept(x, rule);
    assert.deepEqual([...selection[h]!], kept, `${label} head ${h}: kept keys`);
    for (let i = 0; i < dv; i++) {
      assert.ok(Math.abs(got.output[h * dv + i]! - want.output[h * dv + i]!) <= tol, `${label} head ${h} dim ${i}: ${got.output[h * dv + i]} vs CPU ${want.output[h * dv + i]}`);
    }
    // errorBound ≥ the true TV of the kept set (float64 weights over every key).
    let top = -Infinity;
    for (const v of x) top = Math.max(top, v);
    let all = 0, inKept = 0;
    for (const j of x.keys()) all += Math.exp(x[j]! - top);
    for (const j of kept) inKept += Math.exp(x[j]! - top);
    const bound = got.stats.errorBound![h]!;
    assert.ok((all - inKept) / all <= bound * (1 + 1e-9) + 1e-15, `${label} head ${h}: TV ${(all - inKept) / all} > errorBound ${bound}`);
    assert.ok(bound <= 1 && (kept.length < n || bound === 0), `${label} head ${h}: errorBound ${bound}`);
  }
  assert.equal(got.stats.keysUsed, want.stats.keysUsed, `${label}: keysUsed`);
  assert.equal(got.stats.denseQueries, want.stats.denseQueries, `${label}: denseQueries`);
  assert.equal(got.stats.boundsEvaluated, heads * n);
  assert.ok(got.stats.keysScored >= got.stats.keysUsed && got.stats.keysScored <= heads * n, `${label}: keysScored ${got.stats.keysScored}`);
}

test('webgpu backend: threshold and paper rows keep the CPU\'s keys (logit ≥ t, a key exactly at t, no key above t → the best key)', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const cases: Case[] = [
    { label: 'threshold 1.0 f32', sparsity: { threshold: 1.0 }, n: 400, d: 16, dv: 8 },
    { label: 'threshold 1.5 f16, d = 64', sparsity: { threshold: 1.5 }, n: 700, d: 64, dv: 8, storage: 'f16' },
    { label: 'threshold 0.5 f16, duplicates', sparsity: { threshold: 0.5 }, n: 300, d: 16, dv: 8, storage: 'f16', keys: 'dups' },
    { label: 'threshold above every key, duplicates (top-1, smaller id)', sparsity: { threshold: 1e3 }, n: 200, d: 16, dv: 8, keys: 'dups' },
    { label: 'threshold −1e3 (every key), n = 1', sparsity: { threshold: -1e3 }, n: 1, d: 16, dv: 8 },
    { label: 'threshold above every key, n = 1', sparsity: { threshold: 1e3 }, n: 1, d: 16, dv: 8 },
    // Candidates over several workgroups of the keep pass: every key kept; none reaching t with the best key tied across workgroups (head 0's zero
    // query ties every key: the smallest id wins; duplicates tie pairs); a third of the keys tied
    // exactly at t.
    { label: 'threshold −1e3 (every key), n = 2600', sparsity: { threshold: -1e3 }, n: 2600, d: 16, dv: 8, storage: 'f16' },
    { label: 'threshold above every key, duplicates, n = 2600', sparsity: { threshold: 1e3 }, n: 2600, d: 16, dv: 8, storage: 'f16', keys: 'dups' },
    { label: 'threshold at a logit a third of the keys share, n = 2600', sparsity: { threshold: 0 }, tieAt: true, n: 2600, d: 16, dv: 8, keys: 'three' },
    { label: 'paper f32', sparsity: 'paper', n: 500, d: 16, dv: 8, everyBatch: true },
    { label: 'paper f16', sparsity: 'paper', n: 300, d: 16, dv: 8, storage: 'f16' },
    // The CPU's logit is rounded (scale 0.3), and that key must still be kept.
    { label: 'threshold at a key\'s float64 logit', sparsity: { threshold: 0 }, atKey: true, n: 64, d: 16, dv: 8, scale: 0.3, keys: 'grid' },
  ];
  let seed = 100;
  for (const c of cases) await check(c, seed++);
});

test('webgpu backend: top-k rows keep the CPU\'s top k (ties → smaller id, k = 1, k ≥ n, n = 1, integer keys)', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const cases: Case[] = [
    { label: 'top-5 f32, duplicates', sparsity: { topK: 5 }, n: 300, d: 16, dv: 8, keys: 'dups' },
    { label: 'top-1 f32', sparsity: { topK: 1 }, n: 200, d: 16, dv: 8 },
    { label: 'top-40 f16, integer keys (exact ties)', sparsity: { topK: 40 }, n: 600, d: 16, dv: 8, storage: 'f16', keys: 'grid', scale: 1, everyBatch: true },
    { label: 'top-500, k ≥ n', sparsity: { topK: 500 }, n: 90, d: 16, dv: 8 },
    { label: 'top-3, n = 1', sparsity: { topK: 3 }, n: 1, d: 16, dv: 8 },
    // More candidates than the select pass keeps in registers (CACHED a thread): the rest are
    // re-read each radix round; integer keys tie across both.
    { label: `top-2100 f16, integer keys, > ${CACHED * 256} candidates`, sparsity: { topK: 2100 }, n: 2600, d: 16, dv: 8, storage: 'f16', keys: 'grid', scale: 1 },
  ];
  let seed = 200;
  for (const c of cases) await check(c, seed++);
});

test('webgpu backend: threshold/top-k bad input is BAD_OPTION; n = 0 gives zeros', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const base = { kind: 'softmax' as const, heads: 2, kvHeads: 1, headDim: 8, backend: 'webgpu' as const };
  for (const sparsity of [{ topK: 0 }, { topK: 1.5 }, { threshold: Number.NaN }, { threshold: 1, topK: 2 }]) {
    await assert.rejects(KVCache.create({ ...base, sparsity: sparsity as Sparsity }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION', JSON.stringify(sparsity));
  }
  await assert.rejects(KVCache.create({ ...base, kind: 'relu', sparsity: { topK: 2 } }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
  for (const sparsity of ['paper', { topK: 2 }, { threshold: 0 }] as const) {
    const cache = await KVCache.create({ ...base, sparsity });
    const { output, stats } = await cache.attendAsync(new Float32Array(16).fill(1));
    assert.deepEqual([...output], new Array(16).fill(0));
    assert.deepEqual([...stats.errorBound!], [0, 0]);
    assert.equal(stats.keysUsed, 0);
  }
});

test('WebGpuDecodePlan { topK } and { threshold } over a paged f16 pool: the float64 rule\'s keys; setThresholds per head; bad thresholds are BAD_OPTION', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const device = await webGpuDevice();
  const d = 16, dv = 8, n = 300, pageSize = 32, pages = Math.ceil(n / pageSize), r = rng(300);
  const order = Array.from({ length: pages }, (_, p) => (p * 3) % pages);
  const keys = asStored(gaussian(r, n, kvHeads * d, 1.2).data, 'f16'), values = asStored(gaussian(r, n, kvHeads * dv).data, 'f16');
  const queries = gaussian(r, heads, d, 1.5).data;
  // Pool [pages, kvHeads, pageSize, dim] as f16 bits; logical page p at pool page order[p].
  const pool = (x: Float32Array, dim: number) => {
    const out = new Uint16Array(pages * kvHeads * pageSize * dim);
    for (let j = 0; j < n; j++) for (let g = 0; g < kvHeads; g++) {
      const row = (order[Math.floor(j / pageSize)]! * kvHeads + g) * pageSize + (j % pageSize);
      for (let c = 0; c < dim; c++) out[row * dim + c] = numberToF16Bits(x[(j * kvHeads + g) * dim + c]!);
    }
    return out;
  };
  const buffer = (data: ArrayBufferView, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const bufs = { queries: buffer(queries), keys: buffer(pool(keys, d)), values: buffer(pool(values, dv)), pageTable: buffer(Uint32Array.from(order)),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const read = (src: GPUBuffer, bytes: number) => readBuffer(device, src, bytes);

  const scale = 1 / Math.sqrt(d), perHead = [0.2, 0.8, 1.5, 99];
  for (const sparsity of [{ topK: 7 }, { threshold: 0 }]) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f16', kind: 'softmax', sparsity, maxLength: n, layout: { pageSize } });
    if ('threshold' in sparsity) plan.setThresholds(perHead);
    const enc = device.createCommandEncoder();
    plan.encode(enc, bufs, n);
    device.queue.submit([enc.finish()]);
    const words = new Uint32Array(await read(plan.stats, heads * 16));
    const ids = new Uint32Array(await read(plan.selected!.ids, heads * n * 4)), counts = new Uint32Array(await read(plan.selected!.counts, 16));
    for (let h = 0; h < heads; h++) {
      const want = expectedKept(logits(queries, keys, n, d, h, scale), 'topK' in sparsity ? sparsity : { threshold: perHead[h]! });
      assert.deepEqual([...ids.slice(h * n, h * n + counts[h]!)].sort((a, b) => a - b), want, `${JSON.stringify(sparsity)} head ${h}`);
      assert.equal(words[4 * h + 1], want.length, 'keysUsed');
      assert.ok(words[4 * h]! >= want.length, 'keysScored: the candidates');
    }
    if ('threshold' in sparsity) {
      for (const bad of [[1, 2], [0, 0, 0, Number.NaN]]) assert.throws(() => plan.setThresholds(bad), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
    } else {
      assert.throws(() => plan.setThresholds(perHead), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
    }
    plan.destroy();
  }
  for (const b of Object.values(bufs)) b.destroy();
});
