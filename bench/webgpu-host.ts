// WebGPU decode through the high-level API: what one `await cache.attendAsync(q)` costs in wall
// time, against the GPU's own time for the same step and against the floor of one GPU round trip
// in this runtime. 8 query / 2 KV heads, d = 128, f16 K/V, 'llm' synthetic keys (workloads.ts).
//
// Contenders alternate in rounds (medians; ratios from the same run):
//   floor.done  submit of an empty command buffer + onSubmittedWorkDone (the runtime's round trip)
//   floor.map   one 4 KiB copy into a reused mappable buffer + mapAsync + read + unmap
//   MODE        `steps` consecutive attendAsync calls (per-step ms), for MODE in dense, certified,
//               relu (exact sparse ReLU), topk (top-256), each with encodeMs (call → submit) and
//               waitMs (submit → resolved) split off, and cpuMs (this process's CPU time a step:
//               the host's work, less hit by other processes' load than wall time)
//   MODE.inFlight  the same steps issued `--in-flight` at a time and awaited together
//   MODE.gpu    `steps` decode steps in one command buffer, no readback (GpuDecoder.timeSteps: GPU
//               timestamps ÷ steps where the device has them, else submit to done ÷ steps)
//   MODE.gpu1   one decode step alone in a command buffer, no readback: its GPU time (timestamps) and
//               `MODE.gpu1.submitMs`, submit to done — with MODE.waitMs, where a single step's wall
//               time goes: the GPU's time for a step issued alone (clocks, launch) or the round trip
// and, untimed, the WebGPU calls one step makes (submits, maps, bind groups, buffers, writes, passes);
// `append.ms`: the median of 15 appends of one position each (its calls beside it).
// --dawn FLAGS: Dawn's flags, ';'-separated (default: timestamps unquantized, as bench/lib/dawn.ts);
// 'backend=null' runs on Dawn's null backend: no shader runs and results are meaningless
// (checks skipped), but every host-side cost of a step remains — the host part alone.
// --baseline DIR adds every MODE again from another checkout's src/ (e.g. the commit before a
// change), `before.MODE`, on the same device, alternating with this tree's.
//
//   node --import tsx bench/webgpu-host.ts [--n 16,256] [--rounds 5] [--steps 20]
//     [--modes dense,certified,relu,topk] [--in-flight 4] [--baseline DIR] [--dawn FLAGS] [--out file.json]
// On a GPU: --n 32768,131072 (about a minute on an H100).
/// <reference types="@webgpu/types" />
import { execSync } from 'node:child_process';
import { uptime, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { KVCache, type KVCacheOptions } from '../src/index.js';
import { syntheticWorkload, referenceDecode } from './lib/keys.js';
import { median, writeJson } from './lib/measure.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '16,256' }, rounds: { type: 'string', default: '5' }, steps: { type: 'string', default: '20' },
  modes: { type: 'string', default: 'dense,certified,relu,topk' }, baseline: { type: 'string' }, out: { type: 'string' },
  dawn: { type: 'string', default: 'disable-dawn-features=timestamp_quantization' }, 'in-flight': { type: 'string', default: '4' },
} });
const ns = a.n!.split(',').map(Number).sort((x, y) => x - y), rounds = Number(a.rounds), steps = Number(a.steps), inFlight = Number(a['in-flight']);
const heads = 8, kvHeads = 2, d = 128;

// One Dawn instance for both trees (each opens its own device on it through the `gpu` option).
const dawn = await import('webgpu') as unknown as { create(flags: string[]): GPU; globals: Record<string, unknown> };
for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
const dawnFlags = a.dawn ? a.dawn.split(';') : [], gpu = dawn.create(dawnFlags);
const nullBackend = dawnFlags.includes('backend=null');

type Cache = Pick<KVCache, 'append' | 'attendAsync'>;
type CacheClass = { create(o: KVCacheOptions): Promise<Cache> };
const trees: Record<string, CacheClass> = { '': KVCache };
if (a.baseline) trees['before.'] = (await import(pathToFileURL(resolve(a.baseline, 'src/index.ts')).href) as { KVCache: CacheClass }).KVCache;

