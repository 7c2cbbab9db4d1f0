/**
 * Per-token decode time: dense baselines (ours in plain JS and WebAssembly SIMD on 1 and 2 threads,
 * onnxruntime-node on 1 and 2 threads) beside the library's KVCache (dense and sparse modes), with
 * keys used, bytes touched, achieved GB/s and the memory bandwidth measured in the same run.
 *
 *   node --import tsx bench/decode.ts [--n 4096,16384,65536,262144] [--d 64,128]
 *        [--dist gaussian,llm,real,real-relu] [--rounds 7] [--budget-ms 2500] [--kv yes|no]
 *        [--index quantized] [--out bench/results/decode.json]
 *
 * Workloads: bench/lib/keys.ts (documented in docs/performance.md). Synthetic: 8 query heads over
 * 2 KV heads. Real: the dev dumps, 6 over 2, n = 8192, d = 64. Each contender's output on the first
 * query is checked against the float64 reference before timing; contenders are timed in
 * alternating rounds (medians), one query per round.
 */
import { loadavg } from 'node:os';
import { KVCache, type AttentionOptions } from '../src/index.js';
import { DenseDecoder } from '../src/kernels/dense-decode.js';
import { createJsKernels } from '../src/kernels/js/js-kernels.js';
import type { Weighting } from '../src/kernels/types.js';
import { createKernels } from '../src/kernels/index.js';
import { DecodePool } from '../src/node/worker-pool.js';
import { measureBandwidth, type Bandwidth } from './lib/bandwidth.js';
import { calibrateReluBias, denseDecodeBytes, realWorkload, referenceDecode, sparseDecodeBytes, syntheticWorkload, type Workload } from './lib/keys.js';
import { median, table, writeJson } from './lib/measure.js';
import { createOrtDecoder } from '../src/node/onnx-attention.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const list = (name: string, def: string) => (args.get(name) ?? def).split(',').filter((x) => x !== '');
const NS = list('n', '4096,16384,65536,262144').map(Number);
const DS = list('d', '64,128').map(Number);
const DISTS = list('dist', 'gaussian,llm,real,real-relu');
const ROUNDS = Number(args.get('rounds') ?? 7);
const BUDGET_MS = Number(args.get('budget-ms') ?? 2500);
const WITH_KV = (args.get('kv') ?? 'yes') === 'yes';
const INDEX = args.get('index') ?? 'quantized';
const OUT = args.get('out') ?? 'bench/results/decode.json';

/** One way to compute a decode step; `threads` picks which bandwidth it is compared with. */
interface Contender {
  name: string;
  kind: 'softmax' | 'relu';
  threads: number;
  run(q: Float32Array): Float32Array | Promise<Float32Array>;
  /** Keys used and scored per query head in the last run, and bytes read (estimate for sparse modes). */
  work(): { used: number; scored: number; bytes: number };
}

interface Row {
  dist: string; n: number; d: number; contender: string; kind: string; threads: number;
  ms: number; cpuMs: number; usedPerHead: number; scoredPerHead: number; mbTouched: number; gbPerSecond: number;
  bandwidthShare: number; speedupVsDenseWasm: number; maxError: number;
}

const rows: Row[] = [];
const oracle: Record<string, unknown>[] = [];

function weighting(kind: 'softmax' | 'relu', w: Workload): Weighting {
  return { kind, scale: 1 / Math.sqrt(w.d), bias: kind === 'relu' ? w.relu.bias : 0, alpha: kind === 'relu' ? w.relu.alpha : 1 };
}

