// HSR index benchmark: query time and work (pointsScored / n) of each index kind against scan, on
// Gaussian and clustered keys (n 1k … 1M, d 8/64/128, activations 1%, n^{4/5}/n, 25%) and on the
// real keys of both models' dev dumps; build time and memory at n = 1M, d = 128.
//   node --import tsx bench/hsr.ts [--quick] [--rounds R] [--out bench/results/hsr.json]
import { HalfSpaceIndex, matrix } from '../src/index.js';
import { dotRow } from '../src/hsr/dot.js';
import { readSafetensors } from '../src/node/checkpoint.js';
import { alternateRounds, median, rng, table, timeMs, writeJson } from './lib/measure.js';
import { points, type Shape } from '../test/hsr/datasets.js';

const args = new Map(process.argv.slice(2).map((a, i, all) => [a.replace(/^--/, ''), all[i + 1]?.startsWith('--') === false ? all[i + 1]! : 'true']));
const QUICK = args.has('quick');
const ROUNDS = Number(args.get('rounds') ?? (QUICK ? 3 : 5));
const OUT = args.get('out') ?? 'bench/results/hsr.json';
const KINDS = ['scan', 'quantized', 'ball-tree'] as const;
const NORMALS = 4;

interface Row {
  data: string; n: number; d: number; activation: string; kind: string;
  msPerQuery: number; speedupVsScan: number; scoredFraction: number; visitedPerN: number; reportedFraction: number;
}
const rows: Row[] = [];

/** Offsets activating `fraction` of the keys for each normal (score quantiles, exact). */
function quantileOffsets(normals: Float32Array[], keys: Float32Array, n: number, d: number, fraction: number, limits?: number[]): number[] {
  return normals.map((a, h) => {
    const m = limits?.[h] ?? n;
    const s = new Float64Array(m);
    for (let i = 0; i < m; i++) s[i] = dotRow(a, keys, i, d);
    s.sort();
    return s[Math.max(0, m - Math.max(1, Math.round(fraction * m)))]!;
  });
}

/** Times `queries` on every index in alternating rounds and records one row per kind. */
function measure(label: string, n: number, d: number, activation: string, indexes: Map<string, HalfSpaceIndex>,
  run: (idx: HalfSpaceIndex) => { scored: number; visited: number; reported: number; queries: number }): void {
  const work = new Map([...indexes].map(([k, idx]) => [k, run(idx)]));
  const ms = alternateRounds(Object.fromEntries([...indexes].map(([k, idx]) => [k, () => { run(idx); }])), ROUNDS);
  for (const [kind, w] of work) {
    rows.push({
      data: label, n, d, activation, kind,
      msPerQuery: ms[kind]! / w.queries, speedupVsScan: ms['scan']! / ms[kind]!,
      scoredFraction: w.scored / (w.queries * n), visitedPerN: w.visited / (w.queries * n), reportedFraction: w.reported / (w.queries * n),
    });
  }
}

function singleQueries(normals: Float32Array[], offsets: number[], limits?: number[]) {
  return (idx: HalfSpaceIndex) => {
    let scored = 0, visited = 0, reported = 0;
    normals.forEach((a, h) => {
      idx.query(a, offsets[h]!, limits?.[h]);
      scored += idx.lastQueryStats.pointsScored; visited += idx.lastQueryStats.nodesVisited; reported += idx.lastQueryStats.reported;
    });
    return { scored, visited, reported, queries: normals.length };
  };
}

function buildAll(keys: Float32Array, n: number, d: number, kinds: readonly string[] = KINDS): Map<string, HalfSpaceIndex> {
  return new Map(kinds.map((kind) => [kind, HalfSpaceIndex.build(matrix(keys.subarray(0, n * d), n, d), { kind })]));
}

// ---- synthetic keys
const grid: { shape: Shape; d: number; n: number }[] = [];
for (const shape of ['gaussian', 'clustered'] as const) {
  for (const d of [8, 64, 128]) for (const n of QUICK ? [1000, 10000] : [1000, 10000, 100000]) grid.push({ shape, d, n });
  if (!QUICK) grid.push({ shape, d: 8, n: 1_000_000 });
}
for (const { shape, d, n } of grid) {
  const keys = points(shape, n, d, 1000 + d);
  const r = rng(d * 7 + n);
  const normals = Array.from({ length: NORMALS }, () => Float32Array.from({ length: d }, () => r.gauss()));
  const indexes = buildAll(keys, n, d);
  for (const [activation, fraction] of [['1%', 0.01], ['n^4/5', n ** -0.2], ['25%', 0.25]] as const) {
    measure(shape, n, d, activation, indexes, singleQueries(normals, quantileOffsets(normals, keys, n, d, fraction)));
  }
  console.error(`${shape} d=${d} n=${n} done`);
}

// ---- grouped heads: quantized queryBatch (one sweep, 3 heads) against 3 single queries
const batchRows: { n: number; d: number; singleMs: number; batchMs: number; ratio: number }[] = [];
for (const d of [64, 128]) {
  const n = QUICK ? 10000 : 100000;
  const keys = points('gaussian', n, d, 7);
  const r = rng(d);
  const normals = Array.from({ length: 3 }, () => Float32Array.from({ length: d }, () => r.gauss()));
  const offsets = quantileOffsets(normals, keys, n, d, 0.01);
  const idx = HalfSpaceIndex.build(matrix(keys, n, d), { kind: 'quantized' });
  const ms = alternateRounds({ single: () => normals.forEach((a, h) => idx.query(a, offsets[h]!)), batch: () => idx.queryBatch(normals, offsets) }, ROUNDS);
  batchRows.push({ n, d, singleMs: ms['single']!, batchMs: ms['batch']!, ratio: ms['single']! / ms['batch']! });
}

