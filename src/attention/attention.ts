import { HsrError } from '../errors.js';
import { HalfSpaceIndex } from '../hsr/half-space-index.js';
import { assertMatrix, row, type Matrix } from '../tensor/matrix.js';
import { KeyMoments } from './moments.js';
import { resolveAttentionOptions, type AttentionOptions, type AttentionStats } from './options.js';
import { visibleKeys } from './reference.js';
import { RowAttention, type KeyValueView } from './row-attention.js';

/**
 * One-shot attention (prefill / full attention) of m queries over n keys, per API.md.
 * Sparse rows (softmax with a sparsity mode, ReLU by default) build one index over k for the
 * call and ask it about the visible prefix of each query (`limit` = i + n − m + 1 when causal),
 * so the index prunes by position instead of scoring keys past the query and masking them.
 */
export function attention(q: Matrix, k: Matrix, v: Matrix, options: AttentionOptions): { output: Matrix; stats: AttentionStats } {
  assertMatrix(q, 'attention q');
  assertMatrix(k, 'attention k');
  assertMatrix(v, 'attention v');
  if (q.cols !== k.cols) {
    throw new HsrError('DIM_MISMATCH', `attention: expected q and k to have the same number of columns, got ${q.cols} and ${k.cols}`);
  }
  if (k.rows !== v.rows) {
    throw new HsrError('SHAPE_MISMATCH', `attention: expected one value row per key (${k.rows}), got ${v.rows}`);
  }
  const o = resolveAttentionOptions(options, q.cols, 'attention');
  const m = q.rows, n = k.rows, d = q.cols, dv = v.cols;
  const output = new Float32Array(m * dv);
  const softmaxSparse = o.kind === 'softmax' && o.sparse;
  const errorBound = softmaxSparse ? new Float64Array(m) : null;
  const kv: KeyValueView = {
    keys: k.data, values: v.data, dim: d, valueDim: dv,
    index: o.sparse ? HalfSpaceIndex.build(k, { kind: o.index }).reporter : null,
  };
  const rows = new RowAttention(o, dv, 1);
  // 'paper' needs the moments of exactly the visible keys: grown key by key as the prefix grows.
  const moments = o.sparsity === 'paper' && softmaxSparse ? new KeyMoments(d) : null;
  const single: Float32Array[] = [new Float32Array(0)];
  for (let i = 0; i < m; i++) {
    const limit = visibleKeys(m, n, i, o.causal);
    if (moments) while (moments.count < limit) moments.add(k.data, moments.count);
    single[0] = row(q, i);
    rows.attendGroup(kv, single, limit, output, i, errorBound, moments);
  }
  const w = rows.work;
  const stats: AttentionStats = {
    keysScored: w.keysScored, keysUsed: w.keysUsed, boundsEvaluated: w.boundsEvaluated, denseQueries: w.denseQueries,
  };
  if (errorBound) stats.errorBound = errorBound;
  return { output: { data: output, rows: m, cols: dv }, stats };
}