/** Fewest keys per head whose exact softmax mass reaches 1 − ε (the oracle minimum), averaged over heads. */
function oracleKeys(w: Workload, q: Float32Array, eps: number): number {
  const group = w.heads / w.kvHeads, scale = 1 / Math.sqrt(w.d);
  let total = 0;
  for (let h = 0; h < w.heads; h++) {
    const k = w.keyHeads[Math.floor(h / group)]!;
    const s = new Float64Array(w.n);
    let m = -Infinity;
    for (let j = 0; j < w.n; j++) {
      let x = 0;
      for (let c = 0; c < w.d; c++) x += q[h * w.d + c]! * k[j * w.d + c]!;
      s[j] = x * scale;
      if (s[j]! > m) m = s[j]!;
    }
    let z = 0;
    for (let j = 0; j < w.n; j++) { s[j] = Math.exp(s[j]! - m); z += s[j]!; }
    s.sort().reverse();
    let acc = 0, c = 0;
    while (c < w.n && acc < (1 - eps) * z) acc += s[c++]!;
    total += c;
  }
  return total / w.heads;
}

function decoderContender(name: string, w: Workload, wt: Weighting, kernels: ReturnType<typeof createJsKernels>): Contender {
  const dec = new DenseDecoder({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting: wt, kernels, initialCapacity: w.n });
  dec.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  return { name, kind: wt.kind, threads: 1, run: (q) => { dec.attend(q, out); return out; }, work: () => ({ used: w.n, scored: w.n, bytes: denseDecodeBytes(w) }) };
}

async function poolContender(w: Workload, wt: Weighting, threads: number): Promise<{ c: Contender; close: () => Promise<void> }> {
  const pool = await DecodePool.create({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting: wt, threads, initialCapacity: w.n });
  pool.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  return {
    c: { name: `dense wasm ${threads}t`, kind: wt.kind, threads, run: (q) => { pool.attend(q, out); return out; }, work: () => ({ used: w.n, scored: w.n, bytes: denseDecodeBytes(w) }) },
    close: () => pool.close(),
  };
}

/** A KVCache contender; bytes: the index pass (int8 codes + 16 B per key for 'quantized') plus exact rows. */
function kvContender(name: string, w: Workload, options: AttentionOptions): Contender {
  const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, ...options, index: INDEX } as never);
  cache.append(w.keys, w.values);
  let last = { used: 0, scored: 0, bytes: 0 };
  const dense = options.kind === 'softmax' ? (options.sparsity ?? 'dense') === 'dense' : options.sparsity === 'dense';
  return {
    name, kind: options.kind, threads: 1,
    run: (q) => {
      const r = cache.attend(q);
      const used = r.stats.keysUsed / w.heads, scored = r.stats.keysScored / w.heads;
      last = { used, scored, bytes: dense ? denseDecodeBytes(w) : sparseDecodeBytes(w, used, scored) };
      return r.output;
    },
    work: () => last,
  };
}

/**
 * Median wall time and median process CPU time (ms) per contender, alternating rounds. On this
 * shared machine CPU time is the steadier number for single-thread contenders (being descheduled
 * does not count); for threaded ones it is the work of all threads.
 */
async function timeContenders(cs: Contender[], queries: Float32Array[]): Promise<{ wall: number[]; cpu: number[] }> {
  for (const c of cs) await c.run(queries[0]!); // warm-up (JIT, tier-up, caches)
  const wall = cs.map(() => [] as number[]), cpu = cs.map(() => [] as number[]);
  const spent = cs.map(() => 0);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < cs.length; i++) {
      if (r >= 3 && spent[i]! > BUDGET_MS) continue; // slow contenders: at least 3 rounds, then a time budget
      const c0 = process.cpuUsage(), t0 = performance.now();
      await cs[i]!.run(queries[r % queries.length]!);
      const t = performance.now() - t0, c = process.cpuUsage(c0);
      wall[i]!.push(t); cpu[i]!.push((c.user + c.system) / 1000); spent[i]! += t;
    }
  }
  return { wall: wall.map((s) => median(s)), cpu: cpu.map((s) => median(s)) };
}

function maxError(got: Float32Array, want: Float64Array): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
  return e;
}

