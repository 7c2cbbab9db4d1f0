// Which bounds could make certified softmax ε = 1e-3 5× faster than dense at 512k on the GPU? (CPU,
// float64, no timing.) The certified step now scans every key's int8 codes (144 B a key and KV head)
// to bucket each key's bounds; the cut and the gathered attention follow. This study puts cheaper
// bounds through the GPU's own cut (src/webgpu/certified-cut.ts: 1/8-nat bucket bytes below an
// anchor, the smallest cut c with U(c) ≤ r·L(c), r = ε/(1 − ε) shrunk by 10⁻³) and counts, per head
// and KV group, what each design reads:
//   - 'int8': the current certified scan (the int8 codes' bounds, bench/lib/gpu-bounds.ts int8Bounds);
//   - 'proj R': the projection first filter's bounds (R principal directions from 256 sampled keys,
//     10 rounds, f16 codes + (σ, ρ): 2R + 8 B a key; bench/lib/gpu-bounds.ts projBounds), cut as they
//     are, the kept keys attended exactly ('proj R → gathered');
//   - 'proj R → int8': the projection cut at half the budget lists survivors, whose int8 bounds (read
//     scattered: 288 B of 32-B sectors each) are cut with the rest, the projection's skipped mass
//     charged first;
//   - each with the top-sum cut (byte 0's term of L the keys' own Σ e^{lo − a}: 'global-top-sum') and,
//     for reference, the exact float64 sort of the same bounds (no buckets) and the oracle (the fewest
//     keys by true logit whose left-out mass is ≤ ε: no bound does better).
// The anchor is the largest upper bound of 256 keys spread over the cache (as the GPU's query pass).
// errorBound = U/(W + U), W the kept keys' exact mass: checked ≥ the true TV and ≤ ε ('violations').
// Bytes a key and KV head: the scan's codes, the bucket bytes it writes and the histogram and
// compaction read back (2 a head), the survivors' scattered int8 reads and the gathered K/V rows
// (512 B). Time at 512k: 'peak' — those bytes at dense's 2.72 TB/s (H100 run 6), nothing fixed (no
// design reading them does better); 'passes' — H100 run 7's net pass times with the scan scaled by its
// bytes and the gathered pass by its rows (bench/local-cut.ts's model), the two-stage design paying
// one more pass (the survivors' int8 check) at run 6's scattered rate, 1.76 TB/s.
//
//   node --import tsx bench/certified-filter.ts [--n 131072,524288] [--dumps data/dev_c_l2.safetensors,…]
//     [--queries 1] [--epsilon 1e-3] [--ranks 8,16] [--out bench/results/certified-filter.json]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import type { Workload } from './lib/keys.js';
import { table, writeJson } from './lib/measure.js';
import { eachWorkload, gpuRatio, RUN7, SAMPLES } from './lib/certified-study.js';
import { oracleCut, countKept as count } from './lib/oracle-cut.js';
import { byteOf, int8Bounds, projBounds, projCodes, sampleBasis, type KeyBounds, type ProjCodes } from './lib/gpu-bounds.js';
import { BYTES, globalCutOfBuckets, lowerEdge, upperEdge } from '../src/webgpu/certified-cut.js';
import { PROJ_ROUNDS, PROJ_SAMPLES } from '../src/webgpu/proj-wgsl.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '131072,524288' }, dumps: { type: 'string', default: 'data/dev_c_l2.safetensors' },
  queries: { type: 'string', default: '1' }, epsilon: { type: 'string', default: '1e-3' }, ranks: { type: 'string', default: '8,16' },
  out: { type: 'string', default: 'bench/results/certified-filter.json' },
} });
const ns = a.n!.split(',').filter((x) => x !== '').map(Number), Q = Number(a.queries), eps = Number(a.epsilon);
const ranks = a.ranks!.split(',').map(Number);
const ratio = gpuRatio(eps);
/** H100 run 6's rates: dense's, and scattered reads'. */
const PEAK_TBS = 2.72, SCATTER_TBS = 1.76;
const INT8_B = (d: number) => d + 16, ROW_B = (d: number) => 4 * d, SURVIVOR_B = (d: number) => 2 * INT8_B(d);

