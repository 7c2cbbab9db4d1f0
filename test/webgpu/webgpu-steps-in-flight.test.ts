/// <reference types="@webgpu/types" />
// KVCache steps on 'webgpu' that are in flight together: attendAsync submits during the call, so
// calls made without awaiting each other (appends in between, a capacity growth among them) must
// give what the same calls give one at a time — never another step's answer — and a destroyed
// cache refuses work with CLOSED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, KVCache, type KVCacheOptions } from '../../src/index.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { gpuOrSkip } from './gpu-helpers.js';

const heads = 4, kvHeads = 2, d = 16;
type Op = { append: [Float32Array, Float32Array] } | { attend: Float32Array };

/** A cache's answers to `ops` (appends and steps in order): all issued before any is awaited, or each awaited in turn. */
async function answers(opts: Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>, ops: Op[], inFlight: boolean) {
  const cache = await KVCache.create({ heads, kvHeads, headDim: d, backend: 'webgpu', ...opts });
  const steps: Promise<Awaited<ReturnType<KVCache['attendAsync']>>>[] = [];
  for (const op of ops) {
    if ('append' in op) cache.append(...op.append);
    else if (inFlight) steps.push(cache.attendAsync(op.attend));
    else steps.push(Promise.resolve(await cache.attendAsync(op.attend)));
  }
  const out = await Promise.all(steps);
  cache.destroy();
  return out;
}

test('webgpu steps in flight: unawaited attendAsync calls with appends between them (through a capacity growth) equal the same calls awaited one by one', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const r = rng(5), rows = (n: number) => gaussian(r, n, kvHeads * d, 1.2).data;
  const query = () => gaussian(r, heads, d, 1.5).data;
  // 250 positions, then steps with appends of 3 and 10 between (capacity 256 grows to 512); all
  // five steps are in flight at once, more than the staging buffers kept free.
  const ops: Op[] = [
    { append: [rows(250), rows(250)] }, { attend: query() }, { append: [rows(3), rows(3)] }, { attend: query() },
    { append: [rows(10), rows(10)] }, { attend: query() }, { attend: query() }, { attend: query() },
  ];
  for (const opts of [{ kind: 'softmax' }, { kind: 'softmax', sparsity: { epsilon: 1e-2 } }] as const) {
    const [together, apart] = [await answers(opts, ops, true), await answers(opts, ops, false)];
    assert.equal(together.length, 5);
    together.forEach((a, i) => {
      const b = apart[i]!;
      // The same steps on the same data: equal up to the order of float sums (the GPU's atomics).
      for (let j = 0; j < a.output.length; j++) {
        assert.ok(Math.abs(a.output[j]! - b.output[j]!) <= 1e-5 * (1 + Math.abs(b.output[j]!)), `${JSON.stringify(opts)} step ${i} [${j}]: ${a.output[j]} vs ${b.output[j]}`);
      }
      assert.equal(a.stats.keysUsed, b.stats.keysUsed, `${JSON.stringify(opts)} step ${i}: keysUsed`);
      assert.equal(a.stats.keysScored, b.stats.keysScored, `${JSON.stringify(opts)} step ${i}: keysScored`);
    });
    // Steps of different lengths and queries differ: a step answered with another's result would show.
    assert.notDeepEqual([...together[0]!.output], [...together[1]!.output]);
  }
});

test('webgpu steps in flight: destroy() — a step submitted before still resolves correctly; later calls are CLOSED', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  const r = rng(6), keys = gaussian(r, 40, kvHeads * d).data, values = gaussian(r, 40, kvHeads * d).data, q = gaussian(r, heads, d).data;
  const closed = (e: unknown) => e instanceof HsrError && e.code === 'CLOSED';
  const cpu = new KVCache({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'js' });
  cpu.append(keys, values);
  const want = cpu.attend(q).output;
  const gpu = await KVCache.create({ heads, kvHeads, headDim: d, kind: 'softmax', backend: 'webgpu' });
  gpu.append(keys, values);
  const pending = gpu.attendAsync(q);
  gpu.destroy();
  const got = (await pending).output;
  for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[j]! - want[j]!) <= 1e-5, `in flight at destroy [${j}]: ${got[j]} vs ${want[j]}`);
  assert.equal(gpu.length, 0);
  await assert.rejects(gpu.attendAsync(q), closed);
  assert.throws(() => gpu.append(keys, values), closed);
  gpu.destroy(); // twice is harmless
});