/** Builds one kind's contenders (softmax or ReLU), validates them, times them in alternating rounds. */
async function runPhase(w: Workload, kind: 'softmax' | 'relu', bw: Bandwidth): Promise<void> {
  const wt = weighting(kind, w);
  const tag = kind === 'softmax' ? '' : ' relu';
  const closers: (() => Promise<void>)[] = [];
  const cs: Contender[] = [];
  cs.push(decoderContender(`dense js${tag}`, w, wt, createJsKernels()));
  cs.push(decoderContender(`dense wasm 1t${tag}`, w, wt, createKernels({ backend: 'wasm' })));
  const p = await poolContender(w, wt, 2);
  p.c.name += tag;
  cs.push(p.c); closers.push(p.close);
  if (kind === 'softmax') {
    for (const threads of [1, 2]) {
      const ort = await createOrtDecoder(w.keyHeads, w.valueHeads, w.n, w.heads / w.kvHeads, w.d, w.dv, wt.scale, threads);
      if (ort !== null) cs.push({ name: `onnxruntime ${threads}t`, kind, threads, run: (q) => ort.run(q), work: () => ({ used: w.n, scored: w.n, bytes: denseDecodeBytes(w) }) });
    }
  }
  if (WITH_KV && kind === 'softmax') {
    cs.push(kvContender('KVCache dense', w, { kind: 'softmax', sparsity: 'dense' }));
    const epsilons = w.name === 'real' ? [1e-2, 1e-3] : [1e-3];
    for (const epsilon of epsilons) cs.push(kvContender(`KVCache certified ε=${epsilon}`, w, { kind: 'softmax', sparsity: { epsilon } }));
    cs.push(kvContender('KVCache top-k 256', w, { kind: 'softmax', sparsity: { topK: 256 } }));
    cs.push(kvContender('KVCache paper', w, { kind: 'softmax', sparsity: 'paper' }));
  }
  if (WITH_KV && kind === 'relu') {
    cs.push(kvContender('KVCache relu dense', w, { kind: 'relu', alpha: wt.alpha, bias: wt.bias, sparsity: 'dense' }));
    cs.push(kvContender('KVCache relu exact', w, { kind: 'relu', alpha: wt.alpha, bias: wt.bias }));
  }
  const q0 = w.queries[0]!;
  const want = referenceDecode(w, q0, wt.kind, wt.alpha, wt.bias);
  const errors: number[] = [];
  for (const c of cs) errors.push(maxError(await c.run(q0), want));
  const { wall: ms, cpu } = await timeContenders(cs, w.queries);
  const denseWasm = ms[cs.findIndex((c) => c.name === `dense wasm 1t${tag}`)]!;
  cs.forEach((c, i) => {
    const work = c.work();
    const gb = work.bytes / (ms[i]! * 1e6);
    rows.push({
      dist: w.name, n: w.n, d: w.d, contender: c.name, kind: c.kind, threads: c.threads, ms: ms[i]!, cpuMs: cpu[i]!,
      usedPerHead: work.used, scoredPerHead: work.scored, mbTouched: work.bytes / 1e6, gbPerSecond: gb,
      bandwidthShare: gb / (c.threads === 1 ? bw.wasm1 : bw.wasm2),
      speedupVsDenseWasm: denseWasm / ms[i]!, maxError: errors[i]!,
    });
  });
  for (const close of closers) await close();
}

async function runWorkload(w: Workload, bw: Bandwidth): Promise<void> {
  console.error(`# ${w.name} n=${w.n} d=${w.d} heads=${w.heads}/${w.kvHeads}`);
  if (w.name !== 'real-relu') w.relu.bias = calibrateReluBias(w);
  if (w.name !== 'real-relu') {
    await runPhase(w, 'softmax', bw);
    oracle.push({ dist: w.name, n: w.n, d: w.d, oracleKeysPerHead: { '1e-2': oracleKeys(w, w.queries[0]!, 1e-2), '1e-3': oracleKeys(w, w.queries[0]!, 1e-3) } });
  }
  await runPhase(w, 'relu', bw);
}

