/// <reference types="@webgpu/types" />
import { KeyMoments } from '../attention/moments.js';
import { resolveAttentionOptions, type AttentionOptions, type AttentionStats, type ResolvedAttentionOptions } from '../attention/options.js';
import { RowAttention, type KeyValueView } from '../attention/row-attention.js';
import { assertValueSumFits, maxAbs } from '../attention/value-range.js';
import { HsrError } from '../errors.js';
import { maxRowNorm, residentKernels } from '../attention/kernel-rows.js';
import { HalfSpaceIndex } from '../hsr/half-space-index.js';
import { createKernels, type KernelBackend } from '../kernels/index.js';
import { KvHeadStore, resolveGroupedHeads, type GroupedHeadsOptions } from '../kernels/kv-store.js';
import type { Kernels } from '../kernels/types.js';
import { assertFinite, describe, matrix } from '../tensor/matrix.js';
import { webGpuDevice } from '../webgpu/device.js';
import { GpuDecoder } from '../webgpu/decoder.js';

export interface KVCacheOptions extends Omit<AttentionOptions, 'causal' | 'backend'>, GroupedHeadsOptions {
  /** Where attention runs (API.md "Backends"); 'webgpu' needs `KVCache.create` and `attendAsync`. */
  backend?: KernelBackend | 'webgpu';
  /** 'webgpu' only: the GPU to use (default navigator.gpu, or the `webgpu` package in Node). */
  gpu?: GPU;
  /** 'webgpu' only: how keys and values are kept on the GPU (default 'f32'; 'f16' halves the bytes). */
  storage?: 'f32' | 'f16';
}

/** One KV head: its keys and values (the store; the index, when there is one, holds the keys), and what attend reads. */
interface KvHead {
  readonly store: KvHeadStore;
  keyNormMax: number;                  // ≥ the norm of every key appended (kernel scoring margins)
  readonly moments: KeyMoments | null; // running mean / covariance of the keys ('paper' only)
  /** What attend reads; keys and values are the store's (fresh views after memory growth). */
  readonly view: Omit<KeyValueView, 'kernels' | 'keyNormMax'> & { -readonly [K in 'kernels' | 'keyNormMax']: KeyValueView[K] };
}

/**
 * A decoding KV cache with grouped-query heads (layout: docs/kv-layout.md). Query head h reads KV
 * head ⌊h / (heads / kvHeads)⌋. Every KV head is a KvHeadStore (kernels/kv-store.ts: values, and
 * keys in the attached half-space reporting index — their only copy — or in the store itself for
 * dense rows), in the kernels' memory (createKernels()): when the index keeps its points there too
 * (the quantized index does), sparse rows score and accumulate their taken keys with the SIMD
 * kernels (kernel-rows.ts). `attend` computes each KV group's query heads together (the index shares one pass over
 * its compressed keys among them) and allocates nothing but its result.
 */
export class KVCache {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly options: ResolvedAttentionOptions;
  private readonly stores: KvHead[];
  /** The 'webgpu' backend's cache (then `stores` is empty: the keys live on the GPU only). */
  private readonly gpu: GpuDecoder | null;
  private readonly kernels: Kernels;
  private readonly rows: RowAttention;
  /** Copy of the current queries, [heads, headDim], and per KV group the views of its heads. */
  private readonly queryBuf: Float32Array;
  private readonly groupViews: Float32Array[][];
  /** ≥ |v| of every value appended (all KV heads): attend refuses what float32 cannot sum (value-range.ts). */
  private valueAbsMax = 0;
  private destroyed = false;

  /** A cache on any backend ('webgpu' opens its device here, asynchronously). */
  static async create(options: KVCacheOptions): Promise<KVCache> {
    if (options?.backend !== 'webgpu') return new KVCache(options);
    const device = await webGpuDevice(options.gpu);
    return new KVCache(options, device);
  }

