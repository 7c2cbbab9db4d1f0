/**
 * Causal prefill: every position attends to its prefix. Ours dense on the kernels (WebAssembly SIMD
 * 1.0 and relaxed SIMD where the host runs it, and plain JS; tiled: src/kernels/dense-prefill.ts)
 * beside the library's one-shot attention() (dense, certified softmax ε = 1e-2), per query head,
 * all heads summed. Ratios are against the fastest dense WebAssembly contender of the same run
 * (one thread); contenders alternate within each round and times are medians over the rounds —
 * wall clock, and the process's CPU time (everything here runs on the main thread), which a
 * machine shared with other work inflates far less than the wall clock.
 *
 *   node --import tsx bench/prefill.ts [--n 2048,8192,32768] [--dist real,llm,gaussian]
 *        [--js-max 8192] [--lib-max 8192] [--rounds 3] [--out bench/results/prefill.json]
 *
 * Real: the dev dump (6 query heads over 2 KV heads, d = 64), its first n positions (n ≤ 8192).
 * Synthetic: 6 over 2, d = 64 (bench/lib/keys.ts). Outputs are checked against the float64 causal
 * reference on the last 64 positions of head 0. n < 8192 gets one untimed warm-up run per contender.
 */
import { loadavg } from 'node:os';
import { attention, matrix } from '../src/index.js';
import { referenceAttention } from '../src/attention/reference.js';
import { denseCausalAttention } from '../src/kernels/dense-prefill.js';
import { createKernels } from '../src/kernels/index.js';
import { createJsKernels } from '../src/kernels/js/js-kernels.js';
import type { Kernels, Weighting } from '../src/kernels/types.js';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const list = (name: string, def: string) => (args.get(name) ?? def).split(',').filter((x) => x !== '');
const NS = list('n', '2048,8192,32768').map(Number);
const DISTS = list('dist', 'real,llm,gaussian');
const JS_MAX = Number(args.get('js-max') ?? 8192);
const LIB_MAX = Number(args.get('lib-max') ?? 8192);
const ROUNDS = Number(args.get('rounds') ?? 3);
const OUT = args.get('out') ?? 'bench/results/prefill.json';
const HEADS = 6, KV_HEADS = 2, D = 64;

interface Row {
  dist: string; n: number; contender: string; ms: number; roundsMs: number[]; cpuMs: number; roundsCpuMs: number[];
  keysUsedFrac: number; keysScoredFrac: number; speedupVsDenseWasm: number; cpuSpeedupVsDenseWasm: number; maxErrorTail: number;
}
const rows: Row[] = [];

/** The first n positions of w: per KV head keys/values [n, d], per query head queries [n, d]. */
function slice(w: Workload, n: number) {
  const group = w.heads / w.kvHeads;
  const k = w.keyHeads.map((x) => x.subarray(0, n * w.d)), v = w.valueHeads.map((x) => x.subarray(0, n * w.dv));
  const qHead = Array.from({ length: w.heads }, (_, h) => {
    const q = new Float32Array(n * w.d);
    // A workload lists its queries newest first (dump workloads: queries[j] is position n − 1 − j; both
    // workloads here have one query per position), so position i is queries[R − 1 − i].
    const R = w.queries.length;
    for (let i = 0; i < n; i++) q.set(w.queries[R - 1 - i]!.subarray(h * w.d, (h + 1) * w.d), i * w.d);
    return q;
  });
  // Per KV head: its group's queries position-major [n, group, d] (denseCausalAttention's layout).
  const qGroup = Array.from({ length: w.kvHeads }, (_, g) => {
    const q = new Float32Array(n * group * w.d);
    for (let i = 0; i < n; i++) for (let j = 0; j < group; j++) q.set(qHead[g * group + j]!.subarray(i * w.d, (i + 1) * w.d), (i * group + j) * w.d);
    return q;
  });
  return { k, v, qHead, qGroup, group };
}