// Counters of WebGPU calls, and the time of the last submit (encode/wait split). Wrapping costs a
// call through a closure: the same for every contender.
const counts: Record<string, number> = {};
let lastSubmit = 0;
function wrap(proto: Record<string, unknown>, name: string, label: string, after?: () => void): void {
  const f = proto[name] as (...args: unknown[]) => unknown;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    counts[label] = (counts[label] ?? 0) + 1;
    const r = f.apply(this, args);
    after?.();
    return r;
  };
}
const G = globalThis as unknown as Record<string, { prototype: Record<string, unknown> }>;
wrap(G.GPUQueue!.prototype, 'submit', 'submits', () => { lastSubmit = performance.now(); });
wrap(G.GPUQueue!.prototype, 'writeBuffer', 'writeBuffers');
wrap(G.GPUBuffer!.prototype, 'mapAsync', 'maps');
wrap(G.GPUDevice!.prototype, 'createBindGroup', 'bindGroups');
wrap(G.GPUDevice!.prototype, 'createBuffer', 'buffers');
wrap(G.GPUDevice!.prototype, 'createCommandEncoder', 'encoders');
wrap(G.GPUDevice!.prototype, 'pushErrorScope', 'errorScopes');
wrap(G.GPUCommandEncoder!.prototype, 'beginComputePass', 'passes');
wrap(G.GPUCommandEncoder!.prototype, 'copyBufferToBuffer', 'copies');
wrap(G.GPUCommandEncoder!.prototype, 'clearBuffer', 'clears');
/** The WebGPU calls `fn` makes, per call of it (averaged over `times`). */
async function callsOf(fn: () => unknown, times: number): Promise<Record<string, number>> {
  for (const k of Object.keys(counts)) delete counts[k];
  for (let i = 0; i < times; i++) await fn();
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / times]));
}

const gpuOf = (c: Cache) => (c as unknown as { gpu: { timeSteps(q: Float32Array, reps: number): Promise<number>; lastTiming: { submitMs: number } } }).gpu;

const full = syntheticWorkload('llm', ns.at(-1)!, d, heads, kvHeads, 2);
const dv = full.dv, [q0, q1] = full.queries as [Float32Array, Float32Array];
const modeOptions: Record<string, Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>> = {
  dense: { kind: 'softmax' },
  certified: { kind: 'softmax', sparsity: { epsilon: 1e-3 } },
  relu: { kind: 'relu', alpha: 1, bias: 0 }, // exact sparse ReLU (what the keys give: about half positive)
  topk: { kind: 'softmax', sparsity: { topK: 256 } },
};
const modes = a.modes!.split(',');
for (const m of modes) if (!modeOptions[m]) throw new Error(`webgpu-host: unknown mode ${m} (expected ${Object.keys(modeOptions).join(', ')})`);

