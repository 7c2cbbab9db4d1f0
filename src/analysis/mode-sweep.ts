/**
 * Kept fraction versus error of sparse softmax modes on one head's real queries and keys: for the
 * last Q positions (each at its full causal context), run each mode through the library
 * (RowAttention over a real index) and measure the mass it drops against the float64 reference.
 * Per-query results, so callers can pool queries over heads.
 */
import { KeyMoments } from '../attention/moments.js';
import { resolveAttentionOptions, type Sparsity } from '../attention/options.js';
import { referenceScores, type ReferenceInput } from '../attention/reference.js';
import { RowAttention, type KeyValueView } from '../attention/row-attention.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import type { HeadData } from './head-analysis.js';
import { droppedMass, softmaxOfLogits } from './softmax-mass.js';

export interface ModeQueries {
  sparsity: Sparsity;
  /** Per analysed query: keys used, keys visible, measured TV distance, certified bound. */
  kept: number[];
  visible: number[];
  tv: number[];
  bound: number[];
}

export function sweepSparsity(data: HeadData, index: HalfSpaceReporter, modes: readonly Sparsity[],
  options: { queries: number; scale?: number }): ModeQueries[] {
  const { n, dim, valueDim: dv, keys, values } = data;
  const Q = Math.min(options.queries, n), first = n - Q;
  const scale = options.scale ?? 1 / Math.sqrt(dim);
  const ref: ReferenceInput = {
    q: data.queries.subarray(first * dim, n * dim), m: Q, k: keys, n, v: values, d: dim, dv,
    kind: 'softmax', scale, alpha: 1, bias: 0, causal: true,
  };
  const kv: KeyValueView = { keys, values, index, dim, valueDim: dv };
  const results = modes.map((sparsity) => ({
    sparsity, kept: [] as number[], visible: [] as number[], tv: [] as number[], bound: [] as number[],
    engine: new RowAttention(resolveAttentionOptions({ kind: 'softmax', sparsity, scale, index: index.kind }, dim, 'sweep'), dv, 1),
  }));
  const moments = new KeyMoments(dim), out = new Float32Array(dv), bound = new Float64Array(1);
  for (let t = 0; t < Q; t++) {
    const limit = first + t + 1, q = ref.q.subarray(t * dim, (t + 1) * dim);
    const w = softmaxOfLogits(referenceScores(ref, t));
    while (moments.count < limit) moments.add(keys, moments.count);
    for (const r of results) {
      r.engine.attendGroup(kv, [q], limit, out, 0, bound, r.sparsity === 'paper' ? moments : null);
      const ids = r.engine.keptIds();
      r.kept.push(ids.length); r.visible.push(limit); r.tv.push(droppedMass(w, ids)); r.bound.push(bound[0]!);
    }
  }
  return results.map(({ sparsity, kept, visible, tv, bound: b }) => ({ sparsity, kept, visible, tv, bound: b }));
}
