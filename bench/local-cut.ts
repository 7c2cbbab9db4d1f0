// Certified ε with a cut local to each block of keys (bench/lib/local-cut-rule.ts) against the GPU's
// global histogram cut, on the GPU's own int8 bounds (quantize.ts, in float64) — CPU, no timing.
// Per head and query: keys kept by
//   - 'global histogram' — the current GPU rule: 1/8-nat buckets below the anchor, the smallest
//     cut c with U(c) ≤ r·L(c) over all keys (select-wgsl.ts cutSource);
//   - 'global histogram, byte 0 of L from Σ e^lo' — the same with L's byte-0 term the keys' own
//     lower mass, not their count times the byte's edge e^{7.875} (plan option certifiedCut 'global-top-sum');
//   - 'global exact' — the same bounds sorted in float64, fewest keys with Σ_skipped e^hi ≤ r·Σ_kept e^lo;
//   - 'local buckets' — the local rule on the same bucket bytes, blocks as the plan makes them
//     (localBlocks: ~132 workgroups a scan group), and with 4× larger blocks;
//   - 'local exact' — the local rule on the unbucketed bounds;
//   - 'oracle' — the fewest keys by true logit whose left-out mass is ≤ ε (no bound can do better).
// For each: kept keys a head, the gathered rows a KV group attends (the union of its heads' keys),
// the errorBound U/(W + U) (W the kept keys' exact mass) against ε and against the true TV, and a
// projected 512k step from H100 run 7's per-pass times (--help of the table's columns: below).
//
//   node --import tsx bench/local-cut.ts [--n 32768,131072,524288] [--dumps data/dev_c_l2.safetensors,…]
//     [--queries 2] [--epsilon 1e-3] [--out bench/results/local-cut.json]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import type { Workload } from './lib/keys.js';
import { table, writeJson } from './lib/measure.js';
import { eachWorkload, gpuRatio, RUN7, SAMPLES } from './lib/certified-study.js';
import { oracleCut, countKept as count } from './lib/oracle-cut.js';
import { byteOf, int8Bounds } from './lib/gpu-bounds.js';
import { localBlocks, localCutExact, localCutOfBuckets, localRule, type LocalCut } from './lib/local-cut-rule.js';
import { globalCutOfBuckets } from '../src/webgpu/certified-cut.js';
import { DEFAULT_WORKGROUPS } from '../src/webgpu/plan-options.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,131072,524288' },
  dumps: { type: 'string', default: 'data/dev_c_l2.safetensors' },
  queries: { type: 'string', default: '2' }, epsilon: { type: 'string', default: '1e-3' },
  out: { type: 'string', default: 'bench/results/local-cut.json' },
} });
const ns = a.n!.split(',').filter((x) => x !== '').map(Number), R = Number(a.queries), eps = Number(a.epsilon);
const ratio = gpuRatio(eps);

/** The GPU's global rule (certified-cut.ts), `topMass` for the 'global-top-sum' cut, as a LocalCut of one block. */
function globalHistogramCut(up: Uint8Array, lo: Uint8Array, topMass?: number): LocalCut {
  const { c, U, L, kept } = globalCutOfBuckets(up, lo, ratio, topMass);
  return { cuts: Int32Array.of(c), U, L, kept };
}

/** Fewest keys by upper bound with Σ_skipped e^hi ≤ r·Σ_kept e^lo (float64, no buckets). */
function globalExactCut(hi: Float64Array, lo: Float64Array, ref: number): LocalCut {
  return localCutExact(hi, lo, hi.length, { kept: ratio, floor: 0 }, 0, ref);
}


/** The GPU's default rule, the row the others are modelled against. */
const rules0 = 'global histogram (now)';

interface RuleRow { kept: number; rows: number; boundMax: number; tvMax: number; violations: number }
const rows: Record<string, unknown>[] = [];