const caches: Record<string, Cache> = {};
for (const [tree, cls] of Object.entries(trees)) {
  for (const m of modes) caches[tree + m] = await cls.create({ heads, kvHeads, headDim: d, valueDim: dv, backend: 'webgpu', storage: 'f16', gpu, ...modeOptions[m]! });
}
const device = await (await gpu.requestAdapter())!.requestDevice(); // the floors' own device
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
const adapter = info ? `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim() : 'unknown';
const floorSrc = device.createBuffer({ size: 4096, usage: GPUBufferUsage.COPY_SRC });
const floorRead = device.createBuffer({ size: 4096, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const floors: Record<string, () => Promise<unknown>> = {
  'floor.done': async () => { device.queue.submit([device.createCommandEncoder().finish()]); await device.queue.onSubmittedWorkDone(); },
  'floor.map': async () => {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(floorSrc, 0, floorRead, 0, 4096);
    device.queue.submit([enc.finish()]);
    await floorRead.mapAsync(GPUMapMode.READ);
    new Float32Array(floorRead.getMappedRange().slice(0));
    floorRead.unmap();
  },
};

const rows: Record<string, unknown>[] = [];
let have = 0;
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);
for (const n of ns) {
  const kw = kvHeads * d, vw = kvHeads * dv;
  // All but the last `singles` positions in one append; those one at a time (a decode step's append), timed.
  const row: Record<string, unknown> = { n, heads, kvHeads, d, loadBefore: load() };
  const singles = Math.min(16, n - have);
  for (const [name, c] of Object.entries(caches)) {
    c.append(full.keys.subarray(have * kw, (n - singles) * kw), full.values.subarray(have * vw, (n - singles) * vw));
    const ms: number[] = [];
    for (let p = n - singles; p < n; p++) {
      const one = () => c.append(full.keys.subarray(p * kw, (p + 1) * kw), full.values.subarray(p * vw, (p + 1) * vw));
      if (p === n - 1) { row[`${name}.append.calls`] = await callsOf(one, 1); continue; }
      const t0 = performance.now();
      one();
      ms.push(performance.now() - t0);
    }
    row[`${name}.append.ms`] = median(ms);
  }
  have = n;
  // Each cache's answer against the float64 reference (and between trees: identical results).
  const w = { ...full, n, keys: full.keys.subarray(0, n * kw), values: full.values.subarray(0, n * vw),
    keyHeads: full.keyHeads.map((k) => k.subarray(0, n * d)), valueHeads: full.valueHeads.map((v) => v.subarray(0, n * dv)) };
  for (const m of nullBackend ? [] : modes) {
    const o = modeOptions[m]!, ref = referenceDecode(w, q0, o.kind!, o.alpha ?? 1, o.bias ?? 0);
    const mine = await caches[m]!.attendAsync(q0);
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(mine.output[i]! - ref[i]!));
    row[`${m}.maxAbsErr`] = err;
    row[`${m}.keysUsedPerHead`] = mine.stats.keysUsed / heads;
    if (a.baseline) {
      const theirs = await caches[`before.${m}`]!.attendAsync(q0);
      row[`${m}.sameAsBefore`] = mine.output.every((x, i) => x === theirs.output[i]) && JSON.stringify({ ...mine.stats, errorBound: [...mine.stats.errorBound ?? []] })
        === JSON.stringify({ ...theirs.stats, errorBound: [...theirs.stats.errorBound ?? []] });
    }
  }
  // Calls one step makes (untimed).
  for (const name of Object.keys(caches)) row[`${name}.calls`] = await callsOf(() => caches[name]!.attendAsync(q1), 4);
  // Timed rounds.
  const samples: Record<string, number[]> = {};
  const push = (k: string, v: number) => (samples[k] ??= []).push(v);
  const contenders: Record<string, () => Promise<void>> = {};
  for (const [k, f] of Object.entries(floors)) {
    contenders[k] = async () => {
      const t0 = performance.now();
      for (let s = 0; s < steps; s++) await f();
      push(k, (performance.now() - t0) / steps);
    };
  }
  for (const name of Object.keys(caches)) {
    contenders[name] = async () => {
      const c = caches[name]!;
      let enc = 0, wait = 0;
      const t0 = performance.now(), cpu0 = process.cpuUsage();
      for (let s = 0; s < steps; s++) {
        const t1 = performance.now();
        await c.attendAsync(s % 2 ? q1 : q0);
        const t2 = performance.now();
        enc += lastSubmit - t1; wait += t2 - lastSubmit;
      }
      const cpu = process.cpuUsage(cpu0);
      push(name, (performance.now() - t0) / steps);
      push(`${name}.cpuMs`, (cpu.user + cpu.system) / 1000 / steps);
      push(`${name}.encodeMs`, enc / steps); push(`${name}.waitMs`, wait / steps);
    };
    // `inFlight` steps issued together and awaited together (several sequences or draft tokens on one cache).
    contenders[`${name}.inFlight`] = async () => {
      const c = caches[name]!, t0 = performance.now();
      for (let s = 0; s < steps; s += inFlight) await Promise.all(Array.from({ length: inFlight }, (_, i) => c.attendAsync(i % 2 ? q1 : q0)));
      push(`${name}.inFlight`, (performance.now() - t0) / (Math.ceil(steps / inFlight) * inFlight));
    };
    if (!name.startsWith('before.') && !nullBackend) {
      contenders[`${name}.gpu`] = async () => { push(`${name}.gpu`, await gpuOf(caches[name]!).timeSteps(q0, steps)); };
      contenders[`${name}.gpu1`] = async () => {
        for (let s = 0; s < steps; s++) {
          push(`${name}.gpu1`, await gpuOf(caches[name]!).timeSteps(s % 2 ? q1 : q0, 1));
          push(`${name}.gpu1.submitMs`, gpuOf(caches[name]!).lastTiming.submitMs);
        }
      };
    }
  }
  for (const f of Object.values(contenders)) await f(); // warm-up
  for (const k of Object.keys(samples)) delete samples[k];
  for (let r = 0; r < rounds; r++) for (const f of Object.values(contenders)) await f();
  for (const [k, v] of Object.entries(samples)) row[k.includes('Ms') || k.startsWith('floor') ? k : `${k}.ms`] = median(v);
  for (const m of modes) {
    if (!nullBackend) row[`${m}.hostOverGpu`] = (row[`${m}.ms`] as number) / (row[`${m}.gpu.ms`] as number);
    if (a.baseline) row[`${m}.speedupOverBefore`] = (row[`before.${m}.ms`] as number) / (row[`${m}.ms`] as number);
  }
  row.loadAfter = load();
  rows.push(row);
  console.log(JSON.stringify(row));
  save();
}

function save(): void {
  if (!a.out) return;
  let commit = 'unknown';
  try { commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { /* not a checkout */ }
  writeJson(a.out, { bench: 'webgpu-host', adapter, commit, uptimeS: Math.round(uptime()), storage: 'f16', synthetic: 'llm (8 query / 2 KV heads, d = 128)',
    rounds, steps, inFlight, modes, dawnFlags, baseline: a.baseline ? 'before.* rows: --baseline checkout' : null, rows });
}
process.exit(0); // Dawn keeps the process alive while the GPU object lives
