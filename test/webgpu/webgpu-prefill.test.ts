/// <reference types="@webgpu/types" />
// Prefill on the 'webgpu' backend: tile edges and sizes, n, m = 0 and 1, ties, zero and huge vectors,
// ReLU^α beyond float32, skipped key tiles, bad input — each case through the conformance suite's
// prefill check (conformance.ts: float64 reference and CPU; its own prefill cases run there), on
// whatever adapter Dawn finds (in CI: SwiftShader). Shapes are small: SwiftShader is a CPU, and
// every new kernel shape compiles a pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as lib from '../../src/index.js';
import { attentionAsync, HsrError, matrix, webGpuDevice, type AttentionStats, type Matrix } from '../../src/index.js';
import * as reference from '../../src/attention/reference.js';
import * as random from '../../src/report/random.js';
import * as half from '../../src/tensor/half.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { runPrefillCase, type PrefillCase } from './conformance.js';
import { gpuOrSkip } from './gpu-helpers.js';
import { resolveAttentionOptions } from '../../src/attention/options.js';
import { GpuPrefill } from '../../src/webgpu/prefill.js';
import { keySplits, prefillBytes, prefillTiles, type PrefillTiles } from '../../src/webgpu/prefill-kernel.js';

const mods = { lib, reference, random, half };

type Case = PrefillCase & {
  /** Tile sizes (GpuPrefill directly), e.g. those of a device with less workgroup memory. */
  tiles?: PrefillTiles;
};

/** GpuPrefill with the case's tiles, in place of attentionAsync. */
async function withTiles(c: Case, tiles: PrefillTiles, q: Matrix, k: Matrix, v: Matrix) {
  const { heads, kvHeads, d, dv, m, n } = c;
  const { storage, ...rest } = c.opts;
  const g = new GpuPrefill(await webGpuDevice(), { heads, kvHeads, headDim: d, valueDim: dv, storage: storage ?? 'f32', tiles },
    resolveAttentionOptions({ ...rest, backend: 'js' }, d, 'test'));
  try {
    g.load(q.data, m, k.data, v.data, n);
    const { output, stats } = await g.run();
    return { output: { data: output, rows: m, cols: heads * dv }, stats };
  } finally {
    g.destroy();
  }
}

/** A prefill case through the conformance suite's check (float64 reference and CPU), asserted here; returns the GPU's stats. */
async function check(c: Case, seed: number): Promise<AttentionStats> {
  const tiles = c.tiles;
  const r = await runPrefillCase(mods, tiles ? { ...c, gpu: (q, k, v) => withTiles(c, tiles, q, k, v) } : c, seed);
  assert.deepEqual(r.failures, []);
  return r.stats!;
}

