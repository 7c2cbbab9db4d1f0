/**
 * Would a prefill tile attend the union of its rows' kept keys faster than each row its own? For
 * certified ε rows of causal prefill over the real dump (each row selected on its own, exactly as
 * attention() selects it), per tile of T consecutive rows: the kept keys per row, the union over
 * the tile, and two timings of the fold — every row gathering its own kept keys (`attendIds`, what
 * attention() does) against all T rows streaming |union| contiguous keys at once (`attendRange`,
 * a lower bound on any union kernel: a real one would gather the union and mask per row). The
 * union pays only where T·|union| costs less than Σ|kept| gathered.
 *
 *   node --import tsx bench/prefill-union.ts [--n 8192] [--heads 0,3] [--tiles 4,16] [--epsilon 1e-2] [--out bench/results/prefill-union.json]
 */
import { loadavg } from 'node:os';
import { resolveAttentionOptions } from '../src/attention/options.js';
import { maxRowNorm, residentKernels } from '../src/attention/kernel-rows.js';
import { visibleKeys } from '../src/attention/reference.js';
import { RowAttention } from '../src/attention/row-attention.js';
import { HalfSpaceIndex } from '../src/hsr/half-space-index.js';
import { createKernels } from '../src/kernels/index.js';
import { initStates } from '../src/kernels/state.js';
import { STATE_EXTRA } from '../src/kernels/types.js';
import { realWorkload } from './lib/keys.js';
import { table, writeJson } from './lib/measure.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const list = (name: string, def: string) => (args.get(name) ?? def).split(',').filter((x) => x !== '').map(Number);
const N = Number(args.get('n') ?? 8192), EPS = Number(args.get('epsilon') ?? 1e-2);
const HEADS = list('heads', '0,3'), TILES = list('tiles', '4,16');
const OUT = args.get('out') ?? 'bench/results/prefill-union.json';

const w = realWorkload('real', N);
if (w === null) { console.error('real dump not found'); process.exit(0); }
const n = Math.min(N, w.n), d = w.d, dv = w.dv, group = w.heads / w.kvHeads;
const o = resolveAttentionOptions({ kind: 'softmax', causal: true, sparsity: { epsilon: EPS } }, d, 'bench');
const rows: { head: number; tile: number; keptFrac: number; unionOverKept: number; gatherMs: number; unionStreamMs: number; unionWins: boolean }[] = [];
const loadStart = loadavg();

for (const h of HEADS) {
  const g = Math.floor(h / group), R = w.queries.length;
  const keys = w.keyHeads[g]!.subarray(0, n * d), vals = w.valueHeads[g]!.subarray(0, n * dv);
  const kernels = createKernels();
  const index = HalfSpaceIndex.build({ data: keys, rows: n, cols: d }, { kind: 'quantized', kernels }).reporter;
  const valueBuf = kernels.allocF32(n * dv);
  valueBuf.view().set(vals);
  const kv = { get keys() { return index.points(); }, get values() { return valueBuf.view(); }, dim: d, valueDim: dv, index,
    kernels: residentKernels(kernels, index.points(), valueBuf.view()), keyNormMax: maxRowNorm(keys, d, 0, n) };
  // Each row on its own (one-row groups select exactly as a tile's rows do): its kept ids.
  const rowsOne = new RowAttention(o, dv, 1), out = new Float32Array(dv), err = new Float64Array(1);
  const kept: Uint32Array[] = [];
  const q = (i: number) => w.queries[R - 1 - i]!.subarray(h * d, (h + 1) * d);
  for (let i = 0; i < n; i++) {
    rowsOne.attendGroup(kv, [q(i)], visibleKeys(n, n, i, true), out, 0, err, null);
    kept.push(Uint32Array.from(rowsOne.keptIds()));
  }
  for (const T of TILES) {
    let keptSum = 0, unionSum = 0, gatherMs = 0, streamMs = 0;
    const idBuf = kernels.allocU32(n), state = new Float32Array(dv + STATE_EXTRA), states = new Float32Array(T * (dv + STATE_EXTRA));
    const tileQ = new Float32Array(T * d), weighting = { kind: 'softmax' as const, scale: o.scale, bias: 0, alpha: 1 };
    for (let i0 = 0; i0 + T <= n; i0 += T) {
      const union = new Set<number>();
      for (let i = i0; i < i0 + T; i++) { keptSum += kept[i]!.length; for (const j of kept[i]!) union.add(j); }
      unionSum += union.size * T;
      let t0 = performance.now();
      for (let i = i0; i < i0 + T; i++) {
        idBuf.view().set(kept[i]!);
        initStates(state, 1, dv, 'softmax');
        kernels.attendIds(q(i), kv.keys, kv.values, idBuf.view(), kept[i]!.length, d, dv, weighting, state);
      }
      gatherMs += performance.now() - t0;
      for (let i = 0; i < T; i++) tileQ.set(q(i0 + i), i * d);
      initStates(states, T, dv, 'softmax');
      t0 = performance.now();
      kernels.attendRange(tileQ, T, kv.keys, kv.values, 0, union.size, d, dv, weighting, states);
      streamMs += performance.now() - t0;
    }
    idBuf.free();
    const pairs = n * (n + 1) / 2;
    rows.push({ head: h, tile: T, keptFrac: keptSum / pairs, unionOverKept: unionSum / keptSum, gatherMs, unionStreamMs: streamMs, unionWins: streamMs < gatherMs });
  }
  valueBuf.free();
}

console.log(table(['head', 'tile rows', 'kept / causal pairs', 'T·|union| / Σ kept', 'fold per row, gathered (ms)', 'tile over union, streamed (ms, lower bound)', 'union wins'],
  rows.map((r) => [r.head, r.tile, r.keptFrac, r.unionOverKept, r.gatherMs, r.unionStreamMs, String(r.unionWins)])));
console.log(`load average (1 min) at start ${loadStart[0]!.toFixed(1)}, at end ${loadavg()[0]!.toFixed(1)}`);
writeJson(OUT, { loadAverage: { start: loadStart, end: loadavg() }, n, epsilon: EPS, rows });
