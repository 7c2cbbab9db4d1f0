/**
 * Per-head analysis of real queries and keys (what `hsr-attn analyze` prints): for the last Q
 * queries of a head at their full causal context, how sparse softmax attention is under the
 * paper's threshold and under the library's certified mode beside the oracle minimum, how close
 * the measured error comes to the certified bound, how much each index kind scores, and the
 * attention-sink mass. Every number comes from the library's own code paths (RowAttention with a
 * real index, paperThreshold with KeyMoments) measured against the float64 reference.
 */
import { KeyMoments } from '../attention/moments.js';
import { resolveAttentionOptions } from '../attention/options.js';
import { referenceAttention, referenceScores, type ReferenceInput } from '../attention/reference.js';
import { paperThreshold, RowAttention, type KeyValueView } from '../attention/row-attention.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import { countAtLeast, droppedMass, leadingMass, oracleMinimumKeys, softmaxOfLogits } from './softmax-mass.js';
import { max, mean, median, quantile } from './stats.js';

/** One query head's data: rows are positions, row-major. */
export interface HeadData {
  /** Queries before the 1/√d scaling, [n, dim]. */
  queries: Float32Array;
  /** The head's (grouped-query) keys [n, dim] and values [n, valueDim]. */
  keys: Float32Array;
  values: Float32Array;
  n: number;
  dim: number;
  valueDim: number;
}

export interface HeadAnalysisOptions {
  /** How many of the last positions to analyse as queries (each at its full causal context). */
  queries: number;
  /** Certified mode's ε values. */
  epsilons: number[];
  /** The index kind whose certified mode fills the main table (others: pruning only). */
  certifiedIndex: string;
  /** Logit scale (default 1/√dim). */
  scale?: number;
  /** For ReLU dumps: the bias b of ReLU^α(s − b); adds the active fraction and HSR pruning at b. */
  reluBias?: number;
}

export interface CertifiedSummary {
  epsilon: number;
  /** Keys used / keys visible, summed over the analysed queries. */
  usedFraction: number;
  /** The oracle minimum (fewest keys with exact mass ≥ 1 − ε) / keys visible. */
  oracleFraction: number;
  usedOverOracle: number;
  /** Keys scored exactly by the index / keys visible (the index's overhead above used keys). */
  scoredFraction: number;
  /** Certified total-variation bound (errorBound) and the measured TV distance, over queries. */
  boundMedian: number;
  boundMax: number;
  tvMedian: number;
  tvMax: number;
  /** Queries whose measured TV exceeded their certified bound (must be 0). */
  violations: number;
  /** Output error ‖out − exact‖₂ and its certified limit 2·bound·max‖v‖, worst over queries. */
  outputErrorMax: number;
  outputBoundMax: number;
}

export interface PruningSummary {
  index: string;
  /** pointsScored / n of one HSR query at the paper threshold (keys the index verified exactly). */
  paperQueryScored: number;
  /** Bounds evaluated (tree nodes or compressed keys) / n for that query. */
  paperQueryBounds: number;
  /** Certified mode: keys scored / n, one entry per ε. */
  certifiedScored: number[];
  /** ReLU dumps: pointsScored / n of the HSR query at the bias. */
  reluQueryScored?: number;
}

export interface HeadAnalysis {
  head: number;
  kvHead: number;
  n: number;
  queries: number;
  paper: {
    /** Keys with logit ≥ μ + σ·√(0.4·ln n) / keys visible, summed over queries. */
    keptFraction: number;
    keptMean: number;
    /** n^{4/5} at the mean visible n: what the paper's Gaussian argument predicts for keptMean. */
    predictedKept: number;
    /** Softmax mass the threshold drops (its TV distance), distribution over queries. */
    droppedMedian: number;
    droppedP90: number;
    droppedMax: number;
  };
  certified: CertifiedSummary[];
  pruning: PruningSummary[];
  /** Mean softmax mass on key 0 and on keys 0–3. */
  sinkMass: { first: number; first4: number };
  relu?: { bias: number; activeFraction: number };
}

/**
 * Analyses one query head. `indexes` holds one reporter per index kind over exactly `data.keys`
 * (build them once per KV head and share them among its query heads).
 */