// ---- real keys: the dev dumps (d = 64, n = 8192), last 32 positions, 3 query heads per KV head
const realRows: Record<string, unknown>[] = [];
for (const [file, layer, model] of [['data/dev_c_l2.safetensors', 2, 'softmax l2'], ['data/dev_c_relu_l3.safetensors', 3, 'relu l3']] as const) {
  const st = readSafetensors(file);
  const q = st.float32(`layers.${layer}.q`), k = st.float32(`layers.${layer}.k`);
  const [heads, n, d] = q.shape as [number, number, number];
  const kvHeads = k.shape[0]!;
  const last = QUICK ? 8 : 32;
  for (let g = 0; g < kvHeads; g++) {
    const keys = k.data.subarray(g * n * d, (g + 1) * n * d);
    const normals: Float32Array[] = [], limits: number[] = [];
    for (let h = g * (heads / kvHeads); h < (g + 1) * (heads / kvHeads); h++) {
      for (let pos = n - last; pos < n; pos++) { normals.push(q.data.subarray((h * n + pos) * d, (h * n + pos + 1) * d)); limits.push(pos + 1); }
    }
    const indexes = buildAll(keys, n, d);
    const settings: [string, number[]][] = [
      ['1%', quantileOffsets(normals, keys, n, d, 0.01, limits)],
      ['n^4/5', quantileOffsets(normals, keys, n, d, n ** -0.2, limits)],
      ['25%', quantileOffsets(normals, keys, n, d, 0.25, limits)],
    ];
    if (model === 'relu l3') settings.push(['relu ⟨q,k⟩≥8', normals.map(() => 8)]);
    for (const [activation, offsets] of settings) {
      measure(`${model} kv${g}`, n, d, activation, indexes, singleQueries(normals, offsets, limits));
      // Grouped-query sweep: the 3 heads of this KV group at one position share one pass.
      const quant = indexes.get('quantized')!;
      const per = normals.length / 3;
      const ms = alternateRounds({ batch: () => { for (let p = 0; p < per; p++) quant.queryBatch([0, 1, 2].map((h) => normals[h * per + p]!), [0, 1, 2].map((h) => offsets[h * per + p]!), limits[p]); } }, ROUNDS);
      realRows.push({ data: `${model} kv${g}`, activation, quantizedBatchMsPerQuery: ms['batch']! / normals.length });
    }
  }
  console.error(`${model} done`);
}

// ---- build time and memory at n = 1M, d = 128 (one build each; one 1% query timed)
const buildRows: Record<string, number | string>[] = [];
{
  const n = QUICK ? 100_000 : 1_000_000, d = 128;
  const keys = points('gaussian', n, d, 99);
  const r = rng(5);
  const a = Float32Array.from({ length: d }, () => r.gauss());
  const [offset] = quantileOffsets([a], keys, n, d, 0.01);
  for (const kind of KINDS) {
    let idx: HalfSpaceIndex | null = null;
    const buildMs = timeMs(() => { idx = HalfSpaceIndex.build(matrix(keys, n, d), { kind }); });
    const built = idx as unknown as HalfSpaceIndex;
    const queryMs = median([0, 1, 2].map(() => timeMs(() => built.query(a, offset!))));
    buildRows.push({ kind, n, d, buildMs, memoryMiB: built.memoryBytes() / 2 ** 20, queryMs, scoredFraction: built.lastQueryStats.pointsScored / n });
    idx = null;
  }
}

const fmt = (rs: Row[]) => table(['data', 'n', 'd', 'active', 'kind', 'ms/query', '× scan', 'scored/n', 'visited/n', 'reported/n'],
  rs.map((x) => [x.data, x.n, x.d, x.activation, x.kind, x.msPerQuery, x.speedupVsScan, x.scoredFraction, x.visitedPerN, x.reportedFraction]));
console.log(fmt(rows));
console.log('\nquantized queryBatch (3 heads, one sweep) vs 3 single queries, 1% active, Gaussian');
console.log(table(['n', 'd', 'single ×3 ms', 'batch ms', 'ratio'], batchRows.map((x) => [x.n, x.d, x.singleMs, x.batchMs, x.ratio])));
console.log('\nreal keys: quantized queryBatch per query (ms)');
console.log(table(['data', 'active', 'ms/query'], realRows.map((x) => [x['data'] as string, x['activation'] as string, x['quantizedBatchMsPerQuery'] as number])));
console.log('\nbuild and memory');
console.log(table(['kind', 'n', 'd', 'build ms', 'MiB', '1% query ms', 'scored/n'], buildRows.map((x) => [x['kind']!, x['n']!, x['d']!, x['buildMs']!, x['memoryMiB']!, x['queryMs']!, x['scoredFraction']!])));
writeJson(OUT, { rounds: ROUNDS, quick: QUICK, rows, batchRows, realRows, buildRows });
console.error(`wrote ${OUT}`);