test('webgpu prefill: tile edges — m, n not multiples of the tiles, d = 128, the tiles of 16 KiB of workgroup memory, 64-dim chunks, no prefetch', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // 64-key tiles of 64 rows (32 KiB) and, in 16 KiB, 32-key tiles (128 threads); 130 positions end
  // one row and one key past two full tiles; d = dv = 128 is the benchmarks' shape (4 score chunks,
  // two V columns a thread). 64-dim chunks on 32-key tiles fit SwiftShader's 32 KiB (on 64-key
  // tiles they need 48). Without prefetch, each chunk's words are fetched just before they are stored.
  const small = (d: number, dv: number) => prefillTiles(d, dv, 16384)!;
  const cases: Case[] = [
    { label: 'softmax causal m = n = 130 f16, 8 heads on 2 KV heads, d = 128', m: 130, n: 130, heads: 8, kvHeads: 2, d: 128, dv: 128, opts: { kind: 'softmax', causal: true, storage: 'f16' } },
    { label: 'softmax causal m < n, 16 KiB', m: 45, n: 131, heads: 4, kvHeads: 2, d: 24, dv: 20, opts: { kind: 'softmax', causal: true }, tiles: small(32, 24) },
    { label: 'softmax full m = n = 130 f16, d = 128, 16 KiB', m: 130, n: 130, heads: 2, kvHeads: 1, d: 128, dv: 128, opts: { kind: 'softmax', storage: 'f16' }, tiles: small(128, 128) },
    { label: 'exact ReLU causal m > n, 16 KiB (mask pass on 32-key tiles)', m: 100, n: 70, heads: 3, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'relu', bias: 0.5, causal: true }, tiles: small(16, 8) },
    { label: 'ReLU² causal f32, 64-dim chunks, 8-key V steps', m: 97, n: 97, heads: 4, kvHeads: 1, d: 64, dv: 32, opts: { kind: 'relu', alpha: 2, bias: 0.3, causal: true, sparsity: 'dense' }, tiles: { TY: 16, TX: 8, BK: 32, DC: 64, KC: 8, prefetch: true, order: 'global', splits: 1 } },
    { label: 'softmax causal f16, d = 128, without prefetch', m: 70, n: 100, heads: 4, kvHeads: 2, d: 128, dv: 128, opts: { kind: 'softmax', causal: true, storage: 'f16' }, tiles: { ...prefillTiles(128, 128, 32768)!, prefetch: false } },
    { label: 'exact ReLU causal, without prefetch', m: 70, n: 70, heads: 2, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'relu', bias: 0.5, causal: true }, tiles: { ...prefillTiles(16, 8, 32768)!, prefetch: false } },
  ];
  let seed = 10;
  for (const c of cases) await check(c, seed++);
});

test('webgpu prefill: query tiles of 64, 32 and 16 rows, both tile orders, key splits — d = 64, 6 query heads on 2 KV heads (3 a group), m = n, m < n, m > n', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // The real dump's shape (d = 64, three query heads a KV group: one head a tile, three tiles a KV
  // head) at tile edges: 70 positions end 6 past one 64-, two 32- and four 16-position tiles. Every (query tile, head group) pair must be visited exactly once in
  // either order: a missed or doubled one leaves a head's rows wrong.
  const limit = (await webGpuDevice()).limits.maxComputeWorkgroupStorageSize;
  const base = { heads: 6, kvHeads: 2, d: 64, dv: 64 };
  const tiles = (TY: number, order: 'global' | 'group' = 'global') => ({ ...prefillTiles(64, 64, limit, TY)!, order });
  const softmax = { kind: 'softmax', causal: true, storage: 'f16' } as const;
  const cases: Case[] = [
    { label: 'softmax causal m = n = 70 f16, TY 16', m: 70, n: 70, ...base, opts: softmax, tiles: tiles(16) },
    { label: 'softmax causal m = n = 70 f16, TY 16, group by group', m: 70, n: 70, ...base, opts: softmax, tiles: tiles(16, 'group') },
    { label: 'softmax causal m = n = 70 f16, TY 8', m: 70, n: 70, ...base, opts: softmax, tiles: tiles(8) },
    { label: 'softmax causal m = 37 < n = 70 f16 (a chunk), TY 8', m: 37, n: 70, ...base, opts: softmax, tiles: tiles(8) },
  ];
  // Key splits: partial states merged by a second pass — with splits left empty (3 key tiles in 4
  // splits; 2 in 3 in the first query tiles), a split count that is no power of two, the exact mask's
  // tiles, ReLU²'s scaled states (merged by α·ln m), and rows that see no key (m > n: zeros).
  cases.push(
    { label: 'softmax causal m = 37 < n = 150 f16, TY 4, 4 key splits', m: 37, n: 150, ...base, opts: softmax, tiles: { ...tiles(4), splits: 4 } },
    { label: 'exact ReLU² causal m = n = 70, TY 8 (the mask pass on its query tiles), 3 key splits', m: 70, n: 70, ...base, opts: { kind: 'relu', alpha: 2, bias: 0.5, causal: true }, tiles: { ...tiles(8), splits: 3 } },
    { label: 'dense ReLU² causal m = 100 > n = 40, TY 8, 2 key splits', m: 100, n: 40, ...base, opts: { kind: 'relu', alpha: 2, bias: 0.2, sparsity: 'dense', causal: true }, tiles: { ...tiles(8), splits: 2 } },
  );
  let seed = 80;
  for (const c of cases) await check(c, seed++);
});

