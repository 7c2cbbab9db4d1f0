/**
 * Where certified softmax pays: Gaussian keys, one head, queries whose scaled logits have standard
 * deviation σ (σ = 1: flat attention; σ = 4: peaked), n = 2^13 … 2^17, index `quantized`.
 * Per (n, σ): keys used by certified mode (ε = 1e-3) against the oracle minimum, and wall clock per
 * query against dense (median of alternating rounds, same rows).
 *
 *   node --import tsx bench/softmax-synthetic.ts [--max 17] [--queries 8] [--out bench/softmax-synthetic.json]
 */
import { HalfSpaceIndex, matrix } from '../src/index.js';
import { resolveAttentionOptions } from '../src/attention/options.js';
import { RowAttention, type KeyValueView } from '../src/attention/row-attention.js';
import { alternateRounds, rng, table, writeJson } from './lib/measure.js';
import { exactWeights, oracleMinimum, sortedDescending } from './softmax-lib.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const MAX = Number(args.get('max') ?? 17);
const Q = Number(args.get('queries') ?? 8);
const OUT = args.get('out') ?? 'bench/softmax-synthetic.json';
const D = 64, DV = 64, EPS = 1e-3, scale = 1 / Math.sqrt(D);

const r = rng(3);
const nMax = 2 ** MAX;
const keys = new Float32Array(nMax * D), values = new Float32Array(nMax * DV);
for (let i = 0; i < keys.length; i++) keys[i] = r.gauss();
for (let i = 0; i < values.length; i++) values[i] = r.gauss();
const directions = Array.from({ length: Q }, () => {
  const x = Float64Array.from({ length: D }, () => r.gauss());
  const norm = Math.hypot(...x);
  return x.map((v) => v / norm);
});

const rows: Record<string, number>[] = [];
for (let e = 13; e <= MAX; e += 2) {
  const n = 2 ** e;
  const kv: KeyValueView = {
    keys: keys.subarray(0, n * D), values: values.subarray(0, n * DV), dim: D, valueDim: DV,
    index: HalfSpaceIndex.build(matrix(keys.subarray(0, n * D), n, D), { kind: 'quantized' }).reporter,
  };
  for (const sigma of [1, 2, 4]) {
    // ⟨q,k⟩·scale ~ N(0, σ²) for k ~ N(0, I): ‖q‖ = σ / scale.
    const queries = directions.map((x) => Float32Array.from(x, (v) => (v * sigma) / scale));
    let oracle = 0;
    for (const q of queries) oracle += oracleMinimum(sortedDescending(exactWeights(q, kv.keys, n, D, scale)), EPS);
    const dense = new RowAttention(resolveAttentionOptions({ kind: 'softmax', scale }, D, 'bench'), DV, 1);
    const cert = new RowAttention(resolveAttentionOptions({ kind: 'softmax', scale, sparsity: { epsilon: EPS } }, D, 'bench'), DV, 1);
    const out = new Float32Array(DV), eb = new Float64Array(1);
    const all = (e: RowAttention) => () => { for (const q of queries) e.attendGroup(kv, [q], n, out, 0, eb, null); };
    const ms = alternateRounds({ dense: all(dense), certified: all(cert) }, 3);
    cert.resetWork(); all(cert)();
    rows.push({
      n, sigma, usedFrac: cert.work.keysUsed / (Q * n), oracleFrac: oracle / (Q * n), usedOverOracle: cert.work.keysUsed / oracle,
      denseMs: ms.dense! / Q, certifiedMs: ms.certified! / Q, speedup: ms.dense! / ms.certified!,
    });
    console.error(`n=${n} σ=${sigma} done`);
  }
}
console.log(`Certified softmax (ε = ${EPS}, index quantized) on Gaussian keys, d = ${D}, ${Q} queries; ms per query:`);
console.log(table(['n', 'σ', 'used/n', 'oracle/n', 'used/oracle', 'dense ms', 'certified ms', 'speedup'],
  rows.map((x) => [x.n!, x.sigma!, x.usedFrac!, x.oracleFrac!, x.usedOverOracle!, x.denseMs!, x.certifiedMs!, x.speedup!])));
writeJson(OUT, { epsilon: EPS, d: D, queries: Q, rows });
console.log(`wrote ${OUT}`);
