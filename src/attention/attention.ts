import { HsrError } from '../errors.js';
import { HalfSpaceIndex } from '../hsr/half-space-index.js';
import { denseAttentionRows } from '../kernels/dense-prefill.js';
import { createKernels } from '../kernels/index.js';
import { assertMatrix, row, type Matrix } from '../tensor/matrix.js';
import { float32SoftmaxSafe } from '../kernels/float32-error.js';
import { maxRowNorm, residentKernels } from './kernel-rows.js';
import { KeyMoments } from './moments.js';
import { resolveAttentionOptions, type AttentionOptions, type AttentionStats, type ResolvedAttentionOptions } from './options.js';
import { visibleKeys } from './reference.js';
import { assertValueSumFits, maxAbs } from './value-range.js';
import { RowAttention, type KeyValueView } from './row-attention.js';

/**
 * Query rows per index pass (a prefill tile): the quantized index's bound sweep is one int8 matrix
 * product for all of them (each block of codes fetched once per tile), and certified rows that go
 * dense are computed together over their common prefix.
 */
const BATCH = 16;

/**
 * One-shot attention (prefill / full attention) of m queries over n keys, per docs/api.md.
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
  assertValueSumFits(k.rows, maxAbs(v.data), 'attention');
  const o = resolveAttentionOptions(options, q.cols, 'attention');
  const m = q.rows, n = k.rows, d = q.cols, dv = v.cols;
  const output = new Float32Array(m * dv);
  if (o.kind === 'softmax' && !o.sparse && denseOnKernels(q, k, v, o, output)) {
    let visible = 0;
    for (let i = 0; i < m; i++) visible += visibleKeys(m, n, i, o.causal);
    return { output: { data: output, rows: m, cols: dv }, stats: { keysScored: visible, keysUsed: visible, boundsEvaluated: 0, denseQueries: 0 } };
  }
  const softmaxSparse = o.kind === 'softmax' && o.sparse;
  const errorBound = softmaxSparse ? new Float64Array(m) : null;
  // Sparse rows: the index and a copy of the values share one kernels memory, so rows can score
  // and accumulate their taken keys with the SIMD kernels when the index keeps its points there
  // (kernel-rows.ts); the copy is freed at the end.
  const kernels = o.sparse ? createKernels({ backend: o.backend }) : null;
  const index = kernels ? HalfSpaceIndex.build(k, { kind: o.index, kernels }).reporter : null;
  const valueBuf = kernels ? kernels.allocF32(Math.max(1, n * dv)) : null;
  valueBuf?.view().set(v.data.subarray(0, n * dv));
  // Keys and values are read through getters: any kernel call may grow the kernels' memory, which
  // detaches views taken earlier, so every use re-fetches them (cached until the memory grows).
  const keysNow = () => (index ? index.points() : k.data), valuesNow = () => (valueBuf ? valueBuf.view() : v.data);
  const kv: KeyValueView = {
    get keys() { return keysNow(); },
    get values() { return valuesNow(); },
    dim: d, valueDim: dv, index,
    kernels: residentKernels(kernels, keysNow(), valuesNow()), keyNormMax: maxRowNorm(k.data, d, 0, n),
  };
  // 'paper' needs the moments of exactly the visible keys: grown key by key as the prefix grows,
  // one query at a time. Other modes go in batches of BATCH queries, which the index serves in one
  // pass (bounds for the batch's largest prefix; each row reads only its own).
  const moments = o.selection.rule === 'paper' ? new KeyMoments(d) : null;
  const batch = moments ? 1 : BATCH;
  const rows = new RowAttention(o, dv, batch);
  const queries = Array.from({ length: batch + 1 }, (_, c) => new Array<Float32Array>(c));
  const limits = new Int32Array(batch);
  for (let i0 = 0; i0 < m; i0 += batch) {
    const count = Math.min(batch, m - i0), group = queries[count]!;
    let limit = 0;
    for (let h = 0; h < count; h++) {
      group[h] = row(q, i0 + h);
      limits[h] = visibleKeys(m, n, i0 + h, o.causal);
      limit = Math.max(limit, limits[h]!);
    }
    if (moments) while (moments.count < limit) moments.add(k.data, moments.count);
    rows.attendGroup(kv, group, limit, output, i0, errorBound, moments, limits);
  }
  valueBuf?.free();
  const w = rows.work;
  const stats: AttentionStats = {
    keysScored: w.keysScored, keysUsed: w.keysUsed, boundsEvaluated: w.boundsEvaluated, denseQueries: w.denseQueries,
  };
  if (errorBound) stats.errorBound = errorBound;
  return { output: { data: output, rows: m, cols: dv }, stats };
}

/**
 * Dense softmax rows on the kernels (WebAssembly SIMD where available): K, V and q copied into the
 * kernels' memory, tiles of 16 query rows sharing each streamed key block (denseAttentionRows).
 * Declines — returns false, writes nothing — when logits could exceed float32's comfortable range
 * (float32SoftmaxSafe); those rows stay on the float64 path.
 */
function denseOnKernels(q: Matrix, k: Matrix, v: Matrix, o: ResolvedAttentionOptions, output: Float32Array): boolean {
  const m = q.rows, n = k.rows, d = q.cols, dv = v.cols, scale = o.scale;
  if (m === 0 || n === 0 || !float32SoftmaxSafe(maxRowNorm(q.data, d, 0, m), maxRowNorm(k.data, d, 0, n), scale)) return false;
  const kernels = createKernels({ backend: o.backend });
  const kb = kernels.allocF32(n * d), vb = kernels.allocF32(n * dv), qb = kernels.allocF32(m * d);
  kb.view().set(k.data.subarray(0, n * d));
  vb.view().set(v.data.subarray(0, n * dv));
  qb.view().set(q.data.subarray(0, m * d));
  denseAttentionRows(kernels, qb, m, kb, vb, n, 1, d, dv, { kind: 'softmax', scale, bias: 0, alpha: 1 }, o.causal, output);
  return true;
}
