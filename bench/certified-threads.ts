/**
 * Certified softmax rows on one and two threads (DecodePool({ sparse: { epsilon } }): each thread
 * bounds its key range, one ε budget for the row) against dense on the same threads (DecodePool
 * dense, the relaxed-SIMD build where usable; dense 1t is the certified pool's own DenseDecoder on
 * the same memory), `KVCache` certified (one thread, the library's row path) and onnxruntime-node
 * dense (1 and 2 intra-op threads). Every query is timed on its own, contenders alternating per
 * query within each round, so besides medians of ms per decode step (all query heads) the spread
 * over queries is reported: per query the median over rounds, then the median and p90 over queries
 * of the time and of the ratio against dense of the same thread count. Also per query: keys
 * folded per head (mean), the oracle minimum (n ≤ 65536) and the certified pool's time per phase
 * (bounds / plan / folds).
 *
 *   npm run bench bench/certified-threads.ts -- [--queries 8] [--rounds 5] [--real 1] [--llm 65536,262144]
 *     [--kv 1] [--onnx 1] [--one-thread 1] [--out bench/results/certified-threads.json]
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { KVCache } from '../src/index.js';
import { DecodePool } from '../src/node/worker-pool.js';
import { createOrtDecoder } from '../src/node/onnx-attention.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 5);
const LLM = (args.get('llm') ?? '65536').split(',').filter((x) => x !== '').map(Number);
const flag = (name: string, def: string) => (args.get(name) ?? def) === '1';
const OUT = args.get('out') ?? 'bench/results/certified-threads.json';

function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/**
 * The oracle minimum: per head, the fewest keys whose exact softmax mass reaches 1 − ε (float64,
 * keys by decreasing logit), the mean over heads — what any certified selection must take at least.
 */
function oracleKeys(w: Workload, q: Float32Array, epsilon: number): number {
  const { n, d, heads, kvHeads } = w, group = heads / kvHeads, scale = 1 / Math.sqrt(d), s = new Float64Array(n);
  let total = 0;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[h * d + c]! * w.keys[(i * kvHeads + g) * d + c]!;
      s[i] = dot * scale;
    }
    s.sort().reverse();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(s[i]! - s[0]!);
    let acc = 0, k = 0;
    while (acc < (1 - epsilon) * sum) acc += Math.exp(s[k++]! - s[0]!);
    total += k;
  }
  return total / heads;
}

const workloads: (() => Workload | null)[] = [];
if (flag('real', '1')) workloads.push(() => realWorkload('real', R));
for (const n of LLM) workloads.push(() => syntheticWorkload('llm', n, 128, 8, 2, R));

