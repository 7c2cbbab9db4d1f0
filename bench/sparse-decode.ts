/**
 * Sparse decode vs our dense WebAssembly decode on the real dumps (issue 4's goals), measured in
 * one run with alternating rounds: DenseDecoder (wasm-simd, Flash-Decoding) against KVCache.attend
 * in its sparse modes, per-step medians, ratios, keys used and (softmax) the oracle minimum — the
 * fewest keys whose exact mass reaches 1 − ε. Also times the index pass alone (scoreBoundsBatch /
 * queryBatch) so the table says where a sparse step's time goes.
 *
 *   node --import tsx bench/sparse-decode.ts [--queries 16] [--rounds 7] [--llm 65536] [--out bench/results/sparse-decode.json]
 *
 * A "step" is one decode position: every query head (6 over 2 KV heads) against all n = 8192 keys.
 * --llm n adds the LLM-like synthetic keys (bench/lib/keys.ts) at that n, d = 64, same heads.
 * --before DIR adds, in the same alternating rounds, the sparse modes of an older checkout's KVCache
 * (DIR/src/index.js), e.g. `mkdir /tmp/before && git archive 04ff3e1 src | tar -x -C /tmp/before`.
 */
import { HalfSpaceIndex, KVCache, matrix, type AttentionOptions } from '../src/index.js';
import { DenseDecoder } from '../src/kernels/dense-decode.js';
import { createKernels } from '../src/kernels/index.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { alternateRounds, table, writeJson } from './lib/measure.js';
import { exactWeights, oracleMinimum, sortedDescending } from './softmax-lib.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 16);
const ROUNDS = Number(args.get('rounds') ?? 7);
const OUT = args.get('out') ?? 'bench/results/sparse-decode.json';
const LLM = args.has('llm') ? Number(args.get('llm')) : 0;
const BEFORE = args.get('before');
const Before = BEFORE ? ((await import(`${BEFORE}/src/index.js`)) as { KVCache: typeof KVCache }).KVCache : null;

interface Row { workload: string; mode: string; msPerStep: number; vsDense: number; keysUsedPerHead: number; oracleMinPerHead?: number; maxErrorBound?: number }

function denseDecoder(w: Workload, kind: 'softmax' | 'relu'): DenseDecoder {
  const dec = new DenseDecoder({
    heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kernels: createKernels({ backend: 'wasm' }), initialCapacity: w.n,
    weighting: { kind, scale: 1 / Math.sqrt(w.d), bias: kind === 'relu' ? w.relu.bias : 0, alpha: kind === 'relu' ? w.relu.alpha : 1 },
  });
  dec.append(w.keys, w.values);
  return dec;
}

function cache(w: Workload, options: Omit<AttentionOptions, 'causal'>, Impl: typeof KVCache = KVCache): KVCache {
  const c = new Impl({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, ...options });
  c.append(w.keys, w.values);
  return c;
}

/** Mean over queries and heads of the oracle minimum for ε (exact float64 weights, sorted). */
function oracleMin(w: Workload, eps: number): number {
  const group = w.heads / w.kvHeads, counts: number[] = [];
  for (const q of w.queries) for (let h = 0; h < w.heads; h++) {
    const g = Math.floor(h / group);
    const weights = exactWeights(q.subarray(h * w.d, (h + 1) * w.d), w.keyHeads[g]!, w.n, w.d, 1 / Math.sqrt(w.d));
    counts.push(oracleMinimum(sortedDescending(weights), eps));
  }
  return counts.reduce((a, b) => a + b, 0) / counts.length;
}

