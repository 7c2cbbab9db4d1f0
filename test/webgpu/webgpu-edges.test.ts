/// <reference types="@webgpu/types" />
// The 'webgpu' backend at its edges: requests past the device's buffer limits, a lost device, a
// growth the GPU cannot hold, non-finite input. Each must be an HsrError naming what was expected
// and what came — never a raw WebGPU error, a hang, a silent no-op or a half-grown cache. The
// limits and failures are injected through a GPU object of the test's own (a device of its own, so
// destroying it leaves the device other tests share alone): its device reports small limits, or
// reports out of memory for the buffers the test says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionAsync, HsrError, KVCache, WebGpuDecodePlan, type KVCacheOptions } from '../../src/index.js';
import { GpuPrefill } from '../../src/webgpu/prefill.js';
import { resolveAttentionOptions } from '../../src/attention/options.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { gpuOrSkip } from './gpu-helpers.js';

interface Injected {
  /** Limits the device reports instead of its own. */
  limits?: Partial<Record<'maxBufferSize' | 'maxStorageBufferBindingSize', number>>;
  /** While set, buffers of at least this many bytes are reported out of memory (their error scope's). */
  failFrom?: number;
}

/** Buffers the injected devices made, and those destroyed since. */
const made: GPUBuffer[] = [];
const destroyed = new WeakSet<GPUBuffer>();

/**
 * A GPU object with an adapter and a device of its own (Dawn's, from the `webgpu` package), the
 * device seen through `hooks`: its limits replaced, and out-of-memory errors reported for the
 * buffers `failFrom` names (the buffer itself is made: the library must act on the error alone).
 */
async function ownGpu(hooks: Injected = {}): Promise<GPU> {
  const { create } = await import('webgpu');
  const real = create([]);
  const scopes: { filter: GPUErrorFilter; oom: string | null }[] = [];
  const device = (d: GPUDevice): GPUDevice => {
    const limits = new Proxy(d.limits, { get: (l, k) => (hooks.limits as Record<PropertyKey, number> | undefined)?.[k] ?? Reflect.get(l, k) });
    const own: Partial<GPUDevice> = {
      limits,
      pushErrorScope(filter) { scopes.push({ filter, oom: null }); d.pushErrorScope(filter); },
      async popErrorScope() {
        const s = scopes.pop(), e = await d.popErrorScope();
        return s?.oom ? { message: s.oom } as GPUError : e;
      },
      createBuffer(desc) {
        const b = d.createBuffer(desc);
        if (hooks.failFrom !== undefined && desc.size >= hooks.failFrom) {
          const scope = [...scopes].reverse().find((s) => s.filter === 'out-of-memory');
          if (scope) scope.oom = `injected: no memory for ${desc.size} bytes`;
        }
        const destroy = b.destroy.bind(b);
        b.destroy = () => { destroyed.add(b); destroy(); };
        made.push(b);
        return b;
      },
    };
    return new Proxy(d, {
      get: (t, k) => (k in own ? own[k as keyof GPUDevice] : typeof Reflect.get(t, k) === 'function' ? Reflect.get(t, k).bind(t) : Reflect.get(t, k)),
    });
  };
  return {
    wgslLanguageFeatures: real.wgslLanguageFeatures,
    getPreferredCanvasFormat: () => real.getPreferredCanvasFormat(),
    async requestAdapter(options?: GPURequestAdapterOptions) {
      const a = await real.requestAdapter(options);
      if (!a) return null;
      return new Proxy(a, {
        get: (t, k) => (k === 'requestDevice' ? async (desc?: GPUDeviceDescriptor) => device(await t.requestDevice(desc))
          : typeof Reflect.get(t, k) === 'function' ? Reflect.get(t, k).bind(t) : Reflect.get(t, k)),
      });
    },
  } as GPU;
}

const heads = 2, kvHeads = 2, d = 16;
const r = rng(13);
const rows = (n: number, width = kvHeads * d) => gaussian(r, n, width).data;

/** The code and message an HsrError must have. */
function hsr(code: string, ...parts: (string | RegExp)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof HsrError, `expected an HsrError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) assert.match(e.message, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
    return true;
  };
}

/** The 'webgpu' cache's answer equals the CPU backend's for the same appends (f32: within 2e-5·max|v|). */
async function sameAsCpu(gpuCache: KVCache, opts: Partial<KVCacheOptions>, appended: [Float32Array, Float32Array][]): Promise<void> {
  const cpu = await KVCache.create({ heads: gpuCache.heads, kvHeads: gpuCache.kvHeads, headDim: gpuCache.headDim, kind: 'softmax', backend: 'js', ...opts } as KVCacheOptions);
  for (const [k, v] of appended) cpu.append(k, v);
  assert.equal(gpuCache.length, cpu.length);
  const q = rows(1, gpuCache.heads * gpuCache.headDim);
  const [g, c] = [await gpuCache.attendAsync(q), await cpu.attendAsync(q)];
  const maxV = Math.max(1e-30, ...appended.flatMap(([, v]) => Array.from(v, Math.abs)));
  for (let i = 0; i < c.output.length; i++) assert.ok(Math.abs(g.output[i]! - c.output[i]!) <= 2e-5 * maxV, `output[${i}]: ${g.output[i]} against the CPU's ${c.output[i]}`);
  assert.equal(g.stats.keysUsed, c.stats.keysUsed);
}

