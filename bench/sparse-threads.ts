/**
 * Sparse rows on one and two threads against dense on the same threads (DecodePool, the
 * relaxed-SIMD build where usable): per workload, dense 1t / 2t and sparse 1t / 2t, plus `KVCache`
 * with the same rows (one thread, the library's row path) — ms per decode step (all query heads),
 * medians of alternating rounds, ratios against dense of the same thread count from the same run.
 * `--mode relu` (default): exact sparse ReLU rows (`sparse: true`: each thread sweeps its key range
 * of the quantized index for the keys that can pass the ReLU threshold and folds only those), on
 * the real-relu dump; `--mode threshold` / `--mode paper`: softmax rows keeping the keys whose
 * scaled logit reaches `--threshold t` (default 3) / the paper's per-query threshold
 * (`sparse: { threshold }` / `'paper'`), on the real softmax dump.
 *
 *   npm run bench bench/sparse-threads.ts -- [--mode relu|threshold|paper] [--threshold 3] [--queries 8] [--rounds 7]
 *     [--llm 65536,262144] [--out bench/results/sparse-threads.json]
 */
import { loadavg } from 'node:os';
import { KVCache } from '../src/index.js';
import { DecodePool } from '../src/node/worker-pool.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { alternateRounds, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 7);
const LLM = (args.get('llm') ?? '65536').split(',').filter((x) => x !== '').map(Number);
const MODE = args.get('mode') ?? 'relu';
if (!['relu', 'threshold', 'paper'].includes(MODE)) throw new Error(`--mode: expected relu, threshold or paper, got ${MODE}`);
const THRESHOLD = Number(args.get('threshold') ?? 3);
const OUT = args.get('out') ?? `bench/results/sparse-threads${MODE === 'relu' ? '' : `-${MODE}`}.json`;
const softmax = MODE !== 'relu';
// The pool's and KVCache's spelling of the softmax rows' selection.
const selection = MODE === 'paper' ? 'paper' as const : { threshold: THRESHOLD };

const workloads: Workload[] = [];
const real = realWorkload(softmax ? 'real' : 'real-relu', R);
if (real) workloads.push(real); else console.log('real dump not found, skipped');
for (const n of LLM) workloads.push(syntheticWorkload('llm', n, 128, 8, 2, R));

const rows: Record<string, unknown>[] = [];
for (const w of workloads) {
  const scale = 1 / Math.sqrt(w.d);
  const weighting = softmax ? { kind: 'softmax', scale, bias: 0, alpha: 1 } as const : { kind: 'relu', scale, bias: w.relu.bias, alpha: w.relu.alpha } as const;
  const base = { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, initialCapacity: w.n };
  const pools: Record<string, DecodePool> = {};
  for (const threads of [1, 2]) {
    pools[`dense ${threads}t`] = await DecodePool.create({ ...base, threads });
    pools[`sparse ${threads}t`] = await DecodePool.create({ ...base, threads, sparse: softmax ? selection : true });
  }
  for (const p of Object.values(pools)) p.append(w.keys, w.values);
  const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv,
    ...(softmax ? { kind: 'softmax', scale, sparsity: selection } as const : { kind: 'relu', bias: w.relu.bias, alpha: w.relu.alpha } as const) });
  cache.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  let keysUsed = 0;
  const contenders: Record<string, () => void> = {};
  for (const [name, p] of Object.entries(pools)) contenders[name] = () => { for (const q of w.queries) p.attend(q, out); };
  contenders['KVCache sparse 1t'] = () => { keysUsed = 0; for (const q of w.queries) keysUsed += cache.attend(q).stats.keysUsed; };
  alternateRounds(contenders, 2);
  const ms = alternateRounds(contenders, ROUNDS);
  const label = w.name.startsWith('real') ? `${w.name} n=${w.n}` : `llm n=${w.n} d=${w.d}`;
  for (const [name, t] of Object.entries(ms)) {
    const threads = name.endsWith('2t') ? 2 : 1;
    const dense = ms[`dense ${threads}t`]!;
    rows.push({ workload: label, heads: w.heads, kvHeads: w.kvHeads, contender: name, threads, msPerStep: t / R, vsDenseSameThreads: dense / t,
      keysUsedPerHead: name.startsWith('dense') ? w.n : keysUsed / (R * w.heads) });
  }
  await Promise.all(Object.values(pools).map((p) => p.close()));
}
console.log(`mode ${MODE}${MODE === 'threshold' ? ` t = ${THRESHOLD}` : ''}; Node ${process.version}; medians of ${ROUNDS} alternating rounds, ${R} decode steps each; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(table(['workload', 'contender', 'ms/step', '× dense (same threads)', 'keys used/head'],
  rows.map((r) => [r['workload'] as string, r['contender'] as string, r['msPerStep'] as number, r['vsDenseSameThreads'] as number, r['keysUsedPerHead'] as number])));
writeJson(OUT, { mode: MODE, ...(MODE === 'threshold' ? { threshold: THRESHOLD } : {}), queries: R, rounds: ROUNDS, loadavg: loadavg(), rows });
