/**
 * Certified softmax on flat keys — where every row must be computed densely — against dense on the
 * same backend and one thread: `DenseDecoder` (the fastest dense path), `KVCache` dense and
 * `KVCache` certified ε = 1e-2, Gaussian keys (8 query heads over 2 KV heads, d = 64). Alternating
 * rounds of `--steps` decode steps per contender, per-step CPU time (process.cpuUsage: a loaded
 * machine inflates it less than wall time), medians; warm-up steps first (`--warm`, default 300,
 * so the certified cache's flat back-off has reached its 64-step retry interval; `--warm 5` shows
 * the first steps instead).
 *
 *   npm run bench bench/flat-fallback.ts -- [--n 8192,32768] [--rounds 21] [--steps 10] [--warm 300] [--out FILE]
 */
import { loadavg } from 'node:os';
import { KVCache } from '../src/index.js';
import { DenseDecoder } from '../src/kernels/dense-decode.js';
import { createKernels } from '../src/kernels/index.js';
import { syntheticWorkload } from '../src/report/workloads.js';
import { median, table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const NS = (args.get('n') ?? '8192,32768').split(',').map(Number);
const ROUNDS = Number(args.get('rounds') ?? 21), STEPS = Number(args.get('steps') ?? 10), WARM = Number(args.get('warm') ?? 300);
const OUT = args.get('out');

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const rows: (string | number)[][] = [], results: Record<string, unknown>[] = [];
const loadBefore = loadavg()[0]!;
for (const n of NS) {
  const w = syntheticWorkload('gaussian', n, 64, 8, 2, 16);
  const dec = new DenseDecoder({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kernels: createKernels({ backend: 'wasm' }),
    initialCapacity: w.n, weighting: { kind: 'softmax', scale: 1 / Math.sqrt(w.d), bias: 0, alpha: 1 } });
  dec.append(w.keys, w.values);
  const cache = (sparsity: 'dense' | { epsilon: number }) => {
    const c = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, kind: 'softmax', sparsity });
    c.append(w.keys, w.values);
    return c;
  };
  const dense = cache('dense'), certified = cache({ epsilon: 1e-2 });
  const out = new Float32Array(w.heads * w.dv);
  let q = 0, denseRows = 0, rowsSeen = 0;
  const next = () => w.queries[q++ % w.queries.length]!;
  const contenders: Record<string, () => void> = {
    DenseDecoder: () => dec.attend(next(), out),
    'KVCache dense': () => { dense.attend(next()); },
    'certified ε=1e-2': () => { const s = certified.attend(next()).stats; denseRows += s.denseQueries ?? 0; rowsSeen += w.heads; },
  };
  for (const f of Object.values(contenders)) for (let i = 0; i < WARM; i++) f();
  denseRows = rowsSeen = 0;
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, f] of Object.entries(contenders)) {
      const t0 = cpuMs();
      for (let i = 0; i < STEPS; i++) f();
      samples[name]!.push((cpuMs() - t0) / STEPS);
    }
  }
  const base = median(samples.DenseDecoder!);
  for (const [name, s] of Object.entries(samples)) {
    const ms = median(s);
    rows.push([n, name, ms.toFixed(3), (base / ms).toFixed(3), name.startsWith('certified') ? `${(100 * denseRows / rowsSeen).toFixed(0)} %` : '']);
    results.push({ n, contender: name, msPerStep: ms, speedVsDenseDecoder: base / ms, ...(name.startsWith('certified') ? { denseRowFraction: denseRows / rowsSeen } : {}) });
  }
}
const loadAfter = loadavg()[0]!;
console.log(table(['n', 'contender', 'CPU ms/step', '× DenseDecoder speed', 'rows dense'], rows));
console.log(`load average (1 min) ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}; ${process.version}`);
if (OUT) writeJson(OUT, { rounds: ROUNDS, steps: STEPS, warm: WARM, loadBefore, loadAfter, results });