/** Least-squares slope of log(ms) against log(n) per (dist, d, contender) over the n sweep. */
function fitExponents(): Record<string, number> {
  const exponents: Record<string, number> = {};
  for (const key of new Set(rows.map((r) => `${r.dist} d=${r.d} ${r.contender}`))) {
    const pts = rows.filter((r) => `${r.dist} d=${r.d} ${r.contender}` === key);
    if (pts.length < 2) continue;
    const xs = pts.map((p) => Math.log(p.n)), ys = pts.map((p) => Math.log(p.ms));
    const mx = xs.reduce((a, b) => a + b) / xs.length, my = ys.reduce((a, b) => a + b) / ys.length;
    let sxy = 0, sxx = 0;
    for (let i = 0; i < xs.length; i++) { sxy += (xs[i]! - mx) * (ys[i]! - my); sxx += (xs[i]! - mx) ** 2; }
    exponents[key] = sxy / sxx;
  }
  return exponents;
}

/** Writes everything measured so far (after every workload, so a long run that is cut short keeps its results). */
function save(bwEnd: Bandwidth | null): void {
  writeJson(OUT, { loadAverage: { start: loadStart, now: loadavg() }, bandwidth: { start: bwStart, end: bwEnd }, rounds: ROUNDS, index: INDEX,
    rows, oracle, exponents: fitExponents() });
}

const loadStart = loadavg();
const bwStart = await measureBandwidth();
console.error(`bandwidth (wasm-simd, GB/s): 1 thread ${bwStart.wasm1.toFixed(1)}, 2 threads ${bwStart.wasm2.toFixed(1)}`);
for (const dist of DISTS) {
  if (dist === 'real' || dist === 'real-relu') {
    const w = realWorkload(dist, ROUNDS);
    if (w === null) { console.error(`# ${dist}: data file not found, skipped`); continue; }
    await runWorkload(w, bwStart);
    save(null);
    continue;
  }
  for (const d of DS) for (const n of NS) {
    await runWorkload(syntheticWorkload(dist as 'gaussian' | 'llm', n, d, 8, 2, ROUNDS), bwStart);
    save(null);
  }
}
const bwEnd = await measureBandwidth();
save(bwEnd);

console.log(`load average (1 min) at start ${loadStart[0]!.toFixed(1)}, at end ${loadavg()[0]!.toFixed(1)}`);
console.log(`bandwidth, wasm-simd read (GB/s): start 1t ${bwStart.wasm1.toFixed(1)} / 2t ${bwStart.wasm2.toFixed(1)}; end 1t ${bwEnd.wasm1.toFixed(1)} / 2t ${bwEnd.wasm2.toFixed(1)}; plain JS 1t ${bwStart.js1.toFixed(1)}`);
console.log(table(['dist', 'n', 'd', 'contender', 'ms/token', 'CPU ms', 'keys used/head', 'MB touched', 'GB/s', '% of bw', '× dense wasm', 'max err'],
  rows.map((r) => [r.dist, r.n, r.d, r.contender, r.ms, r.cpuMs, Math.round(r.usedPerHead), r.mbTouched, r.gbPerSecond,
    `${(100 * r.bandwidthShare).toFixed(0)}%`, r.speedupVsDenseWasm, r.maxError])));
console.log(table(['dist', 'n', 'd', 'oracle keys/head ε=1e-2', 'ε=1e-3'],
  oracle.map((o) => { const k = o['oracleKeysPerHead'] as Record<string, number>; return [o['dist'] as string, o['n'] as number, o['d'] as number, k['1e-2']!, k['1e-3']!]; })));
const exponents = fitExponents();
if (Object.keys(exponents).length > 0) console.log(table(['series', 'time ∝ n^x'], Object.entries(exponents).map(([k, x]) => [k, x])));