/** One cut's kept flags and its U (skipped upper mass, relative to the anchor). */
interface Kept { kept: Uint8Array; U: number }

/**
 * The GPU's histogram rule over the keys `among` (all when null), `skipped` upper mass charged first:
 * the smallest c with skipped + U(c) ≤ r·L(c) (certified-cut.ts; topMass: the 'global-top-sum' term).
 */
function histogramCut(b: KeyBounds, anchor: number, among: Uint8Array | null, r: number, skipped: number, topSum: boolean): Kept {
  const idx: number[] = [];
  for (let j = 0; j < b.hi.length; j++) if (among === null || among[j]) idx.push(j);
  const up = Uint8Array.from(idx, (j) => byteOf(anchor, b.hi[j]!)), lo = Uint8Array.from(idx, (j) => byteOf(anchor, b.lo[j]!));
  const top = topSum ? idx.reduce((t, j, k) => t + (lo[k] === 0 ? Math.exp(Math.min(b.lo[j]! - anchor, 60)) : 0), 0) : undefined;
  // skipped is charged by shrinking the ratio's room: find c with U(c) + skipped ≤ r·L(c).
  let cut: { c: number; U: number; L: number } = globalCutOfBuckets(up, lo, r, top);
  if (skipped > 0) {
    for (let c = cut.c; c <= BYTES; c++) {
      cut = cutAt(up, lo, c, top);
      if (c === BYTES || cut.U + skipped <= r * cut.L) break;
    }
  }
  const kept = new Uint8Array(b.hi.length);
  idx.forEach((j, k) => { if (up[k]! < cut.c) kept[j] = 1; });
  return { kept, U: cut.U + skipped };
}

/** U(c) and L(c) of the bytes at a given cut c (certified-cut.ts's edges; top: byte 0's own lower mass). */
function cutAt(up: Uint8Array, lo: Uint8Array, c: number, top: number | undefined): { c: number; U: number; L: number } {
  let U = 0, L = 0, top0 = 0;
  for (let k = 0; k < up.length; k++) {
    if (up[k]! >= c) U += upperEdge(up[k]!);
    if (lo[k]! < c) { if (lo[k] === 0) top0 += 1; else L += lowerEdge(lo[k]!); }
  }
  const edges0 = top0 * lowerEdge(0);
  return { c, U, L: L + (top === undefined ? edges0 : Math.max(top, edges0)) };
}

/** Fewest keys by upper bound with skipped + Σ_skipped e^hi ≤ r·Σ_kept e^lo (float64, no buckets). */
function exactCut(b: KeyBounds, anchor: number, among: Uint8Array | null, r: number, skipped: number): Kept {
  const idx: number[] = [];
  for (let j = 0; j < b.hi.length; j++) if (among === null || among[j]) idx.push(j);
  idx.sort((x, y) => b.hi[y]! - b.hi[x]!);
  const suffix = new Float64Array(idx.length + 1), kept = new Uint8Array(b.hi.length);
  for (let t = idx.length - 1; t >= 0; t--) suffix[t] = suffix[t + 1]! + Math.exp(b.hi[idx[t]!]! - anchor);
  let L = 0, k = 0;
  for (; k < idx.length; k++) {
    if (skipped + suffix[k]! <= r * L) break;
    L += Math.exp(b.lo[idx[k]!]! - anchor); kept[idx[k]!] = 1;
  }
  return { kept, U: skipped + suffix[k]! };
}

const anchorOf = (b: KeyBounds, n: number) => { let m = -Infinity; for (let t = 0; t < SAMPLES; t++) m = Math.max(m, b.hi[Math.min(n - 1, Math.floor((t * n) / SAMPLES))]!); return m; };

interface Design { name: string; scanBytes: (d: number) => number; twoStage: boolean }
interface Acc { kept: number; rows: number; survivors: number; boundMax: number; tvMax: number; violations: number }
const rows: Record<string, unknown>[] = [];