test('webgpu prefill: key runs split where query tiles are few (keySplits), on the largest tiles the device holds', async (t) => {
  // Key splits until MIN_WORKGROUPS, at most 8, at least 4 key tiles each.
  assert.deepEqual([keySplits(128, 256), keySplits(300, 256), keySplits(512, 256), keySplits(1024, 256), keySplits(128, 16), keySplits(128, 7)], [8, 4, 2, 1, 4, 1]);
  if (!(await gpuOrSkip(t))) return;
  // The default for a short chunk over a long context: one query tile (16 positions × 2 heads of
  // its 32 × 2 rows) over 10 key tiles, split in 2, through attentionAsync (the conformance check).
  await check({ label: 'softmax causal m = 16 < n = 600, default tiles (key splits)', m: 16, n: 600, heads: 2, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'softmax', causal: true } }, 95);
  const device = await webGpuDevice(), o = resolveAttentionOptions({ kind: 'softmax', causal: true }, 16, 'test');
  const g = new GpuPrefill(device, { heads: 2, kvHeads: 1, headDim: 16, valueDim: 8, storage: 'f32' }, o);
  try {
    const r = rng(90), q = gaussian(r, 10, 32), kv = gaussian(r, 10, 16);
    g.load(q.data, 10, kv.data, kv.data.slice(0, 80), 10);
    assert.deepEqual(g.tiles, prefillTiles(16, 8, device.limits.maxComputeWorkgroupStorageSize));
    g.load(q.data.slice(0, 64), 2, gaussian(r, 600, 16).data, gaussian(r, 600, 8).data, 600);
    assert.equal(g.tiles.splits, 2);
  } finally {
    g.destroy();
  }
});

test('webgpu prefill: tile sizes follow the workgroup memory (64-key tiles in 32 and 48 KiB, 32-key in 16 KiB, none below)', () => {
  assert.deepEqual(prefillTiles(128, 128, 49152), { TY: 16, TX: 16, BK: 64, DC: 64, KC: 64, prefetch: true, order: 'global', splits: 1 });
  assert.deepEqual(prefillTiles(128, 128, 32768), { TY: 16, TX: 16, BK: 64, DC: 32, KC: 32, prefetch: true, order: 'global', splits: 1 });
  assert.deepEqual(prefillTiles(128, 128, 16384), { TY: 16, TX: 8, BK: 32, DC: 16, KC: 16, prefetch: true, order: 'global', splits: 1 });
  assert.equal(prefillTiles(128, 128, 8192), null);
  for (const [D, DV, limit] of [[128, 128, 49152], [16, 8, 16384], [32, 24, 32768], [256, 512, 32768], [1024, 1024, 16384]] as const) {
    const tiles = prefillTiles(D, DV, limit);
    if (tiles) assert.ok(prefillBytes(tiles, DV) <= limit && D % tiles.DC === 0, `${D}/${DV}/${limit}`);
  }
});