  /** Synchronous construction serves the CPU backends; 'webgpu' goes through {@link KVCache.create}. */
  constructor(options: KVCacheOptions, device?: GPUDevice) {
    if (options === null || typeof options !== 'object') {
      throw new HsrError('BAD_OPTION', `KVCache: expected an options object, got ${describe(options)}`);
    }
    const { heads, kvHeads, headDim, valueDim, group } = resolveGroupedHeads(options, 'KVCache');
    this.heads = heads; this.kvHeads = kvHeads; this.headDim = headDim; this.valueDim = valueDim;
    // Decoding attends to every cached key: `causal` has no meaning here and is not accepted.
    const { causal: _ignored, backend = 'auto', gpu: _gpu, storage = 'f32', ...rest } = options as KVCacheOptions & { causal?: unknown };
    if (!['auto', 'js', 'wasm', 'webgpu'].includes(backend)) {
      throw new HsrError('BAD_OPTION', `KVCache: expected backend 'auto', 'js', 'wasm' or 'webgpu', got ${describe(backend)}`);
    }
    if (storage !== 'f32' && storage !== 'f16') throw new HsrError('BAD_OPTION', `KVCache: expected storage 'f32' or 'f16', got ${describe(storage)}`);
    // 'webgpu' keeps nothing on the CPU; its options resolve with the plain-TypeScript kernels.
    this.options = resolveAttentionOptions({ ...rest, backend: backend === 'webgpu' ? 'js' : backend, causal: false }, headDim, 'KVCache');
    const o = this.options;
    const paper = o.selection.rule === 'paper';
    if (backend === 'webgpu') {
      if (!device) throw new HsrError('UNSUPPORTED', "KVCache: backend 'webgpu' opens its GPU asynchronously: use `await KVCache.create(options)`");
      this.gpu = new GpuDecoder(device, { heads, kvHeads, headDim, valueDim, storage }, o);
    } else {
      this.gpu = null;
    }
    const kernels = this.kernels = createKernels({ backend: o.backend });
    this.stores = this.gpu ? [] : Array.from({ length: kvHeads }, () => {
      // Dense rows only read the keys: the store keeps them; sparse rows read them from the index.
      const index = o.sparse ? HalfSpaceIndex.build(matrix(new Float32Array(0), 0, headDim), { kind: o.index, kernels }).reporter : null;
      const store = new KvHeadStore(headDim, valueDim, kernels, index);
      return {
        store, keyNormMax: 0, moments: paper ? new KeyMoments(headDim) : null,
        view: {
          get keys() { return store.keys; },
          get values() { return store.values; },
          index, dim: headDim, valueDim, kernels: null, keyNormMax: 0,
        },
      };
    });
    this.rows = new RowAttention(o, valueDim, group);
    this.queryBuf = new Float32Array(heads * headDim);
    this.groupViews = Array.from({ length: kvHeads }, (_, g) =>
      Array.from({ length: group }, (_, i) => this.queryBuf.subarray((g * group + i) * headDim, (g * group + i + 1) * headDim)));
  }

  /** Number of cached positions. */
  get length(): number { return this.gpu ? this.gpu.length : this.stores[0]?.store.length ?? 0; }

  /**
   * Appends t positions. keys: [t, kvHeads, headDim], values: [t, kvHeads, valueDim] (token-major,
   * as a model's K/V projections produce them).
   */
  append(keys: Float32Array, values: Float32Array): void {
    this.assertOpen('append');
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
    // Raised once the append has succeeded ('webgpu' may refuse it and leave the cache as it was).
    const valueAbsMax = maxAbs(values, this.valueAbsMax);
    if (this.gpu) { this.gpu.append(keys, values); this.valueAbsMax = valueAbsMax; return; }
    this.valueAbsMax = valueAbsMax;
    for (let p = 0; p < t; p++) {
      for (let g = 0; g < this.kvHeads; g++) {
        const s = this.stores[g]!;
        const key = keys.subarray(p * kd + g * this.headDim, p * kd + (g + 1) * this.headDim);
        const id = s.store.append(key, values.subarray(p * vd + g * this.valueDim, p * vd + (g + 1) * this.valueDim));
        s.keyNormMax = maxRowNorm(key, this.headDim, 0, 1, s.keyNormMax);
        s.moments?.add(s.store.keys, id);
      }
    }
  }

  /** Attention of one query per head ([heads, headDim]) over every cached position. */
  attend(queries: Float32Array): { output: Float32Array; stats: AttentionStats } {
    if (this.gpu) throw new HsrError('UNSUPPORTED', "KVCache.attend: backend 'webgpu' answers asynchronously: use `await cache.attendAsync(queries)`");
    this.assertOpen('attend');
    this.checkQueries(queries, 'attend');
    assertValueSumFits(this.length, this.valueAbsMax, 'KVCache.attend');
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

  /**
   * {@link attend} on every backend: a promise of the same result (the GPU's on 'webgpu'). On
   * 'webgpu' the step is submitted during the call: calls made without awaiting each other run in
   * call order (appends in between included) with their GPU round trips overlapped.
   */
  async attendAsync(queries: Float32Array): Promise<{ output: Float32Array; stats: AttentionStats }> {
    if (!this.gpu) return this.attend(queries);
    this.assertOpen('attendAsync');
    this.checkQueries(queries, 'attendAsync');
    assertValueSumFits(this.length, this.valueAbsMax, 'KVCache.attendAsync');
    return this.gpu.attend(queries);
  }

  /**
   * Frees the cache (its length becomes 0): on 'webgpu' its GPU buffers at once (steps already
   * submitted still resolve), on the CPU backends its keys and values to the garbage collector.
   * Later append / attend / attendAsync calls are HsrError CLOSED.
   */
  destroy(): void {
    this.destroyed = true;
    this.gpu?.destroy();
    this.stores.length = 0;
  }

  private assertOpen(where: string): void {
    if (this.destroyed) throw new HsrError('CLOSED', `KVCache.${where}: expected an open cache, got one that was destroyed`);
  }

  private checkQueries(queries: Float32Array, where: string): void {
    if (!(queries instanceof Float32Array)) {
      throw new HsrError('BAD_DTYPE', `KVCache.${where}: expected a Float32Array, got ${describe(queries)}`);
    }
    if (queries.length !== this.heads * this.headDim) {
      throw new HsrError('DIM_MISMATCH', `KVCache.${where}: expected heads·headDim = ${this.heads * this.headDim} values, got ${queries.length}`);
    }
    assertFinite(queries, `KVCache.${where} queries`);
  }
}
