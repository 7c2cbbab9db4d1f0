/// <reference types="@webgpu/types" />
// The benchmarks' GPU timing (src/webgpu/timing.ts timeEachOnGpu, bench/lib/gpu-steps.ts): every
// recording runs once, in order, each with its own time; without timestamps each is submitted
// alone; a recording that throws rejects without leaking; the warm-up's stopping rule lets no
// ramping GPU through; the alternation gives every contender a sample a round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timeEachOnGpu, timeOnGpu } from '../../src/webgpu/timing.js';
import { samplesOption, timeAlternating, warmSettled, type WarmSample } from '../../bench/lib/gpu-steps.js';
import { deviceOrSkip, readBuffer } from './gpu-helpers.js';

/** Samples every `everyMs` from `everyMs` to `untilMs`, per-step time f(at). */
const trace = (everyMs: number, untilMs: number, f: (at: number) => number): WarmSample[] =>
  Array.from({ length: Math.floor(untilMs / everyMs) }, (_, i) => ({ atMs: (i + 1) * everyMs, stepMs: f((i + 1) * everyMs) }));

test('warmSettled: flat after warmMs settles; a GPU still ramping ~1 % a sample, a last sample 5 % slow or a warm-up shorter than warmMs does not; a GPU that slowed and stayed does', () => {
  assert.equal(warmSettled(trace(5, 600, () => 0.03), 500), true);
  assert.equal(warmSettled(trace(5, 400, () => 0.03), 500), false, 'before warmMs');
  // 1 % faster every 5 ms sample: two successive samples agree within 3 % (the rule before), yet 25 % over the last 125 ms.
  const ramp = trace(5, 1500, (at) => 0.06 * 0.99 ** (at / 5));
  assert.ok(Math.abs(ramp.at(-1)!.stepMs / ramp.at(-2)!.stepMs - 1) < 0.03);
  assert.equal(warmSettled(ramp, 500), false, 'ramping');
  const spike = trace(5, 600, () => 0.03);
  spike.at(-1)!.stepMs = 0.0315;
  assert.equal(warmSettled(spike, 500), false, 'last sample 5 % above the best');
  assert.equal(warmSettled(trace(5, 900, (at) => (at < 300 ? 0.03 : 0.036)), 500), true, 'slowed at 300 ms, flat since');
  assert.equal(warmSettled([], 0), false);
  assert.equal(warmSettled([{ atMs: 1, stepMs: 1 }], 0), false, 'one sample: nothing to compare');
});

test('timeEachOnGpu: each recording runs once and in order, with a time of its own; none gives []; a throwing recording rejects', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const src = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(src, 0, new Uint32Array([11, 22, 33, 44]));
  const dst = device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE });
  // Recording i copies word i to word 0 and to word i: word 0 ends with the last one's (order), words 1..2 show each ran.
  const copy = (i: number) => (enc: GPUCommandEncoder) => { enc.copyBufferToBuffer(src, 4 * i, dst, 0, 4); if (i > 0) enc.copyBufferToBuffer(src, 4 * i, dst, 4 * i, 4); };
  const times = await timeEachOnGpu(device, [copy(1), copy(2), copy(0)]);
  assert.equal(times.length, 3);
  const stamps = device.features.has('timestamp-query');
  for (const x of times) {
    assert.ok(x.encodeMs >= 0 && x.submitMs >= 0);
    if (stamps) assert.ok(x.gpuMs !== null && x.gpuMs >= 0 && Number.isFinite(x.gpuMs), `gpuMs ${x.gpuMs}`);
    else assert.equal(x.gpuMs, null);
  }
  assert.deepEqual(Array.from(new Uint32Array(await readBuffer(device, dst, 16))), [11, 22, 33, 0]);
  assert.deepEqual(await timeEachOnGpu(device, []), []);
  const one = await timeOnGpu(device, copy(3));
  assert.equal(one.gpuMs === null, !stamps);
  await assert.rejects(timeEachOnGpu(device, [copy(1), () => { throw new Error('boom'); }]), /boom/);
  // The device still works after the rejection (nothing left open or mapped).
  assert.equal((await timeEachOnGpu(device, [copy(2)])).length, 1);
  src.destroy(); dst.destroy();
});

test('timeEachOnGpu without timestamp-query: each recording submitted alone, gpuMs null, all run', async (t) => {
  const real = await deviceOrSkip(t);
  if (!real) return;
  // The same device, but saying it has no timestamps (methods bound to the real one).
  const device = new Proxy(real, {
    get(target, key) {
      if (key === 'features') return { has: (f: string) => f !== 'timestamp-query' && target.features.has(f as GPUFeatureName) };
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const dst = real.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const fill = (i: number) => (enc: GPUCommandEncoder) => enc.clearBuffer(dst, 4 * i, 4);
  real.queue.writeBuffer(dst, 0, new Uint32Array([7, 7, 7, 7]));
  const times = await timeEachOnGpu(device, [fill(0), fill(2)]);
  assert.equal(times.length, 2);
  for (const x of times) { assert.equal(x.gpuMs, null); assert.ok(x.submitMs >= 0); }
  assert.deepEqual(Array.from(new Uint32Array(await readBuffer(real, dst, 16))), [0, 7, 0, 7]);
  dst.destroy();
});

test('timeAlternating: a sample of every contender in each round (together or apart), k ≥ reps steps, medians of the rounds; rounds < 1 refused', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const a = device.createBuffer({ size: 1024, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const b = device.createBuffer({ size: 1024, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  let recorded = [0, 0];
  const steps = (i: number) => (k: number) => (enc: GPUCommandEncoder) => { recorded[i]! += k; for (let r = 0; r < k; r++) enc.copyBufferToBuffer(a, 0, b, 0, 1024); };
  const out = await timeAlternating(device, [steps(0), steps(1)], { warmMs: 0, reps: 3, rounds: 3 });
  assert.ok(out.steps >= 3 && out.steps <= 500);
  assert.equal(out.warm.samples, 1);
  assert.equal(out.warm.settled, false, 'warmMs 0: the cap ends it');
  assert.deepEqual(out.samples.map((s) => s.length), [3, 3]);
  out.samples.forEach((s, i) => assert.equal(out.ms[i], [...s].sort((x, y) => x - y)[1]));
  // Contender 1 recorded exactly rounds · k steps; contender 0 also the warm-up's one sample (50 steps).
  assert.equal(recorded[1], 3 * out.steps);
  assert.equal(recorded[0], 50 + 3 * out.steps);
  // 'apart' (each sample alone): the same samples and steps.
  recorded = [0, 0];
  const apart = await timeAlternating(device, [steps(0), steps(1)], { warmMs: 0, reps: 3, rounds: 2, samples: 'apart' });
  assert.deepEqual(apart.samples.map((s) => s.length), [2, 2]);
  assert.deepEqual(recorded, [50 + 2 * apart.steps, 2 * apart.steps]);
  assert.equal(samplesOption('apart'), 'apart');
  assert.throws(() => samplesOption('spread'), /--samples: expected together or apart, got spread/);
  await assert.rejects(timeAlternating(device, [steps(0)], { warmMs: 0, reps: 1, rounds: 0 }), /rounds: expected an integer ≥ 1, got 0/);
  a.destroy(); b.destroy();
});
