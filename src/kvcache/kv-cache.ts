import { KeyMoments } from '../attention/moments.js';
import { resolveAttentionOptions, type AttentionOptions, type AttentionStats, type ResolvedAttentionOptions } from '../attention/options.js';
import { RowAttention, type KeyValueView } from '../attention/row-attention.js';
import { HsrError } from '../errors.js';
import { maxRowNorm, residentKernels } from '../attention/kernel-rows.js';
import { HalfSpaceIndex } from '../hsr/half-space-index.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import { createKernels } from '../kernels/index.js';
import type { F32Buffer, Kernels } from '../kernels/types.js';
import { assertCount, assertFinite, describe, matrix } from '../tensor/matrix.js';

export interface KVCacheOptions extends Omit<AttentionOptions, 'causal'> {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Default headDim. */
  valueDim?: number;
}

/** One KV head's storage: keys inside its index, values beside them, moments for 'paper'. */
interface KvHeadStore {
  readonly index: HalfSpaceReporter;   // keys [length, headDim], ids = positions
  values: F32Buffer;                   // [capacity, valueDim] in the kernels' memory, grown by doubling
  keyNormMax: number;                  // ≥ the norm of every key appended (kernel scoring margins)
  readonly moments: KeyMoments | null; // running mean / covariance of the keys ('paper' only)
  /** What attend reads; keys and values are getters (fresh views after memory growth). */
  readonly view: Omit<KeyValueView, 'kernels' | 'keyNormMax'> & { -readonly [K in 'kernels' | 'keyNormMax']: KeyValueView[K] };
}

/**
 * A decoding KV cache with grouped-query heads (layout: docs/kv-layout.md). Query head h reads KV
 * head ⌊h / (heads / kvHeads)⌋. Every KV head keeps its keys in a half-space reporting index (the
 * keys' only copy, grown by doubling: amortised O(1) appends) and its values in a row buffer of
 * the kernels' memory (createKernels(), shared with the index): when the index keeps its points
 * there too (the quantized index does), sparse rows score and accumulate their taken keys with the
 * SIMD kernels (kernel-rows.ts). `attend` computes each KV group's query heads together (the index shares one pass over
 * its compressed keys among them) and allocates nothing but its result.
 */
export class KVCache {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly options: ResolvedAttentionOptions;
  private readonly stores: KvHeadStore[];
  private readonly kernels: Kernels;
  private readonly rows: RowAttention;
  /** Copy of the current queries, [heads, headDim], and per KV group the views of its heads. */
  private readonly queryBuf: Float32Array;
  private readonly groupViews: Float32Array[][];