test('webgpu edges: K/V past the device\'s buffer limit is TOO_LARGE before the cache changes; growth doubles only up to the limit', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // 64 KiB a buffer, 2 KV heads × 16 dims × 4 bytes = 128 bytes a position: 512 positions at most.
  const gpu = await ownGpu({ limits: { maxBufferSize: 65536, maxStorageBufferBindingSize: 65536 } });
  const cache = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'webgpu', gpu });
  const appended: [Float32Array, Float32Array][] = [[rows(300), rows(300)]];
  cache.append(...appended[0]!);
  assert.throws(() => cache.append(rows(300), rows(300)), hsr('TOO_LARGE', 'KVCache.append', 'at most 512 positions', 'maxBufferSize = 65536', 'got 600'));
  assert.equal(cache.length, 300);
  // 400 positions: the doubling (600) is cut to the limit (512), which then fills exactly.
  for (const n of [100, 112]) { appended.push([rows(n), rows(n)]); cache.append(...appended.at(-1)!); }
  assert.equal(cache.length, 512);
  assert.throws(() => cache.append(rows(1), rows(1)), hsr('TOO_LARGE', 'got 513'));
  await sameAsCpu(cache, {}, appended);
  cache.destroy();
});

test('webgpu edges: a plan buffer past the limit (exact ReLU\'s id lists) is TOO_LARGE with nothing kept; the growth falls back to the length asked', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // 32 query heads over 1 KV head: K 64 bytes a position, the id lists 32 × 4 = 128 (selection.ts):
  // at 1 MiB a binding (its partial states take 0.68 MB) the plan binds first, at 8192 positions (K's: 16384).
  const gpu = await ownGpu({ limits: { maxStorageBufferBindingSize: 1 << 20 } });
  const opts = { heads: 32, kvHeads: 1, headDim: d, kind: 'relu', sparsity: 'exact' } as const;
  const cache = await KVCache.create({ ...opts, backend: 'webgpu', gpu });
  const before = made.length;
  assert.throws(() => cache.append(rows(8200, d), rows(8200, d)), hsr('TOO_LARGE', 'WebGpuDecodePlan (maxLength 8200)', 'maxStorageBufferBindingSize = 1048576', 'got one of 1049600'));
  assert.equal(cache.length, 0);
  assert.ok(made.length > before && made.slice(before).every((b) => destroyed.has(b)), 'every buffer made for the refused growth is destroyed');
  // 6000, then 500 more: the doubling to 12000 is refused by the plan, 6500 fits (no step here:
  // SwiftShader compiles exact ReLU's passes slowly; the first test checks a step after a growth cut short).
  cache.append(rows(6000, d), rows(6000, d));
  const kept = made.length;
  cache.append(rows(500, d), rows(500, d));
  assert.equal(cache.length, 6500);
  assert.ok(made.slice(kept).some((b) => b.size === 6500 * d * 4 && !destroyed.has(b)), 'K/V of 6500 rows');
  cache.destroy();
});

test('webgpu edges: WebGpuDecodePlan and attentionAsync past the limit are TOO_LARGE; the plan frees what it made', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  // 2 MiB a buffer: the plan's partial states (1.1 MB) are made, its key codes (256 MiB) refused.
  const gpu = await ownGpu({ limits: { maxBufferSize: 2 << 20, maxStorageBufferBindingSize: 2 << 20 } });
  const device = (await (await gpu.requestAdapter())!.requestDevice());
  const before = made.length;
  assert.throws(() => WebGpuDecodePlan.create(device, { heads: 8, kvHeads: 2, headDim: 128, storage: 'f16', kind: 'relu', sparsity: 'exact', maxLength: 1 << 20 }),
    hsr('TOO_LARGE', 'WebGpuDecodePlan (maxLength 1048576)', 'maxBufferSize = 2097152', 'got one of 268435456'));
  assert.ok(made.length > before && made.slice(before).every((b) => destroyed.has(b)), 'every buffer the refused plan made is destroyed');
  WebGpuDecodePlan.create(device, { heads: 8, kvHeads: 2, headDim: 128, storage: 'f16', kind: 'relu', sparsity: 'exact', maxLength: 128 }).destroy();
  const m = (n: number, cols: number) => ({ data: rows(n, cols), rows: n, cols });
  await assert.rejects(attentionAsync(m(4, d), m(40000, d), m(40000, d), { backend: 'webgpu', gpu, kind: 'softmax' }),
    hsr('TOO_LARGE', 'attentionAsync (m = 4, n = 40000): K', 'got one of 2560000'));
  device.destroy();
});

