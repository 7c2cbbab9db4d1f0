/**
 * Dense KVCache decode (`sparsity: 'dense'` softmax) against the library's DenseDecoder on the
 * same keys, values and queries: alternating rounds, median ms per decode step (all heads).
 *
 *   node --import tsx bench/kvcache-dense.ts [--queries 8] [--rounds 7] [--llm 65536]
 *     [--before <dir with an older src/>] [--out bench/results/kvcache-dense.json]
 */
import { KVCache } from '../src/index.js';
import { DenseDecoder } from '../src/kernels/dense-decode.js';
import { createWasmKernels } from '../src/kernels/wasm/wasm-kernels.js';
import { realWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { alternateRounds, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const R = Number(args.get('queries') ?? 8);
const ROUNDS = Number(args.get('rounds') ?? 7);
const LLM = Number(args.get('llm') ?? 65536);
const OUT = args.get('out') ?? 'bench/results/kvcache-dense.json';
const BEFORE = args.get('before');
const Before = BEFORE ? ((await import(`${BEFORE}/src/index.js`)) as { KVCache: typeof KVCache }).KVCache : null;

function cache(w: Workload, Impl: typeof KVCache): KVCache {
  const c = new Impl({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kind: 'softmax', sparsity: 'dense' });
  c.append(w.keys, w.values);
  return c;
}

const rows: (string | number)[][] = [];
const results: Record<string, unknown>[] = [];
const workloads = [realWorkload('real', R), LLM > 0 ? syntheticWorkload('llm', LLM, 64, 6, 2, R) : null];
for (const w of workloads) {
  if (!w) continue;
  const dec = new DenseDecoder({
    heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kernels: createWasmKernels(), initialCapacity: w.n,
    weighting: { kind: 'softmax', scale: 1 / Math.sqrt(w.d), bias: 0, alpha: 1 },
  });
  dec.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  const caches: Record<string, KVCache> = { 'KVCache dense': cache(w, KVCache) };
  if (Before) caches['KVCache dense (before)'] = cache(w, Before);
  const contenders: Record<string, () => void> = { DenseDecoder: () => { for (const q of w.queries) dec.attend(q, out); } };
  for (const [m, c] of Object.entries(caches)) contenders[m] = () => { for (const q of w.queries) c.attend(q); };
  const ms = alternateRounds(contenders, ROUNDS);
  const label = `${w.name} n=${w.n} (${w.heads}/${w.kvHeads} heads, d=${w.d})`;
  for (const [m, t] of Object.entries(ms)) {
    const perStep = t / w.queries.length;
    rows.push([label, m, perStep, perStep / (ms.DenseDecoder! / w.queries.length)]);
    results.push({ workload: w.name, n: w.n, contender: m, msPerStep: perStep, vsDenseDecoder: t / ms.DenseDecoder! });
  }
}
console.log(table(['workload', 'contender', 'ms/step', '× DenseDecoder'], rows));
writeJson(OUT, { queries: R, rounds: ROUNDS, rows: results });
