/**
 * Dense WebAssembly decode against the memory read bandwidth of the same run: per round, a pure
 * streaming read of a buffer far larger than the caches (`readSum`, one thread) and one dense decode
 * step on one thread (DenseDecoder, the relaxed-SIMD build where usable) and on two (DecodePool),
 * alternating; the two-thread read bandwidth (bench/lib/bandwidth.ts) is measured before and after.
 * A step reads all of K and V once (n · kvHeads · (d + dv) · 4 bytes); its GB/s over the read's
 * GB/s of the same round is the share reported (median over rounds).
 *
 *   npm run bench bench/dense-bandwidth.ts -- [--n 65536,262144] [--rounds 9] [--out bench/results/dense-bandwidth.json]
 */
import { loadavg } from 'node:os';
import { DecodePool } from '../src/node/worker-pool.js';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { measureBandwidth } from './lib/bandwidth.js';
import { syntheticWorkload } from './lib/keys.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const NS = (args.get('n') ?? '65536,262144').split(',').map(Number);
const ROUNDS = Number(args.get('rounds') ?? 9);
const OUT = args.get('out') ?? 'bench/results/dense-bandwidth.json';

const loads = [loadavg()];
const bwStart = await measureBandwidth();
const probe = createWasmKernels();
const bytes = 256 * 2 ** 20, buf = probe.allocF32(bytes / 4), view = buf.view();
for (let i = 0; i < view.length; i += 1024) view[i] = 1;
const ptr = view.byteOffset;
const rows: (string | number)[][] = [], json: Record<string, unknown>[] = [];
for (const n of NS) {
  const w = syntheticWorkload('llm', n, 128, 8, 2, 4);
  const weighting = { kind: 'softmax', scale: 1 / Math.sqrt(w.d), bias: 0, alpha: 1 } as const;
  const base = { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, initialCapacity: w.n };
  const one = await DecodePool.create({ ...base, threads: 1 }), two = await DecodePool.create({ ...base, threads: 2 });
  one.append(w.keys, w.values); two.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv), stepBytes = n * w.kvHeads * (w.d + w.dv) * 4;
  const read: number[] = [], d1: number[] = [], d2: number[] = [], share1: number[] = [];
  for (let r = -1; r < ROUNDS; r++) {
    const q = w.queries[(r + 1) % w.queries.length]!;
    let t0 = performance.now();
    probe.exports.readSum(ptr, bytes);
    const gRead = bytes / ((performance.now() - t0) * 1e6);
    t0 = performance.now();
    one.attend(q, out);
    const g1 = stepBytes / ((performance.now() - t0) * 1e6);
    t0 = performance.now();
    two.attend(q, out);
    const g2 = stepBytes / ((performance.now() - t0) * 1e6);
    if (r < 0) continue;
    read.push(gRead); d1.push(g1); d2.push(g2); share1.push(g1 / gRead);
  }
  await one.close(); await two.close();
  loads.push(loadavg());
  const r = { n, d: w.d, heads: w.heads, kvHeads: w.kvHeads, stepMiB: stepBytes / 2 ** 20, readGBs: median(read), dense1GBs: median(d1), dense2GBs: median(d2),
    share1t: median(share1), dense1MsPerStep: stepBytes / (median(d1) * 1e6), dense2MsPerStep: stepBytes / (median(d2) * 1e6) };
  json.push(r);
  rows.push([n, r.stepMiB, r.readGBs, r.dense1GBs, `${(100 * r.share1t).toFixed(0)}%`, r.dense2GBs]);
}
const bwEnd = await measureBandwidth();
for (const r of json) (r as Record<string, unknown>)['share2t'] = (r['dense2GBs'] as number) / Math.max(bwStart.wasm2, bwEnd.wasm2);
console.log(`Node ${process.version}; medians of ${ROUNDS} rounds; read bandwidth 2 threads ${bwStart.wasm2.toFixed(1)} → ${bwEnd.wasm2.toFixed(1)} GB/s; load ${loads.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' → ')}`);
console.log(table(['n (d = 128, 8/2)', 'MiB per step', 'read GB/s (1t, same rounds)', 'dense 1t GB/s', 'dense 1t share', 'dense 2t GB/s'], rows));
for (const r of json) console.log(`n = ${r['n']}: dense 2t share of the better 2-thread read ${(100 * (r['share2t'] as number)).toFixed(0)}%`);
writeJson(OUT, { rounds: ROUNDS, loadAverages: loads, bandwidthStart: bwStart, bandwidthEnd: bwEnd, rows: json });
