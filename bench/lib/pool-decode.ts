// DecodePool's dense decode step on one thread and on `threads`, the same code in Node and in a
// Chromium Web Worker (bench/browser-decode.ts). Modules are passed in, so that this file imports
// types only and the browser gets it through TypeScript's transpileModule.
import type * as Lib from '../../dist/index.js';
import type * as Random from '../../dist/report/random.js';
import type * as Timing from '../../dist/report/timing.js';

export interface PoolDecodeModules { DecodePool: typeof Lib.DecodePool; random: typeof Random; timing: typeof Timing }
export interface PoolDecodeRow { n: number; threads: number; fallback: string | null; msOne: number; msMany: number }

/** The explorer model's attention shape (bytelm-10m: 6 query heads over 2 KV heads of 64). */
const HEADS = 6, KV_HEADS = 2, D = 64, CALLS = 8;

/** Median ms per attend (over `rounds` alternating rounds of CALLS attends) at each length in `ns`. */
export async function poolDecode(m: PoolDecodeModules, ns: number[], threads: number, rounds: number): Promise<PoolDecodeRow[]> {
  const rows: PoolDecodeRow[] = [];
  const weighting: Lib.Weighting = { kind: 'softmax', scale: 1 / Math.sqrt(D), bias: 0, alpha: 1 };
  for (const n of ns) {
    const r = m.random.seededRandom(n);
    const keys = m.random.gaussianArray(r, n * KV_HEADS * D), values = m.random.gaussianArray(r, n * KV_HEADS * D);
    const q = m.random.gaussianArray(r, HEADS * D), out = new Float32Array(HEADS * D);
    const pools = await Promise.all([1, threads].map((t) => m.DecodePool.create({ heads: HEADS, kvHeads: KV_HEADS, headDim: D, weighting, threads: t, initialCapacity: n })));
    try {
      for (const p of pools) p.append(keys, values);
      const [one, many] = pools as [Lib.DecodePool, Lib.DecodePool];
      const run = (p: Lib.DecodePool) => () => { for (let i = 0; i < CALLS; i++) p.attend(q, out); };
      const ms = m.timing.alternateRounds({ one: run(one), many: run(many) }, rounds);
      rows.push({ n, threads: many.threads, fallback: many.fallback, msOne: ms['one']! / CALLS, msMany: ms['many']! / CALLS });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  }
  return rows;
}