  constructor(options: KVCacheOptions) {
    if (options === null || typeof options !== 'object') {
      throw new HsrError('BAD_OPTION', `KVCache: expected an options object, got ${describe(options)}`);
    }
    const { heads, kvHeads, headDim } = options;
    for (const [name, x] of [['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim]] as const) {
      assertCount(x, `KVCache ${name}`);
      if (x < 1) throw new HsrError('BAD_OPTION', `KVCache: expected ${name} ≥ 1, got ${x}`);
    }
    if (heads % kvHeads !== 0) {
      throw new HsrError('BAD_OPTION', `KVCache: expected heads (${heads}) to be a multiple of kvHeads, got kvHeads = ${kvHeads}`);
    }
    const valueDim = options.valueDim ?? headDim;
    assertCount(valueDim, 'KVCache valueDim');
    if (valueDim < 1) throw new HsrError('BAD_OPTION', `KVCache: expected valueDim ≥ 1, got ${valueDim}`);
    this.heads = heads; this.kvHeads = kvHeads; this.headDim = headDim; this.valueDim = valueDim;
    // Decoding attends to every cached key: `causal` has no meaning here and is not accepted.
    const { causal: _ignored, ...rest } = options as KVCacheOptions & { causal?: unknown };
    this.options = resolveAttentionOptions({ ...rest, causal: false }, headDim, 'KVCache');
    const o = this.options;
    const paper = o.selection.rule === 'paper';
    const kernels = this.kernels = createKernels({ backend: o.backend });
    this.stores = Array.from({ length: kvHeads }, () => {
      // Dense rows only read the keys; the scan "index" is then just their growable store.
      const index = HalfSpaceIndex.build(matrix(new Float32Array(0), 0, headDim), { kind: o.sparse ? o.index : 'scan', kernels }).reporter;
      const store: KvHeadStore = {
        index, values: kernels.allocF32(64 * valueDim), keyNormMax: 0, moments: paper ? new KeyMoments(headDim) : null,
        // Getters: any kernel call may grow the kernels' memory and detach earlier views (and the
        // values buffer is replaced when it grows), so every use re-fetches them.
        view: {
          get keys() { return index.points(); },
          get values() { return store.values.view(); },
          index, dim: headDim, valueDim, kernels: null, keyNormMax: 0,
        },
      };
      return store;
    });
    const group = heads / kvHeads;
    this.rows = new RowAttention(o, valueDim, group);
    this.queryBuf = new Float32Array(heads * headDim);
    this.groupViews = Array.from({ length: kvHeads }, (_, g) =>
      Array.from({ length: group }, (_, i) => this.queryBuf.subarray((g * group + i) * headDim, (g * group + i + 1) * headDim)));
  }

  /** Number of cached positions. */
  get length(): number { return this.stores[0]!.index.size; }

  /**
   * Appends t positions. keys: [t, kvHeads, headDim], values: [t, kvHeads, valueDim] (token-major,
   * as a model's K/V projections produce them).
   */
  append(keys: Float32Array, values: Float32Array): void {
    const kd = this.kvHeads * this.headDim, vd = this.kvHeads * this.valueDim;
    if (!(keys instanceof Float32Array) || !(values instanceof Float32Array)) {
      throw new HsrError('BAD_DTYPE', `KVCache.append: expected Float32Array keys and values, got ${describe(keys)} and ${describe(values)}`);
    }
    if (keys.length % kd !== 0) {
      throw new HsrError('SHAPE_MISMATCH', `KVCache.append: expected keys of length t·kvHeads·headDim = t·${kd}, got ${keys.length}`);
    }
    const t = keys.length / kd;
    if (values.length !== t * vd) {
      throw new HsrError('SHAPE_MISMATCH', `KVCache.append: expected ${t} positions of values = ${t * vd} values, got ${values.length}`);
    }
    assertFinite(keys, 'KVCache.append keys');
    assertFinite(values, 'KVCache.append values');
    for (let p = 0; p < t; p++) {
      for (let g = 0; g < this.kvHeads; g++) {
        const s = this.stores[g]!;
        const key = keys.subarray(p * kd + g * this.headDim, p * kd + (g + 1) * this.headDim);
        const id = s.index.insert(key);
        s.keyNormMax = maxRowNorm(key, this.headDim, 0, 1, s.keyNormMax);
        this.pushValue(s, id, values.subarray(p * vd + g * this.valueDim, p * vd + (g + 1) * this.valueDim));
        s.moments?.add(s.index.points(), id);
      }
    }
  }

  /** Attention of one query per head ([heads, headDim]) over every cached position. */
  attend(queries: Float32Array): { output: Float32Array; stats: AttentionStats } {
    if (!(queries instanceof Float32Array)) {
      throw new HsrError('BAD_DTYPE', `KVCache.attend: expected a Float32Array, got ${describe(queries)}`);
    }
    if (queries.length !== this.heads * this.headDim) {
      throw new HsrError('DIM_MISMATCH', `KVCache.attend: expected heads·headDim = ${this.heads * this.headDim} values, got ${queries.length}`);
    }
    assertFinite(queries, 'KVCache.attend queries');
    const o = this.options, group = this.heads / this.kvHeads, n = this.length;
    const output = new Float32Array(this.heads * this.valueDim);
    const errorBound = o.kind === 'softmax' && o.sparse ? new Float64Array(this.heads) : null;
    this.queryBuf.set(queries);
    this.rows.resetWork();
    for (let g = 0; g < this.kvHeads; g++) {
      const s = this.stores[g]!;
      s.view.kernels = residentKernels(this.kernels, s.view.keys, s.view.values);
      s.view.keyNormMax = s.keyNormMax;
      this.rows.attendGroup(s.view, this.groupViews[g]!, n, output, g * group, errorBound, s.moments);
    }
    const w = this.rows.work;
    const stats: AttentionStats = {
      keysScored: w.keysScored, keysUsed: w.keysUsed, boundsEvaluated: w.boundsEvaluated, denseQueries: w.denseQueries,
    };
    if (errorBound) stats.errorBound = errorBound;
    return { output, stats };
  }

  /** Writes value row `id` of store s, doubling its buffer when full (views re-fetched after the allocation). */
  private pushValue(s: KvHeadStore, id: number, row: Float32Array): void {
    const dv = this.valueDim;
    if ((id + 1) * dv > s.values.length) {
      const grown = this.kernels.allocF32(2 * s.values.length);
      grown.view().set(s.values.view().subarray(0, id * dv));
      s.values.free();
      s.values = grown;
    }
    s.values.view().set(row, id * dv);
  }
}
