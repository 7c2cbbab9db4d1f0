/**
 * Kernel profile: where dense decode's time goes, per KV head (one grouped-query group of m query
 * heads against n keys), measured as this thread's CPU time so that other processes on the shared
 * machine inflate it less than wall time:
 *   read      readSum over K and V (the streaming roof)
 *   score     scoreBlockMulti over K in blocks of 64 (dots only)
 *   attend    attendRange (score + online softmax + weighted sum of V), K/V streamed from DRAM
 *   attend-L2 the same work on a 512-key K/V slice that stays in cache (compute roof)
 *
 *   node --import tsx bench/kernels.ts [--n 65536] [--rounds 25] [--out bench/results/kernels.json]
 */
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const N = Number(args.get('n') ?? 65536);
const ROUNDS = Number(args.get('rounds') ?? 25);
const OUT = args.get('out') ?? 'bench/results/kernels.json';
const SMALL = 512;

/** Alternating rounds of process CPU time (ms); this benchmark starts no threads of its own. */
function cpuRounds(fns: Record<string, () => void>): Record<string, number> {
  const names = Object.keys(fns);
  for (const n of names) fns[n]!();
  const s: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) for (const n of names) {
    const a = process.cpuUsage();
    fns[n]!();
    const b = process.cpuUsage(a);
    s[n]!.push((b.user + b.system) / 1000);
  }
  return Object.fromEntries(names.map((n) => [n, median(s[n]!)]));
}

const rows: (string | number)[][] = [];
const json: Record<string, unknown>[] = [];
for (const [m, d] of [[4, 128], [4, 64], [3, 64], [1, 128]] as const) {
  const k = createWasmKernels();
  const x = k.exports;
  const K = k.allocF32(N * d), V = k.allocF32(N * d), Q = k.allocF32(m * d), S = k.allocF32(m * (d + 2)), T = k.allocF32(m * 64);
  for (const b of [K, V, Q]) { const v = b.view(); for (let i = 0; i < v.length; i++) v[i] = Math.random() - 0.5; }
  const p = (b: { view(): Float32Array }) => b.view().byteOffset;
  const resetStates = () => {
    const s = S.view();
    for (let j = 0; j < m; j++) { s.fill(0, j * (d + 2), j * (d + 2) + d); s[j * (d + 2) + d] = -Infinity; s[j * (d + 2) + d + 1] = 0; }
  };
  const scale = 1 / Math.sqrt(d);
  const ms = cpuRounds({
    read: () => { x.readSum(p(K), N * d * 4); x.readSum(p(V), N * d * 4); },
    score: () => { for (let b = 0; b < N; b += 64) x.scoreBlockMulti(p(Q), m, p(K) + b * d * 4, 64, d, p(T)); },
    attend: () => { resetStates(); x.attendRange(p(Q), m, p(K), p(V), N, d, d, 0, scale, 0, 1, p(S), p(T)); },
    'attend-L2': () => { resetStates(); for (let r = 0; r < N / SMALL; r++) x.attendRange(p(Q), m, p(K), p(V), SMALL, d, d, 0, scale, 0, 1, p(S), p(T)); },
  });
  const bytes = 2 * N * d * 4, flops = 4 * N * d * m; // score + accumulate: 2 flops per multiply-add each
  for (const [name, t] of Object.entries(ms)) {
    const gb = (name === 'score' ? bytes / 2 : bytes) / (t * 1e6);
    const gflops = name === 'read' ? 0 : (name === 'score' ? flops / 2 : flops) / (t * 1e6);
    rows.push([`m=${m} d=${d}`, name, t, gb, gflops]);
    json.push({ m, d, n: N, part: name, cpuMs: t, gbPerSecond: gb, gflopPerSecond: gflops });
  }
}
console.log(table(['group', 'part', 'CPU ms', 'GB/s', 'GFLOP/s'], rows));
writeJson(OUT, { n: N, rounds: ROUNDS, rows: json });