test('webgpu edges: a lost device rejects the step in flight and every later call with DEVICE_LOST; a new cache opens a new device', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const gpu = await ownGpu();
    const cache = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'webgpu', gpu });
    cache.append(rows(40), rows(40));
    await cache.attendAsync(rows(1, heads * d)); // pipelines compiled: the next step is quick to submit
    const inFlight = cache.attendAsync(rows(1, heads * d));
    const lostDevice = (cache as unknown as { gpu: { device: GPUDevice } }).gpu.device;
    lostDevice.destroy();
    await assert.rejects(inFlight, hsr('DEVICE_LOST', 'KVCache.attendAsync', 'lost'));
    await lostDevice.lost;
    assert.throws(() => cache.append(rows(1), rows(1)), hsr('DEVICE_LOST', 'KVCache.append', 'destroyed'));
    await assert.rejects(cache.attendAsync(rows(1, heads * d)), hsr('DEVICE_LOST', 'KVCache.attendAsync', 'destroyed'));
    assert.equal(cache.length, 40);
    // The prefill of a device lost refuses too (attentionAsync itself opens a new device).
    const prefill = new GpuPrefill(lostDevice, { heads: 1, kvHeads: 1, headDim: d, valueDim: d, storage: 'f32' }, resolveAttentionOptions({ kind: 'softmax' }, d, 'test'));
    assert.throws(() => prefill.load(rows(2, d), 2, rows(3, d), rows(3, d), 3), hsr('DEVICE_LOST', 'attentionAsync'));
    // The same GPU object gives the next cache a new device.
    const again = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'webgpu', gpu });
    const appended: [Float32Array, Float32Array][] = [[rows(30), rows(30)]];
    again.append(...appended[0]!);
    await sameAsCpu(again, {}, appended);
    again.destroy();
    cache.destroy();
    assert.throws(() => cache.append(rows(1), rows(1)), hsr('CLOSED'));
    await new Promise((ok) => setTimeout(ok, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('webgpu edges: out of memory on a growth fails the cache with TOO_LARGE (the next step, every call after)', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const hooks: Injected = {};
  const gpu = await ownGpu(hooks);
  const cache = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'webgpu', gpu });
  const appended: [Float32Array, Float32Array][] = [[rows(200), rows(200)]];
  cache.append(...appended[0]!);
  await sameAsCpu(cache, {}, appended);
  // The growth to 512 positions: its K buffer (2 × 512 × 64 bytes) is reported out of memory.
  hooks.failFrom = kvHeads * 512 * d * 4;
  cache.append(rows(100), rows(100));
  hooks.failFrom = undefined;
  const grownTo = /the growth to 512 positions/;
  await assert.rejects(cache.attendAsync(rows(1, heads * d)), hsr('TOO_LARGE', grownTo, 'out of memory', 'injected'));
  assert.throws(() => cache.append(rows(1), rows(1)), hsr('TOO_LARGE', grownTo));
  await assert.rejects(cache.attendAsync(rows(1, heads * d)), hsr('TOO_LARGE', grownTo));
  cache.destroy();
});

test('webgpu edges: NaN and ±Infinity in keys, values, queries and prefill inputs are NON_FINITE, as on the CPU', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const bad = (x: Float32Array, at: number, v: number) => { const y = x.slice(); y[at] = v; return y; };
  for (const backend of ['webgpu', 'js'] as const) {
    const cache = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'relu', backend });
    const k = rows(3), v = rows(3), q = rows(1, heads * d);
    assert.throws(() => cache.append(bad(k, 5, NaN), v), hsr('NON_FINITE', 'KVCache.append keys', 'NaN at element 5'));
    assert.throws(() => cache.append(k, bad(v, 7, -Infinity)), hsr('NON_FINITE', 'KVCache.append values', '-Infinity at element 7'));
    assert.equal(cache.length, 0);
    cache.append(k, v);
    await assert.rejects(cache.attendAsync(bad(q, 0, Infinity)), hsr('NON_FINITE', /KVCache\.attend(Async)? queries/, 'Infinity at element 0'));
    const m = (x: Float32Array, cols: number) => ({ data: x, rows: x.length / cols, cols });
    for (const [which, qq, kk, vv] of [['q', bad(q, 1, NaN), k, v], ['k', q, bad(k, 2, NaN), v], ['v', q, k, bad(v, 3, Infinity)]] as const) {
      await assert.rejects(attentionAsync(m(qq, heads * d), m(kk, kvHeads * d), m(vv, kvHeads * d), { heads, kvHeads, backend, kind: 'softmax' }),
        hsr('NON_FINITE', `attentionAsync ${which}`));
    }
    cache.destroy();
  }
});