function study(w: Workload, n: number): void {
  const { d, heads, kvHeads } = w, group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  const t0 = performance.now();
  const groups = kvHeads; // scan groups a KV head (headsPerScan = group for group ≤ 8)
  const { blockKeys } = localBlocks(n, groups, DEFAULT_WORKGROUPS);
  // Z_lo, the lower bound on the total mass every block knows: e^{G − a} (G the sampled keys'
  // largest lower bound: the query pass) or Σ e^{lo − a} over every key (an earlier pass's sum).
  const variants: [string, number, 'G' | 'sum', number][] = [
    [`local, Z_lo = e^G, p = 1/2, ${blockKeys}-key blocks`, 0.5, 'G', blockKeys],
    [`local, Z_lo = e^G, p = 1, ${blockKeys}-key blocks`, 1, 'G', blockKeys],
    [`local, Z_lo = Σe^lo, p = 1/2, ${blockKeys}-key blocks`, 0.5, 'sum', blockKeys],
    [`local, Z_lo = Σe^lo, p = 0, ${blockKeys}-key blocks`, 0, 'sum', blockKeys],
    [`local, Z_lo = Σe^lo, p = 0, ${4 * blockKeys}-key blocks`, 0, 'sum', 4 * blockKeys],
  ];
  const rules = [rules0, 'global histogram, byte 0 of L from Σ e^lo', 'global exact', ...variants.map((v) => v[0]), `local exact, Z_lo = Σe^lo, p = 0, ${blockKeys}-key blocks`, 'oracle'];
  const acc = rules.map((): RuleRow => ({ kept: 0, rows: 0, boundMax: 0, tvMax: 0, violations: 0 }));
  for (let r = 0; r < Math.min(R, w.queries.length); r++) {
    const q = w.queries[r]!;
    for (let g = 0; g < kvHeads; g++) {
      const K = w.keyHeads[g]!.subarray(0, n * d), unions = rules.map(() => new Uint8Array(n));
      for (let i = 0; i < group; i++) {
        const h = g * group + i, qh = q.subarray(h * d, (h + 1) * d);
        const { hi, lo } = int8Bounds(K, n, d, qh, scale);
        const s = new Float64Array(n);
        for (let j = 0; j < n; j++) { let x = 0; for (let t = 0; t < d; t++) x += qh[t]! * K[j * d + t]!; s[j] = scale * x; }
        let anchor = -Infinity, G = -Infinity;
        for (let t = 0; t < SAMPLES; t++) { const j = Math.min(n - 1, Math.floor((t * n) / SAMPLES)); anchor = Math.max(anchor, hi[j]!); G = Math.max(G, lo[j]!); }
        const up = Uint8Array.from(hi, (x) => byteOf(anchor, x)), lob = Uint8Array.from(lo, (x) => byteOf(anchor, x));
        const floorG = Math.exp(G - anchor), floorSum = lo.reduce((t, x) => t + Math.exp(x - anchor), 0);
        const topMass = lo.reduce((t, x, j) => t + (lob[j] === 0 ? Math.exp(Math.min(x - anchor, 60)) : 0), 0);
        const cuts: (LocalCut | Uint8Array)[] = [globalHistogramCut(up, lob), globalHistogramCut(up, lob, topMass), globalExactCut(hi, lo, anchor),
          ...variants.map(([, p, z, bk]) => localCutOfBuckets(up, lob, n, bk, localRule(eps, p, 1 - 1e-3), z === 'G' ? floorG : floorSum)),
          localCutExact(hi, lo, blockKeys, localRule(eps, 0, 1 - 1e-3), floorSum, anchor), oracleCut(s, eps)];
        // True masses relative to the anchor: TV of a kept set, W its kept mass.
        const m = s.reduce((x, y) => Math.max(x, y), -Infinity), e = Float64Array.from(s, (x) => Math.exp(x - m));
        const total = e.reduce((t, x) => t + x, 0);
        cuts.forEach((c, k) => {
          const kept = c instanceof Uint8Array ? c : c.kept;
          let W = 0;
          for (let j = 0; j < n; j++) if (kept[j]) { W += e[j]!; unions[k]![j] = 1; }
          const tv = (total - W) / total, row = acc[k]!;
          // errorBound as the merge reports it: U/(W + U), both relative to the anchor.
          const bound = c instanceof Uint8Array ? tv : c.U / (W * Math.exp(m - anchor) + c.U);
          row.kept += count(kept); row.tvMax = Math.max(row.tvMax, tv); row.boundMax = Math.max(row.boundMax, bound);
          if (bound < tv * (1 - 1e-9) || bound > eps) row.violations++;
        });
      }
      unions.forEach((u, k) => { acc[k]!.rows += count(u); });
    }
  }
  const queries = Math.min(R, w.queries.length);
  acc.forEach((x, k) => {
    const keptPerHead = x.kept / (queries * heads), rowsPerKvHead = x.rows / (queries * kvHeads);
    const row: Record<string, unknown> = { workload: w.name, n, d, heads, kvHeads, queries, rule: rules[k], blockKeys, keptPerHead, keptShare: keptPerHead / n,
      rowsPerKvHead, errorBoundMax: x.boundMax, tvMax: x.tvMax, violations: x.violations };
    if (n === 524288 && d === 128) Object.assign(row, project(rowsPerKvHead, acc[0]!.rows / (queries * kvHeads)));
    rows.push(row);
  });
  console.log(`${w.name} n=${n}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * A 512k step (µs) modelled from run 7's net pass times (their sum, 134 µs, against 126 measured):
 * 'now' the 7 passes; 'local pass' — query, scan, local cut, gathered, merge — the local pass costed
 * as the histogram pass it replaces (it reads the same bytes and counts them in workgroup memory),
 * the gathered pass scaled by its rows; 'fused' — query, 13f's scan+attend pass with this rule,
 * merge — the scan plus the scaled gathered work. Gaps scale with the pass boundaries.
 */
function project(rowsPerKvHead: number, rowsNow: number): Record<string, number> {
  const gap = RUN7.gaps / 6, gathered = RUN7.gathered * (rowsPerKvHead / rowsNow);
  const now = RUN7.query + RUN7.scan + RUN7.hist + RUN7.cut + RUN7.compact + RUN7.gathered + RUN7.merge + RUN7.gaps;
  const separate = RUN7.query + RUN7.scan + RUN7.hist + gathered + RUN7.merge + 4 * gap;
  const fused = RUN7.query + RUN7.scan + gathered + RUN7.merge + 2 * gap;
  // The global cut's 7 passes with this rule's rows (the 'global-top-sum' cut: its scan's and cut's sums uncosted).
  const global = now - RUN7.gathered + gathered;
  return { usNowModel: now, usGlobal: global, xDenseGlobal: RUN7.denseUs / global, usLocalPass: separate, xDenseLocalPass: RUN7.denseUs / separate, usFused: fused, xDenseFused: RUN7.denseUs / fused };
}

eachWorkload(a.dumps!, ns, R, study);

const header = ['workload', 'n', 'rule', 'kept a head', 'rows a KV group', 'errorBound max', 'true TV max', 'violations', '512k µs: 7 global passes / local pass / fused', '× dense'];
const now = (r: Record<string, unknown>) => r.rule === rules0;
const text = table(header, rows.map((r) => [r.workload as string, r.n as number, r.rule as string, r.keptPerHead as number, r.rowsPerKvHead as number,
  r.errorBoundMax as number, r.tvMax as number, r.violations as number,
  r.usFused === undefined ? '' : now(r) ? `now: ${r.usNowModel as number} (run 7: ${RUN7.measuredUs})`
    : `${(r.usGlobal as number).toFixed(0)} / ${(r.usLocalPass as number).toFixed(0)} / ${(r.usFused as number).toFixed(0)}`,
  r.usFused === undefined ? '' : now(r) ? (RUN7.denseUs / RUN7.measuredUs).toFixed(2)
    : `${(r.xDenseGlobal as number).toFixed(2)} / ${(r.xDenseLocalPass as number).toFixed(2)} / ${(r.xDenseFused as number).toFixed(2)}`]));
console.log(text);
const load = loadavg();
writeJson(a.out!, { bench: 'local-cut', epsilon: eps, ratio, queries: R, run7: RUN7, load, rows, table: text.split('\n') });