test('webgpu prefill: edges — n = 1, m = 1, ties, zero queries and keys, huge vectors', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const base = { heads: 2, kvHeads: 1, d: 16, dv: 8 };
  const cases: Case[] = [
    { label: 'n = m = 1', m: 1, n: 1, ...base, opts: { kind: 'softmax', causal: true } },
    { label: 'm = 1 over n = 70 (a decode row)', m: 1, n: 70, ...base, opts: { kind: 'softmax', causal: true } },
    {
      label: 'ties: every key twice, zero query rows', m: 40, n: 40, ...base, opts: { kind: 'softmax', causal: true },
      make: (q, k) => { for (let j = 1; j < 40; j += 2) k.copyWithin(j * 16, (j - 1) * 16, j * 16); q.fill(0, 0, 5 * 32); },
    },
    {
      label: 'zero keys (uniform weights), exact ReLU with zero scores (all weights 0)', m: 30, n: 30, ...base, opts: { kind: 'relu', causal: true },
      make: (_q, k) => { k.fill(0); },
    },
    {
      // Logits in the thousands: one key dominates each row, as in float64.
      label: 'huge keys and values (f32)', m: 40, n: 40, ...base, opts: { kind: 'softmax', causal: true }, tol: 1e-4,
      make: (_q, k, v) => { for (let i = 0; i < k.length; i++) k[i]! *= 1000; for (let i = 0; i < v.length; i++) v[i]! *= 1e6; },
    },
  ];
  let seed = 20;
  for (const c of cases) await check(c, seed++);
  // n = 0 and m = 0: no GPU pass; zeros and empty stats.
  const empty = await attentionAsync(gaussian(rng(1), 3, 16), matrix([], 0, 16), matrix([], 0, 8), { kind: 'softmax', causal: true, backend: 'webgpu' });
  assert.deepEqual([...empty.output.data], new Array(24).fill(0));
  assert.equal(empty.stats.keysScored, 0);
  const none = await attentionAsync(matrix([], 0, 16), gaussian(rng(2), 3, 16), gaussian(rng(3), 3, 8), { kind: 'softmax', causal: true, backend: 'webgpu' });
  assert.equal(none.output.rows, 0);
});

test('webgpu prefill: ReLU^α beyond float32\'s range (α = 300, scores up to 100) gives the float64 answer, dense and exact sparse (key splits)', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const n = 96, d = 16, dv = 8, limit = (await webGpuDevice()).limits.maxComputeWorkgroupStorageSize;
  for (const sparsity of ['dense', 'exact'] as const) {
    // Exact: its 2 key tiles in 2 key splits, whose states merge by weights e^{300·(ln t_s − ln t_max)}.
    const tiles = sparsity === 'exact' ? { ...prefillTiles(d, dv, limit)!, splits: 2 } : undefined;
    await check({
      label: `ReLU^300 ${sparsity}${tiles ? ', 2 key splits' : ''}`, m: n, n, heads: 1, kvHeads: 1, d, dv, tiles, opts: { kind: 'relu', alpha: 300, bias: 0, scale: 1, causal: true, sparsity },
      // Score of key j for every query: k[j·d] ∈ [50, 100] (q = e0); t^300 overflows float32 long before.
      make: (q, k) => { q.fill(0); for (let i = 0; i < n; i++) q[i * d] = 1; for (let j = 0; j < n; j++) k[j * d] = 50 + 50 * ((j * 37) % n) / n; },
      tol: 300 * 2 ** -21 * 4,
    }, 30);
  }
});

test('webgpu prefill: exact sparse ReLU skips key tiles whose bounds stay below the bias, with the dense answer', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const n = 512, d = 16;
  // Only keys 0–15 and 300–307 can pass the bias: every other tile's codes bound it out, so (key tiles of at
  // most 64) at most the visible pairs of keys 0–63 and 256–319 are scored, under half of all.
  const make = (q: Float32Array, k: Float32Array) => {
    for (let i = 0; i < q.length; i++) q[i] = Math.abs(q[i]!) * 0.3;
    for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) k[j * d + c] = (j < 16 || (j >= 300 && j < 308) ? 2 : -0.5) * (1 + 0.1 * Math.sin(j + c));
  };
  const stats = await check({ label: 'clustered activations', m: n, n, heads: 1, kvHeads: 1, d, dv: 8, opts: { kind: 'relu', bias: 1, causal: true }, make }, 40);
  const visible = (n * (n + 1)) / 2;
  assert.ok(stats.keysUsed > 0);
  assert.ok(stats.keysScored < visible / 2, `keysScored ${stats.keysScored}: tiles were not skipped (visible ${visible})`);
});

