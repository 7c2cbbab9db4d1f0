/**
 * Why the kernels' heap puts large blocks on page boundaries (src/kernels/wasm/heap.ts): the same
 * dense `attendRange` call (4 query heads, d = 64, Gaussian keys) over copies of one K/V block placed
 * at different offsets into a 4 KiB page, in one kernels memory. Alternating rounds (every placement
 * once per round, order rotating), median µs per call and the ratio against the page-aligned copy.
 *
 *   npm run bench bench/heap-alignment.ts -- [--n 8192] [--rounds 2000] [--placements '[[0,0],[1024,0]]'] [--out bench/results/heap-alignment.json]
 */
import { loadavg } from 'node:os';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { relaxedSimdUsable } from '../src/kernels/wasm/relaxed.js';
import { syntheticWorkload } from '../src/report/workloads.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const n = Number(args.get('n') ?? 8192), ROUNDS = Number(args.get('rounds') ?? 2000), d = 64, m = 4;
const OUT = args.get('out') ?? 'bench/results/heap-alignment.json';
/** [key offset, value offset] into a page, bytes; repeated placements show how much the physical pages alone move a copy. */
const PLACEMENTS: [number, number][] = JSON.parse(args.get('placements') ?? '[[0,0],[1024,0],[0,0],[1024,0],[0,0],[1024,0],[3328,1024]]');

const w = syntheticWorkload('gaussian', n, d, m, 1, 1);
const kernels = createWasmKernels({ relaxed: relaxedSimdUsable() });
const heap = kernels.heap;
// Every copy gets its own page-aligned block (alloc of ≥ 4 KiB) plus room for the offset.
const copies = PLACEMENTS.map(([ko, vo]) => ({ ko, vo, k: heap.alloc(n * d * 4 + 4096) + ko, v: heap.alloc(n * d * 4 + 4096) + vo }));
const view = (p: number) => new Float32Array(heap.memory.buffer, p, n * d);
for (const c of copies) { view(c.k).set(w.keys.subarray(0, n * d)); view(c.v).set(w.values.subarray(0, n * d)); }
const states = new Float32Array(m * (d + 2));
const weighting = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 } as const;
const samples = copies.map(() => [] as number[]);
const load0 = loadavg();
for (let r = -100; r < ROUNDS; r++) {
  for (let i0 = 0; i0 < copies.length; i0++) {
    const i = (i0 + r + 100) % copies.length, c = copies[i]!;
    const t0 = performance.now();
    states.fill(0);
    kernels.attendRange(w.queries[0]!, m, view(c.k), view(c.v), 0, n, d, d, weighting, states);
    if (r >= 0) samples[i]!.push(performance.now() - t0);
  }
}
const base = median(samples[0]!);
const rows = copies.map((c, i) => ({ keyOffset: c.ko, valueOffset: c.vo, usMedian: 1000 * median(samples[i]!), timeVsAligned: median(samples[i]!) / base }));
console.log(`attendRange, n = ${n}, d = ${d}, ${m} query heads, ${kernels.name}; Node ${process.version}; load ${load0.map((x) => x.toFixed(1)).join(' ')} → ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(table(['key offset in page (B)', 'value offset (B)', 'µs/call (median)', 'time ÷ page-aligned'], rows.map((r) => [r.keyOffset, r.valueOffset, r.usMedian, r.timeVsAligned])));
writeJson(OUT, { n, d, heads: m, kernels: kernels.name, rounds: ROUNDS, loadavg: [load0, loadavg()], rows });
