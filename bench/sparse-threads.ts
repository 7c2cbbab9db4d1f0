/**
 * Sparse ReLU rows on one and two threads against dense on the same threads (DecodePool, the
 * relaxed-SIMD build where usable): per workload, dense 1t / 2t and sparse 1t / 2t
 * (`DecodePool({ sparse: true })`: each thread sweeps its key range of the quantized index for
 * the keys that can pass the ReLU threshold and folds only those), plus `KVCache` exact sparse
 * ReLU (one thread, the library's row path) — ms per decode step (all query heads), medians of
 * alternating rounds, ratios against dense of the same thread count from the same run.
 *
 *   npm run bench bench/sparse-threads.ts -- [--queries 8] [--rounds 7] [--llm 65536,262144] [--out bench/results/sparse-threads.json]
 */
import { KVCache } from '../src/index.js';
import { DecodePool } from '../src/node/worker-pool.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { alternateRounds, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 7);
const LLM = (args.get('llm') ?? '65536').split(',').filter((x) => x !== '').map(Number);
const OUT = args.get('out') ?? 'bench/results/sparse-threads.json';

const workloads: Workload[] = [];
const real = realWorkload('real-relu', R);
if (real) workloads.push(real); else console.log('real-relu dump not found, skipped');
for (const n of LLM) workloads.push(syntheticWorkload('llm', n, 128, 8, 2, R));

const rows: Record<string, unknown>[] = [];
for (const w of workloads) {
  const weighting = { kind: 'relu', scale: 1 / Math.sqrt(w.d), bias: w.relu.bias, alpha: w.relu.alpha } as const;
  const base = { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, initialCapacity: w.n };
  const pools: Record<string, DecodePool> = {};
  for (const threads of [1, 2]) {
    pools[`dense ${threads}t`] = await DecodePool.create({ ...base, threads });
    pools[`sparse ${threads}t`] = await DecodePool.create({ ...base, threads, sparse: true });
  }
  for (const p of Object.values(pools)) p.append(w.keys, w.values);
  const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kind: 'relu', bias: w.relu.bias, alpha: w.relu.alpha });
  cache.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  let keysUsed = 0;
  const contenders: Record<string, () => void> = {};
  for (const [name, p] of Object.entries(pools)) contenders[name] = () => { for (const q of w.queries) p.attend(q, out); };
  contenders['KVCache sparse 1t'] = () => { keysUsed = 0; for (const q of w.queries) keysUsed += cache.attend(q).stats.keysUsed; };
  alternateRounds(contenders, 2);
  const ms = alternateRounds(contenders, ROUNDS);
  const label = w.name === 'real-relu' ? `real-relu n=${w.n}` : `llm n=${w.n} d=${w.d}`;
  for (const [name, t] of Object.entries(ms)) {
    const threads = name.endsWith('2t') ? 2 : 1;
    const dense = ms[`dense ${threads}t`]!;
    rows.push({ workload: label, heads: w.heads, kvHeads: w.kvHeads, contender: name, threads, msPerStep: t / R, vsDenseSameThreads: dense / t,
      keysUsedPerHead: name.startsWith('dense') ? w.n : keysUsed / (R * w.heads) });
  }
  await Promise.all(Object.values(pools).map((p) => p.close()));
}
console.log(`Node ${process.version}; medians of ${ROUNDS} alternating rounds, ${R} decode steps each`);
console.log(table(['workload', 'contender', 'ms/step', '× dense (same threads)', 'keys used/head'],
  rows.map((r) => [r['workload'] as string, r['contender'] as string, r['msPerStep'] as number, r['vsDenseSameThreads'] as number, r['keysUsedPerHead'] as number])));
writeJson(OUT, { queries: R, rounds: ROUNDS, rows });