export function analyzeHead(head: number, kvHead: number, data: HeadData, indexes: ReadonlyMap<string, HalfSpaceReporter>,
  options: HeadAnalysisOptions): HeadAnalysis {
  const { n, dim, valueDim: dv, keys, values } = data;
  const Q = Math.min(options.queries, n), first = n - Q;
  const scale = options.scale ?? 1 / Math.sqrt(dim);
  const eps = options.epsilons;
  const ref: ReferenceInput = {
    q: data.queries.subarray(first * dim, n * dim), m: Q, k: keys, n, v: values, d: dim, dv,
    kind: 'softmax', scale, alpha: 1, bias: 0, causal: true,
  };
  const exactOut = referenceAttention(ref);
  const maxV = maxRowNorm(values, n, dv);
  const kinds = [...indexes.keys()];
  const engines = new Map(kinds.map((kind) => [kind, eps.map((epsilon) =>
    new RowAttention(resolveAttentionOptions({ kind: 'softmax', sparsity: { epsilon }, scale, index: kind }, dim, 'analyze'), dv, 1))]));
  const perEps = eps.map(() => ({ used: 0, bounds: [] as number[], tvs: [] as number[], violations: 0, outErr: [] as number[], outBound: [] as number[] }));
  const oracle = eps.map(() => 0);
  const paperQuery = new Map(kinds.map((k) => [k, { scored: 0, bounds: 0 }]));
  const reluScored = new Map(kinds.map((k) => [k, 0]));
  const moments = new KeyMoments(dim);
  const paperKept: number[] = [], paperDropped: number[] = [], sink1: number[] = [], sink4: number[] = [];
  const out = new Float32Array(dv), bound = new Float64Array(1);
  let visible = 0, reluActive = 0;

  for (let t = 0; t < Q; t++) {
    const limit = first + t + 1, q = ref.q.subarray(t * dim, (t + 1) * dim);
    visible += limit;
    const logits = referenceScores(ref, t);
    const w = softmaxOfLogits(logits);
    oracleMinimumKeys(w, eps).forEach((c, e) => { oracle[e]! += c; });
    sink1.push(leadingMass(w, 1)); sink4.push(leadingMass(w, 4));

    while (moments.count < limit) moments.add(keys, moments.count);
    const threshold = paperThreshold(q, moments, limit, scale);
    const kept = countAtLeast(logits, limit, threshold);
    let keptMass = 0;
    for (let j = 0; j < limit; j++) if (logits[j]! >= threshold) keptMass += w[j]!;
    paperKept.push(kept); paperDropped.push(Math.max(0, 1 - keptMass));

    for (const [kind, index] of indexes) {
      index.query(q, threshold / scale, limit);
      const pq = paperQuery.get(kind)!;
      pq.scored += index.lastQueryStats.pointsScored; pq.bounds += index.lastQueryStats.nodesVisited;
      if (options.reluBias !== undefined) {
        index.query(q, options.reluBias / scale, limit);
        reluScored.set(kind, reluScored.get(kind)! + index.lastQueryStats.pointsScored);
      }
      const kv: KeyValueView = { keys, values, index, dim, valueDim: dv };
      engines.get(kind)!.forEach((engine, e) => {
        engine.attendGroup(kv, [q], limit, out, 0, bound, null);
        if (kind !== options.certifiedIndex) return;
        const s = perEps[e]!, kept = engine.keptIds(), tv = droppedMass(w, kept);
        s.used += kept.length; s.bounds.push(bound[0]!); s.tvs.push(tv);
        if (tv > bound[0]! + 1e-12) s.violations++;
        s.outErr.push(distance(out, exactOut, t * dv, dv)); s.outBound.push(2 * bound[0]! * maxV);
      });
    }
    if (options.reluBias !== undefined) reluActive += countAbove(logits, limit, options.reluBias);
  }

  const meanVisible = visible / Q;
  return {
    head, kvHead, n, queries: Q,
    paper: {
      keptFraction: paperKept.reduce((a, b) => a + b, 0) / visible, keptMean: mean(paperKept),
      predictedKept: meanVisible ** 0.8,
      droppedMedian: median(paperDropped), droppedP90: quantile(paperDropped, 0.9), droppedMax: max(paperDropped),
    },
    certified: eps.map((epsilon, e) => {
      const s = perEps[e]!, scored = engines.get(options.certifiedIndex)![e]!.work.keysScored;
      return {
        epsilon, usedFraction: s.used / visible, oracleFraction: oracle[e]! / visible, usedOverOracle: s.used / oracle[e]!,
        scoredFraction: scored / visible, boundMedian: median(s.bounds), boundMax: max(s.bounds),
        tvMedian: median(s.tvs), tvMax: max(s.tvs), violations: s.violations,
        outputErrorMax: max(s.outErr), outputBoundMax: max(s.outBound),
      };
    }),
    pruning: kinds.map((index) => {
      const row: PruningSummary = {
        index, paperQueryScored: paperQuery.get(index)!.scored / visible, paperQueryBounds: paperQuery.get(index)!.bounds / visible,
        certifiedScored: engines.get(index)!.map((e) => e.work.keysScored / visible),
      };
      if (options.reluBias !== undefined) row.reluQueryScored = reluScored.get(index)! / visible;
      return row;
    }),
    sinkMass: { first: mean(sink1), first4: mean(sink4) },
    ...(options.reluBias === undefined ? {} : { relu: { bias: options.reluBias, activeFraction: reluActive / visible } }),
  };
}

function countAbove(logits: ArrayLike<number>, limit: number, t: number): number {
  let c = 0;
  for (let j = 0; j < limit; j++) if (logits[j]! > t) c++;
  return c;
}

function maxRowNorm(rows: Float32Array, n: number, width: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < width; c++) s += rows[i * width + c]! ** 2;
    if (s > m) m = s;
  }
  return Math.sqrt(m);
}

/** ‖a − b[offset .. offset+len)‖₂ in float64. */
function distance(a: Float32Array, b: Float64Array, offset: number, len: number): number {
  let s = 0;
  for (let c = 0; c < len; c++) s += (a[c]! - b[offset + c]!) ** 2;
  return Math.sqrt(s);
}
