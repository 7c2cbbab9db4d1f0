// Kernel-level sweep of WebGpuDecodePlan (dense decode over caller-owned f16 buffers, no CPU
// workload): milliseconds per step and GB/s of K+V for each context length and workgroup target,
// `reps` steps per command buffer, the GPU's own time from timestamps around them (timing.ts; submit
// to done without timestamps), median of alternating rounds. K/V hold random halves in [-1, 1] (speed does not depend on
// them). 8 query / 2 KV heads, d = 128 unless said.
//
//   node --import tsx bench/webgpu-plan-sweep.ts [--n 32768,131072,524288] [--targets 512,1024,2048]
//     [--heads 8] [--kv-heads 2] [--d 128] [--rounds 5] [--reps 50] [--out file.json]
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WebGpuDecodePlan, webGpuDevice } from '../src/index.js';
import { numberToF16Bits } from '../src/tensor/half.js';
import { median } from './lib/measure.js';
import { timeOnGpu } from '../src/webgpu/timing.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,131072,524288' }, targets: { type: 'string', default: '512,1024,2048' },
  heads: { type: 'string', default: '8' }, 'kv-heads': { type: 'string', default: '2' }, d: { type: 'string', default: '128' },
  rounds: { type: 'string', default: '5' }, reps: { type: 'string', default: '50' }, out: { type: 'string' },
} });
const ns = a.n!.split(',').map(Number), targets = a.targets!.split(',').map(Number);
const heads = Number(a.heads), kvHeads = Number(a['kv-heads']), d = Number(a.d), rounds = Number(a.rounds), reps = Number(a.reps);
const device = await webGpuDevice();
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { subgroupMinSize?: number } }).adapterInfo;
const adapter = { description: info?.description, subgroups: device.features.has('subgroups'), subgroupMinSize: info?.subgroupMinSize, timestamps: device.features.has('timestamp-query') };
console.log(JSON.stringify(adapter));
const maxN = Math.max(...ns), bytes = kvHeads * maxN * d * 2;

/** A buffer of `size` bytes of random halves: one random MiB written over and over. */
function randomHalves(size: number): GPUBuffer {
  const b = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const block = Uint16Array.from({ length: 1 << 19 }, () => numberToF16Bits(Math.random() * 2 - 1));
  for (let at = 0; at < size; at += block.byteLength) device.queue.writeBuffer(b, at, block.buffer, 0, Math.min(block.byteLength, size - at));
  return b;
}
const keys = randomHalves(bytes), values = randomHalves(bytes);
const queries = device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(queries, 0, Float32Array.from({ length: heads * d }, () => Math.random() * 2 - 1));
const output = device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE });

const rows: Record<string, unknown>[] = [];
for (const n of ns) {
  const plans = targets.map((t) => WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f16', kind: 'softmax', maxLength: maxN, targetWorkgroups: t }));
  // The plan reads rows [g·cap, g·cap + n) of a [kvHeads, cap, d] buffer: cap = maxN for every n.
  const step = async (plan: WebGpuDecodePlan, k: number) => {
    const t = await timeOnGpu(device, (enc) => { for (let r = 0; r < k; r++) plan.encode(enc, { queries, keys, values, output }, n); });
    return (t.gpuMs ?? t.submitMs) / k;
  };
  for (const p of plans) await step(p, 3);
  const samples = plans.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) for (let i = 0; i < plans.length; i++) samples[i]!.push(await step(plans[i]!, reps));
  const kvBytes = 2 * kvHeads * n * d * 2;
  const row: Record<string, unknown> = { n, heads, kvHeads, d, kvBytes };
  targets.forEach((t, i) => { const ms = median(samples[i]!); row[`w${t}.ms`] = ms; row[`w${t}.GBps`] = kvBytes / ms / 1e6; });
  rows.push(row);
  console.log(JSON.stringify(row));
  for (const p of plans) p.destroy();
}
if (a.out) writeFileSync(a.out, JSON.stringify({ bench: 'webgpu-plan-sweep', adapter, node: process.version, rounds, reps, rows }, null, 2) + '\n');
process.exit(0);