function study(w: Workload, n: number): void {
  const { d, heads, kvHeads } = w, group = heads / kvHeads, scale = 1 / Math.sqrt(d), t0 = performance.now();
  const designs: Design[] = [{ name: 'int8 (now)', scanBytes: INT8_B, twoStage: false }];
  for (const R of ranks) designs.push({ name: `proj ${R} → gathered`, scanBytes: () => 2 * R + 8, twoStage: false }, { name: `proj ${R} → int8`, scanBytes: () => 2 * R + 8, twoStage: true });
  const cuts = ['histogram', 'histogram top-sum', 'exact sort'] as const;
  const names = [...designs.flatMap((D) => cuts.map((c) => `${D.name}, ${c}`)), 'oracle'];
  const acc = names.map((): Acc => ({ kept: 0, rows: 0, survivors: 0, boundMax: 0, tvMax: 0, violations: 0 }));
  const captured: number[] = [];
  for (let g = 0; g < kvHeads; g++) {
    const K = w.keyHeads[g]!.subarray(0, n * d);
    const coded = new Map<number, ProjCodes>();
    for (const R of ranks) { const basis = sampleBasis(K, n, d, R, PROJ_SAMPLES, PROJ_ROUNDS); coded.set(R, projCodes(K, n, d, basis, 'f16')); if (R === ranks[0]) captured.push(basis.captured); }
    for (let qi = 0; qi < Math.min(Q, w.queries.length); qi++) {
      const unions = names.map(() => new Uint8Array(n)), survUnions = names.map(() => new Uint8Array(n));
      for (let i = 0; i < group; i++) {
        const h = g * group + i, qh = w.queries[qi]!.subarray(h * d, (h + 1) * d);
        const s = new Float64Array(n);
        for (let j = 0; j < n; j++) { let x = 0; for (let t = 0; t < d; t++) x += qh[t]! * K[j * d + t]!; s[j] = scale * x; }
        const b8 = int8Bounds(K, n, d, qh, scale);
        const results: { kept: Uint8Array; U: number; anchor: number; survivors?: Uint8Array }[] = [];
        for (const D of designs) {
          const R = D.name.startsWith('proj') ? Number(D.name.split(' ')[1]) : 0;
          const b = R === 0 ? b8 : projBounds(coded.get(R)!, n, d, qh, scale), anchor = anchorOf(b, n);
          for (const c of cuts) {
            const cut = (x: KeyBounds, among: Uint8Array | null, r: number, skipped: number) =>
              c === 'exact sort' ? exactCut(x, anchor, among, r, skipped) : histogramCut(x, anchor, among, r, skipped, c === 'histogram top-sum');
            if (!D.twoStage) { results.push({ ...cut(b, null, ratio, 0), anchor }); continue; }
            const first = cut(b, null, ratio / 2, 0);
            let skipped = 0;
            for (let j = 0; j < n; j++) if (!first.kept[j]) skipped += Math.exp(b.hi[j]! - anchor);
            results.push({ ...cut(b8, first.kept, ratio, skipped), anchor, survivors: first.kept });
          }
        }
        const m = s.reduce((x, y) => Math.max(x, y), -Infinity), e = Float64Array.from(s, (x) => Math.exp(x - m)), total = e.reduce((t, x) => t + x, 0);
        const oracle = oracleCut(s, eps);
        [...results, { kept: oracle, U: NaN, anchor: m }].forEach((r, k) => {
          let W = 0;
          for (let j = 0; j < n; j++) if (r.kept[j]) { W += e[j]!; unions[k]![j] = 1; }
          if (r.survivors) for (let j = 0; j < n; j++) if (r.survivors[j]) survUnions[k]![j] = 1;
          const tv = (total - W) / total, bound = Number.isNaN(r.U) ? tv : r.U / (W * Math.exp(m - r.anchor) + r.U), x = acc[k]!;
          x.kept += count(r.kept); x.tvMax = Math.max(x.tvMax, tv); x.boundMax = Math.max(x.boundMax, bound);
          if (bound < tv * (1 - 1e-9) || bound > eps * (1 + 1e-9)) x.violations++;
        });
      }
      unions.forEach((u, k) => { acc[k]!.rows += count(u); acc[k]!.survivors += count(survUnions[k]!); });
    }
  }
  const queries = Math.min(Q, w.queries.length), rows0 = acc[0]!.rows / (queries * kvHeads);
  acc.forEach((x, k) => {
    const D = designs[Math.floor(k / cuts.length)], keptPerHead = x.kept / (queries * heads), rowsPerKvHead = x.rows / (queries * kvHeads);
    const survivors = x.survivors / (queries * kvHeads);
    const row: Record<string, unknown> = { workload: w.name, n, d, heads, kvHeads, queries, design: names[k], keptPerHead, rowsShare: rowsPerKvHead / n,
      survivorsShare: D?.twoStage ? survivors / n : null, errorBoundMax: x.boundMax, tvMax: x.tvMax, violations: x.violations,
      varianceHeld: captured.reduce((s, c) => s + c, 0) / captured.length };
    if (D !== undefined) Object.assign(row, model(d, group, D, survivors / n, rowsPerKvHead / n, rowsPerKvHead / rows0));
    rows.push(row);
  });
  console.log(`${w.name} n=${n}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** Bytes a key and KV head and the 512k step (µs) at peak and from run 7's passes (header comment). */
function model(d: number, group: number, D: Design, survivorsShare: number, rowsShare: number, rowsVsNow: number): Record<string, number> {
  const bucketBytes = 2 * group; // written by the scan, read by the histogram and the compaction
  const scan = D.scanBytes(d) + bucketBytes, bytesPerKey = scan + 2 * bucketBytes + survivorsShare * SURVIVOR_B(d) + rowsShare * ROW_B(d);
  const keys = 2 * 524288, dense = (keys * ROW_B(d)) / (PEAK_TBS * 1e6);
  const usPeak = (keys * bytesPerKey) / (PEAK_TBS * 1e6);
  const scanUs = RUN7.scan * scan / (INT8_B(d) + bucketBytes), survivorUs = D.twoStage ? (keys * survivorsShare * SURVIVOR_B(d)) / (SCATTER_TBS * 1e6) + RUN7.gaps / 6 : 0;
  const usPasses = RUN7.query + scanUs + RUN7.hist + RUN7.cut + RUN7.compact + RUN7.gathered * rowsVsNow + RUN7.merge + RUN7.gaps + survivorUs;
  return { bytesPerKey, usPeak, xDensePeak: dense / usPeak, usPasses, xDensePasses: RUN7.denseUs / usPasses };
}

eachWorkload(a.dumps!, ns, Q, study);

const pct = (x: unknown) => (x === null || x === undefined ? '' : `${(100 * (x as number)).toFixed(2)} %`);
const f = (x: unknown, p = 2) => (x === undefined ? '' : (x as number).toFixed(p));
const header = ['workload', 'n', 'design, cut', 'kept a head', 'rows a KV group', 'survivors', 'errorBound max', 'violations', 'B/key', '512k µs peak / passes', '× dense peak / passes', 'variance held'];
const text = table(header, rows.map((r) => [r.workload as string, r.n as number, r.design as string, Math.round(r.keptPerHead as number), pct(r.rowsShare),
  pct(r.survivorsShare), (r.errorBoundMax as number).toExponential(2), r.violations as number, f(r.bytesPerKey, 1),
  r.usPeak === undefined ? '' : `${f(r.usPeak, 1)} / ${f(r.usPasses, 1)}`, r.usPeak === undefined ? '' : `${f(r.xDensePeak)} / ${f(r.xDensePasses)}`, pct(r.varianceHeld)]));
console.log(text);
writeJson(a.out!, { bench: 'certified-filter', epsilon: eps, ratio, queries: Q, run7: RUN7, peakTBs: PEAK_TBS, scatterTBs: SCATTER_TBS, load: loadavg(), node: process.version, rows, table: text.split('\n') });