async function run(w: Workload, n: number): Promise<void> {
  console.error(`# ${w.name} n=${n}`);
  const { k, v, qHead, qGroup, group } = slice(w, n);
  const soft: Weighting = { kind: 'softmax', scale: 1 / Math.sqrt(w.d), bias: 0, alpha: 1 };
  const tail = Math.min(64, n);
  const want = referenceAttention({ q: qHead[0]!.subarray((n - tail) * w.d), m: tail, k: k[0]!, n, v: v[0]!, d: w.d, dv: w.dv,
    kind: 'softmax', scale: soft.scale, alpha: 1, bias: 0, causal: true });
  const errTail = (head0: Float32Array, stride: number) => {
    let e = 0;
    for (let i = 0; i < tail; i++) for (let c = 0; c < w.dv; c++) e = Math.max(e, Math.abs(head0[(n - tail + i) * stride + c]! - want[i * w.dv + c]!));
    return e;
  };
  interface Run { head0: Float32Array; stride: number; used: number; scored: number }
  const contenders: { name: string; dense: boolean; fn: () => Run }[] = [];
  const ours = (name: string, kernels: Kernels) => {
    const kr = k.map((x) => { const b = kernels.allocF32(x.length); b.view().set(x); return b; });
    const vr = v.map((x) => { const b = kernels.allocF32(x.length); b.view().set(x); return b; });
    const outs = k.map(() => new Float32Array(n * group * w.dv));
    contenders.push({ name, dense: kernels.name !== 'js', fn: () => {
      for (let g = 0; g < w.kvHeads; g++) denseCausalAttention(kernels, qGroup[g]!, kr[g]!, vr[g]!, n, group, w.d, w.dv, soft, outs[g]!);
      return { head0: outs[0]!, stride: group * w.dv, used: 1, scored: 1 };
    } });
  };
  // Every WebAssembly build the host runs: the baseline is whichever is fastest in this run.
  const simd = createWasmKernels(), best = createKernels();
  ours(`dense ${simd.name} (ours)`, simd);
  if (best.name !== simd.name) ours(`dense ${best.name} (ours)`, best);
  if (n <= JS_MAX) ours('dense js (ours)', createJsKernels());
  if (n <= LIB_MAX) {
    const lib = (name: string, options: Parameters<typeof attention>[3]) => contenders.push({ name, dense: false, fn: () => {
      let head0: Float32Array = new Float32Array(0), used = 0, scored = 0;
      for (let h = 0; h < w.heads; h++) {
        const g = Math.floor(h / group);
        const r = attention(matrix(qHead[h]!, n, w.d), matrix(k[g]!, n, w.d), matrix(v[g]!, n, w.dv), options);
        if (h === 0) head0 = r.output.data;
        used += r.stats.keysUsed;
        scored += r.stats.keysScored;
      }
      const pairs = w.heads * n * (n + 1) / 2;
      return { head0, stride: w.dv, used: used / pairs, scored: scored / pairs };
    } });
    lib('attention() dense', { kind: 'softmax', causal: true });
    lib('attention() certified ε=1e-2', { kind: 'softmax', causal: true, sparsity: { epsilon: 1e-2 } });
  }
  // Contenders alternate within each round (A B C, A B C, …), so load drifts hit all of them alike.
  const last = new Map<string, Run>(), times = new Map<string, number[]>(), cpu = new Map<string, number[]>();
  if (n < 8192) for (const c of contenders) last.set(c.name, c.fn());
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of contenders) {
      const t0 = performance.now(), c0 = process.cpuUsage();
      last.set(c.name, c.fn());
      const used = process.cpuUsage(c0);
      times.set(c.name, [...(times.get(c.name) ?? []), performance.now() - t0]);
      cpu.set(c.name, [...(cpu.get(c.name) ?? []), (used.user + used.system) / 1000]);
    }
  }
  const dense = contenders.filter((c) => c.dense);
  const base = Math.min(...dense.map((c) => median(times.get(c.name)!))), cpuBase = Math.min(...dense.map((c) => median(cpu.get(c.name)!)));
  for (const c of contenders) {
    const run = last.get(c.name)!, ms = median(times.get(c.name)!), cpuMs = median(cpu.get(c.name)!);
    rows.push({ dist: w.name, n, contender: c.name, ms, roundsMs: times.get(c.name)!, cpuMs, roundsCpuMs: cpu.get(c.name)!,
      keysUsedFrac: run.used, keysScoredFrac: run.scored, speedupVsDenseWasm: base / ms, cpuSpeedupVsDenseWasm: cpuBase / cpuMs,
      maxErrorTail: errTail(run.head0, run.stride) });
  }
}

const loadStart = loadavg();
const maxN = Math.max(...NS);
for (const dist of DISTS) {
  if (dist === 'real') {
    const full = realWorkload('real', 8192);
    if (full === null) { console.error('# real: data file not found, skipped'); continue; }
    for (const n of NS.filter((x) => x <= full.n)) await run(full, n);
  } else {
    const w = syntheticWorkload(dist as 'gaussian' | 'llm', maxN, D, HEADS, KV_HEADS, maxN);
    for (const n of NS) await run(w, n);
  }
}
console.log(table(['dist', 'n', 'contender', 'ms (all heads, median)', 'CPU ms', 'keys used / causal pairs', 'keys scored / causal pairs',
  '× fastest dense wasm (wall)', '× (CPU time)', 'max err (last 64, head 0)'],
  rows.map((r) => [r.dist, r.n, r.contender, r.ms, r.cpuMs, r.keysUsedFrac, r.keysScoredFrac, r.speedupVsDenseWasm, r.cpuSpeedupVsDenseWasm, r.maxErrorTail])));
console.log(`load average (1 min) at start ${loadStart[0]!.toFixed(1)}, at end ${loadavg()[0]!.toFixed(1)}`);
writeJson(OUT, { loadAverage: { start: loadStart, end: loadavg() }, rounds: ROUNDS, heads: HEADS, kvHeads: KV_HEADS, d: D, rows });
