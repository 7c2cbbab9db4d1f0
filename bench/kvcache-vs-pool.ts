/**
 * `KVCache`'s sparse rows against the same rows in `DecodePool` on one thread and against dense on
 * one thread (a dense `DecodePool`: `DenseDecoder`, the relaxed-SIMD build where usable): where does the
 * library's one-thread row path lose to the pool's? Per workload and mode, ms per decode step (all
 * query heads) of CPU time, medians of alternating rounds (each round: every query once per
 * contender, the order rotating), ratios against dense from the same run, keys used per head.
 * Modes: `certified` (ε = 1e-2 on the real dump, 1e-3 on LLM-like keys), `relu` (exact sparse
 * ReLU², the real ReLU dump), `paper`.
 * `--profile NAME` runs only that contender (`dense`, `pool`, `kv`) for `--steps` decode steps, for
 * `node --cpu-prof`.
 *
 *   npm run bench bench/kvcache-vs-pool.ts -- [--mode certified|relu|paper] [--queries 8] [--rounds 41]
 *     [--real 1] [--llm 65536] [--shared-dense 0] [--out FILE] [--profile kv --steps 2000]
 */
import { loadavg } from 'node:os';
import { KVCache } from '../src/index.js';
import { DecodePool } from '../src/node/worker-pool.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { median, table, writeJson } from './lib/measure.js';

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 41);
const LLM = (args.get('llm') ?? '65536').split(',').filter((x) => x !== '').map(Number);
const MODE = args.get('mode') ?? 'certified';
if (!['certified', 'relu', 'paper'].includes(MODE)) throw new Error(`--mode: expected certified, relu or paper, got ${MODE}`);
const PROFILE = args.get('profile');
const STEPS = Number(args.get('steps') ?? 2000);
const WARM = Number(args.get('warm') ?? 2);
const OUT = args.get('out') ?? `bench/results/kvcache-vs-pool-${MODE}.json`;
/** `--shared-dense 1`: time the pool's own DenseDecoder as dense (the arrays the pool's rows read) — the biased setup this bench avoids. */
const SHARED_DENSE = args.get('shared-dense') === '1';
const softmax = MODE !== 'relu';

const workloads: Workload[] = [];
if ((args.get('real') ?? '1') === '1') {
  const real = realWorkload(softmax ? 'real' : 'real-relu', R);
  if (real) workloads.push(real); else console.log('real dump not found, skipped');
}
for (const n of LLM) workloads.push(syntheticWorkload('llm', n, 128, 8, 2, R));

const rows: Record<string, unknown>[] = [];
const loads = [loadavg()];
for (const w of workloads) {
  const scale = 1 / Math.sqrt(w.d), epsilon = w.name === 'real' ? 1e-2 : 1e-3;
  const weighting = softmax ? { kind: 'softmax', scale, bias: 0, alpha: 1 } as const : { kind: 'relu', scale, bias: w.relu.bias, alpha: w.relu.alpha } as const;
  const base = { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, initialCapacity: w.n, threads: 1 };
  const sparse = MODE === 'certified' ? { epsilon } : MODE === 'paper' ? 'paper' as const : true;
  // Every contender keeps its own copy of the cache: one that shares its arrays with the dense
  // baseline would find them warm in the last-level cache after every dense step (20–25 % faster).
  const pool = await DecodePool.create({ ...base, sparse }), dense = await DecodePool.create(base);
  pool.append(w.keys, w.values);
  dense.append(w.keys, w.values);
  const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv,
    ...(softmax ? { kind: 'softmax', scale, sparsity: MODE === 'certified' ? { epsilon } : 'paper' } as const
      : { kind: 'relu', bias: w.relu.bias, alpha: w.relu.alpha } as const) });
  cache.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  let kvKeys = 0, poolKeys = 0;
  const poolUsed = (): number => {
    const c = pool.lastCertified?.keysUsed ?? pool.lastKeysUsed;
    return c ? c.reduce((s, x) => s + x, 0) : NaN;
  };
  const contenders: Record<string, () => void> = {
    dense: SHARED_DENSE ? () => { for (const q of w.queries) pool.decoder.attend(q, out); } : () => { for (const q of w.queries) dense.attend(q, out); },
    pool: () => { poolKeys = 0; for (const q of w.queries) { pool.attend(q, out); poolKeys += poolUsed(); } },
    kv: () => { kvKeys = 0; for (const q of w.queries) kvKeys += cache.attend(q).stats.keysUsed; },
  };
  if (PROFILE !== undefined) {
    const f = contenders[PROFILE];
    if (!f) throw new Error(`--profile: expected dense, pool or kv, got ${PROFILE}`);
    const t0 = performance.now();
    for (let s = 0; s < STEPS; s += R) f();
    console.log(`${w.name} n=${w.n} ${MODE} ${PROFILE}: ${((performance.now() - t0) / STEPS).toFixed(3)} ms/step`);
    await Promise.all([pool.close(), dense.close()]);
    continue;
  }
  // Per-round CPU time (process.cpuUsage: on this shared machine it is inflated far less than wall
  // time by other processes), contenders alternating, the order rotating every round.
  const names = Object.keys(contenders), samples: Record<string, number[]> = Object.fromEntries(names.map((nm) => [nm, []]));
  for (let r = -WARM; r < ROUNDS; r++) {
    for (let c = 0; c < names.length; c++) {
      const nm = names[(c + r + WARM) % names.length]!, t0 = cpuMs();
      contenders[nm]!();
      if (r >= 0) samples[nm]!.push(cpuMs() - t0);
    }
  }
  const ms = Object.fromEntries(names.map((nm) => [nm, median(samples[nm]!)]));
  const label = `${w.name} n=${w.n} d=${w.d} ${w.heads}/${w.kvHeads}${MODE === 'certified' ? ` ε=${epsilon}` : ''}`;
  for (const [name, t] of Object.entries(ms)) {
    rows.push({ workload: label, mode: MODE, contender: name, msPerStep: t / R, vsDense: ms.dense! / t,
      keysUsedPerHead: name === 'dense' ? w.n : (name === 'kv' ? kvKeys : poolKeys) / (R * w.heads) });
  }
  loads.push(loadavg());
  await Promise.all([pool.close(), dense.close()]);
}
if (PROFILE === undefined) {
  console.log(`mode ${MODE}; Node ${process.version}; one thread; CPU time, medians of ${ROUNDS} alternating rounds, ${R} decode steps each; load ${loads.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' → ')}`);
  console.log(table(['workload', 'contender', 'ms/step', '× dense', 'keys used/head'],
    rows.map((r) => [r['workload'] as string, r['contender'] as string, r['msPerStep'] as number, r['vsDense'] as number, r['keysUsedPerHead'] as number])));
  writeJson(OUT, { mode: MODE, queries: R, rounds: ROUNDS, sharedDense: SHARED_DENSE, loadAverages: loads, rows });
}