test('webgpu prefill: bad input is an HsrError (shape, options, f16 range, unsupported rules; no adapter: the suite)', async () => {
  const r = rng(60), q = gaussian(r, 4, 32), k = gaussian(r, 4, 16), v = gaussian(r, 4, 8);
  const code = (c: string) => (e: unknown) => e instanceof HsrError && e.code === c;
  await assert.rejects(attentionAsync(q, k, v, { kind: 'softmax', heads: 3, kvHeads: 2 }), code('BAD_OPTION'));
  await assert.rejects(attentionAsync(q, k, v, { kind: 'softmax', heads: 2, kvHeads: 1, backend: 'webgpu', storage: 'f8' as 'f16' }), code('BAD_OPTION'));
  await assert.rejects(attentionAsync(q, k, v, { kind: 'softmax', heads: 1, backend: 'webgpu' }), code('DIM_MISMATCH'));
  await assert.rejects(attentionAsync(q, k, gaussian(r, 5, 8), { kind: 'softmax', heads: 2, backend: 'webgpu' }), code('SHAPE_MISMATCH'));
  await assert.rejects(attentionAsync(q, k, v, { kind: 'softmax', heads: 2, backend: 'gpu' as 'webgpu' }), code('BAD_OPTION'));
  await assert.rejects(attentionAsync(q, k, v, { kind: 'relu', heads: 2, sparsity: { topK: 2 }, backend: 'webgpu' }), code('BAD_OPTION'));
});

test('webgpu prefill: UNSUPPORTED on the GPU — softmax sparsity rules, f16 overflow, heads too wide', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const r = rng(70), q = gaussian(r, 4, 16), k = gaussian(r, 4, 16), v = gaussian(r, 4, 8);
  const code = (c: string) => (e: unknown) => e instanceof HsrError && e.code === c;
  await assert.rejects(attentionAsync(q, k, v, { kind: 'softmax', sparsity: { epsilon: 1e-3 }, backend: 'webgpu' }), code('UNSUPPORTED'));
  const big = gaussian(r, 4, 8);
  big.data[3] = 1e5;
  await assert.rejects(attentionAsync(q, k, big, { kind: 'softmax', backend: 'webgpu', storage: 'f16' }), code('UNSUPPORTED'));
  // d = dv = 2048 (f32): not even 4 value rows of a 32-key tile fit beside its P tile.
  const wide = gaussian(r, 2, 2048);
  await assert.rejects(attentionAsync(wide, wide, wide, { kind: 'softmax', backend: 'webgpu' }), (e: unknown) => code('UNSUPPORTED')(e) && /workgroup memory/.test((e as Error).message));
  // Tiles past the device's workgroup memory (or malformed) are refused before any pass.
  const device = await webGpuDevice(), o = resolveAttentionOptions({ kind: 'softmax' }, 128, 'test');
  const over = 4 * (64 * 64 + 64 * (64 + 64)) > device.limits.maxComputeWorkgroupStorageSize ? { TY: 16, TX: 16, BK: 64, DC: 64, KC: 64, prefetch: true, order: 'global', splits: 1 } as const : { TY: 16, TX: 16, BK: 64, DC: 48, KC: 64, prefetch: true, order: 'global', splits: 1 } as const;
  assert.throws(() => new GpuPrefill(device, { heads: 1, kvHeads: 1, headDim: 128, valueDim: 128, storage: 'f32', tiles: over }, o), code('BAD_OPTION'));
  assert.throws(() => new GpuPrefill(device, { heads: 1, kvHeads: 1, headDim: 128, valueDim: 128, storage: 'f32', tiles: { TY: 16, TX: 16, BK: 32, DC: 32, KC: 32, prefetch: true, order: 'global', splits: 1 } }, o), code('BAD_OPTION'));
});