const rows: Row[] = [];
const timings: Record<string, Record<string, number>> = {};
const workloads: ['softmax' | 'relu', string][] = [['softmax', 'real'], ['relu', 'real-relu']];
if (LLM > 0) workloads.push(['softmax', 'llm'], ['relu', 'llm']);
for (const [kind, name] of workloads) {
  const w = name === 'llm' ? syntheticWorkload('llm', LLM, 64, 6, 2, R) : realWorkload(name as 'real' | 'real-relu', R);
  if (!w) { console.log(`${name}: dump not found, skipped`); continue; }
  const dec = denseDecoder(w, kind);
  const out = new Float32Array(w.heads * w.dv);
  const modes: Record<string, Omit<AttentionOptions, 'causal'>> = kind === 'softmax'
    ? {
      'certified ε=1e-2': { kind: 'softmax', sparsity: { epsilon: 1e-2 } }, 'certified ε=1e-3': { kind: 'softmax', sparsity: { epsilon: 1e-3 } },
      'top-k 256': { kind: 'softmax', sparsity: { topK: 256 } },
    }
    : { 'exact sparse ReLU': { kind: 'relu', bias: w.relu.bias, alpha: w.relu.alpha } };
  const caches = Object.fromEntries(Object.entries(modes).map(([m, o]) => [m, cache(w, o)]));
  if (Before) for (const [m, o] of Object.entries(modes)) caches[`${m} (before)`] = cache(w, o, Before);
  const used: Record<string, number> = {}, bounds: Record<string, number> = {};
  const contenders: Record<string, () => void> = { dense: () => { for (const q of w.queries) dec.attend(q, out); } };
  for (const [m, c] of Object.entries(caches)) {
    contenders[m] = () => {
      let u = 0, b = 0;
      for (const q of w.queries) {
        const r = c.attend(q);
        u += r.stats.keysUsed;
        if (r.stats.errorBound) for (const x of r.stats.errorBound) b = Math.max(b, x);
      }
      used[m] = u / (R * w.heads); bounds[m] = b;
    };
  }
  // The index pass alone (what every sparse step pays before touching a key): per KV head one
  // batched sweep for its 3 query heads — bounds for softmax, the ReLU half-space query for ReLU.
  const group = w.heads / w.kvHeads, scale = 1 / Math.sqrt(w.d);
  const indexes = w.keyHeads.map((k) => HalfSpaceIndex.build(matrix(k, w.n, w.d), { kind: 'quantized' }).reporter);
  const up = Array.from({ length: group }, () => new Float64Array(w.n)), lo = Array.from({ length: group }, () => new Float64Array(w.n));
  const offsets = new Array<number>(group).fill(w.relu.bias / scale);
  contenders['index pass only'] = () => {
    for (const q of w.queries) for (let g = 0; g < w.kvHeads; g++) {
      const qs = Array.from({ length: group }, (_, i) => q.subarray((g * group + i) * w.d, (g * group + i + 1) * w.d));
      if (kind === 'softmax') indexes[g]!.scoreBoundsBatch(qs, up, lo, w.n);
      else indexes[g]!.queryBatch(qs, offsets, w.n);
    }
  };
  const t = alternateRounds(contenders, ROUNDS);
  timings[`${name} ${kind}`] = t;
  const dense = t.dense! / R;
  const label = name === 'llm' ? `llm n=${w.n}` : name;
  rows.push({ workload: label, mode: `dense WASM (DenseDecoder, ${kind})`, msPerStep: dense, vsDense: 1, keysUsedPerHead: w.n });
  for (const m of Object.keys(caches)) {
    const eps = /ε=([0-9e.-]+)/.exec(m)?.[1];
    const row: Row = { workload: label, mode: m, msPerStep: t[m]! / R, vsDense: dense / (t[m]! / R), keysUsedPerHead: used[m]! };
    if (eps) { row.oracleMinPerHead = oracleMin(w, Number(eps)); row.maxErrorBound = bounds[m]; }
    rows.push(row);
  }
  rows.push({ workload: label, mode: `index pass only (quantized ${kind === 'softmax' ? 'bounds' : 'ReLU query'})`, msPerStep: t['index pass only']! / R,
    vsDense: dense / (t['index pass only']! / R), keysUsedPerHead: 0 });
}

console.log(table(['workload', 'mode', 'ms/step', 'speed-up vs dense', 'keys used/head', 'oracle min/head', 'max δ'],
  rows.map((r) => [r.workload, r.mode, r.msPerStep, r.vsDense, r.keysUsedPerHead, r.oracleMinPerHead ?? '', r.maxErrorBound ?? ''])));
writeJson(OUT, { queries: R, rounds: ROUNDS, rows, timingsMsPerRound: timings });