const rows: Record<string, unknown>[] = [];
const loads: number[][] = [loadavg()];
for (const make of workloads) {
  const w = make();
  if (w === null) { console.log('real dump not found, skipped'); continue; }
  const epsilon = w.name === 'real' ? 1e-2 : 1e-3;
  const weighting = { kind: 'softmax', scale: 1 / Math.sqrt(w.d), bias: 0, alpha: 1 } as const;
  const base = { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, initialCapacity: w.n };
  const memBefore = process.memoryUsage().rss;
  const cert2 = await DecodePool.create({ ...base, threads: 2, sparse: { epsilon } });
  const dense2 = await DecodePool.create({ ...base, threads: 2 });
  const cert1 = flag('one-thread', '1') ? await DecodePool.create({ ...base, threads: 1, sparse: { epsilon } }) : null;
  const pools = [cert2, dense2, ...(cert1 ? [cert1] : [])];
  for (const p of pools) p.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  const keysUsed: Record<string, number[]> = {}, phases: Record<string, number[][]> = {};
  const used = (name: string, i: number, v: number) => { (keysUsed[name] ??= new Array<number>(R).fill(0))[i] = v; };
  const mean = (a: Float64Array) => a.reduce((s, x) => s + x, 0) / a.length;
  const contenders: Record<string, (q: Float32Array, i: number) => unknown> = {
    'dense 1t': (q) => cert2.decoder.attend(q, out),
    'dense 2t': (q) => dense2.attend(q, out),
  };
  const certified = (name: string, pool: DecodePool) => (q: Float32Array, i: number) => {
    pool.attend(q, out);
    const c = pool.lastCertified!;
    used(name, i, mean(c.keysUsed));
    (phases[name] ??= [])[i] = [c.work.boundsMs, c.work.planMs, c.work.foldMs, c.work.rounds];
  };
  contenders['certified 2t'] = certified('certified 2t', cert2);
  if (cert1) contenders['certified 1t'] = certified('certified 1t', cert1);
  if (flag('kv', '1')) {
    const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kind: 'softmax', sparsity: { epsilon } });
    cache.append(w.keys, w.values);
    contenders['KVCache certified 1t'] = (q, i) => used('KVCache certified 1t', i, cache.attend(q).stats.keysUsed / w.heads);
  }
  if (flag('onnx', '1')) {
    for (const threads of [1, 2]) {
      const ort = await createOrtDecoder(w.keyHeads, w.valueHeads, w.n, w.heads / w.kvHeads, w.d, w.dv, weighting.scale, threads);
      if (ort !== null) contenders[`onnxruntime ${threads}t`] = (q) => ort.run(q);
    }
  }
  const memMiB = (process.memoryUsage().rss - memBefore) / 2 ** 20;
  // What the two-thread certified pool holds in its WebAssembly memory (K/V, indexes, bounds, scratch).
  const heapGiB = ((cert2.decoder.kernels as { heap?: { used: number } }).heap?.used ?? NaN) / 2 ** 30;
  const oracle = w.n <= 65536 ? w.queries.map((q) => oracleKeys(w, q, epsilon)) : null;
  const names = Object.keys(contenders);
  const times: Record<string, number[][]> = Object.fromEntries(names.map((nm) => [nm, Array.from({ length: R }, () => [])]));
  for (let round = -1; round < ROUNDS; round++) { // round −1: warm-up, not recorded
    for (let i = 0; i < R; i++) {
      for (let c = 0; c < names.length; c++) {
        const nm = names[(c + i + round + 1) % names.length]!;
        const t0 = performance.now();
        await contenders[nm]!(w.queries[i]!, i);
        const t = performance.now() - t0;
        if (round >= 0) times[nm]![i]!.push(t);
      }
    }
  }
  loads.push(loadavg());
  const perQuery = Object.fromEntries(names.map((nm) => [nm, times[nm]!.map((ts) => median(ts))]));
  const label = w.name === 'real' ? `real n=${w.n} d=${w.d} ${w.heads}/${w.kvHeads} ε=${epsilon}` : `llm n=${w.n} d=${w.d} ${w.heads}/${w.kvHeads} ε=${epsilon}`;
  for (const nm of names) {
    const threads = nm.endsWith('2t') ? 2 : 1;
    const dense = perQuery[`dense ${threads}t`]!, mine = perQuery[nm]!;
    const speed = mine.map((t, i) => dense[i]! / t);
    rows.push({
      workload: label, n: w.n, contender: nm, threads,
      msMedian: median(mine), msP90: quantile(mine, 0.9),
      vsDenseMedian: median(dense) / median(mine), speedupPerQueryMedian: median(speed), speedupPerQueryP10: quantile(speed, 0.1),
      speedupPerQueryMin: Math.min(...speed), speedupPerQueryMax: Math.max(...speed),
      keysUsedPerHead: keysUsed[nm] ? median(keysUsed[nm]!) : null,
      keysUsedPerHeadP90: keysUsed[nm] ? quantile(keysUsed[nm]!, 0.9) : null,
      perQueryMs: mine, perQueryKeys: keysUsed[nm] ?? null,
      ...(oracle && keysUsed[nm] ? { oracleKeysPerHead: median(oracle), keysOverOracle: keysUsed[nm]!.reduce((a, b) => a + b, 0) / oracle.reduce((a, b) => a + b, 0) } : {}),
      ...(phases[nm] ? { phasesMsMedian: { bounds: median(phases[nm]!.map((p) => p[0]!)), plan: median(phases[nm]!.map((p) => p[1]!)), folds: median(phases[nm]!.map((p) => p[2]!)) },
        foldRoundsMax: Math.max(...phases[nm]!.map((p) => p[3]!)) } : {}),
      memoryMiB: memMiB, certifiedPoolHeapGiB: heapGiB,
    });
  }
  await Promise.all(pools.map((p) => p.close()));
}
console.log(`Node ${process.version}; per query: median of ${ROUNDS} alternating rounds; then median / p90 over ${R} queries; load ${loads.map((l) => l.map((x) => x.toFixed(1)).join(' ')).join(' → ')}`);
console.log(table(['workload', 'contender', 'ms median', 'ms p90', '× dense (medians)', 'speed-up/query median', 'p10', 'min', 'max', 'keys/head', 'keys p90'],
  rows.map((r) => [r['workload'] as string, r['contender'] as string, r['msMedian'] as number, r['msP90'] as number, r['vsDenseMedian'] as number,
    r['speedupPerQueryMedian'] as number, r['speedupPerQueryP10'] as number, r['speedupPerQueryMin'] as number, r['speedupPerQueryMax'] as number,
    (r['keysUsedPerHead'] as number | null) ?? '', (r['keysUsedPerHeadP90'] as number | null) ?? ''])));
for (const r of rows) if (r['keysOverOracle']) console.log(r['workload'], r['contender'], `keys used ÷ oracle minimum (sums over queries): ${(r['keysOverOracle'] as number).toFixed(2)} (oracle median ${(r['oracleKeysPerHead'] as number).toFixed(0)}/head)`);
for (const r of rows) if (r['phasesMsMedian']) console.log(r['workload'], r['contender'], 'phases (ms, median):', JSON.stringify(r['phasesMsMedian']), 'fold rounds max', r['foldRoundsMax'], `memory +${(r['memoryMiB'] as number).toFixed(0)} MiB, certified pool heap ${(r['certifiedPoolHeapGiB'] as number).toFixed(2)} GiB`);
// Peak resident memory of the whole run (Linux), workloads and baselines included.
const status = existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '';
const peakRssMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
console.log(`peak resident memory of the run: ${peakRssMiB.toFixed(0)} MiB`);
writeJson(OUT, { queries: R, rounds: ROUNDS, loadAverages: loads, peakRssMiB, rows });
