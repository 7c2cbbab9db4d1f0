/**
 * The attention modes a run can select, and the per-layer attention each one builds. Modes of the
 * library itself go through `KVCache` (dense, the sparse softmax modes, exact sparse ReLU); the
 * baselines (sink+window, page top-k) run on their own store (baselines.ts). The attention kind
 * (softmax or ReLU^α with its bias) always comes from the model's config.
 */
import { resolveAttentionOptions, type AttentionOptions, type Sparsity } from '../attention/options.js';
import { HsrError } from '../errors.js';
import { createKernels, type KernelBackend } from '../kernels/index.js';
import { KVCache, type KVCacheOptions } from '../kvcache/kv-cache.js';
import { describe } from '../tensor/matrix.js';
import { FlashAttention, PageTopKAttention, SinkWindowAttention } from './baselines.js';
import type { ModelConfig } from './config.js';
import type { AttentionShape, LayerAttention } from './layer-attention.js';
import type { AttentionFactory } from './llama.js';

export type AttentionMode =
  | { kind: 'dense' }
  /** Dense attention on the kernels' Flash-Decoding path (DenseDecoder), the dense-kernel yardstick. */
  | { kind: 'flash' }
  /** Exact sparse attention through the HSR index: the default for ReLU models (softmax: not offered). */
  | { kind: 'sparse' }
  | { kind: 'paper' }
  | { kind: 'threshold'; threshold: number }
  | { kind: 'topk'; topK: number }
  | { kind: 'certified'; epsilon: number }
  | { kind: 'window'; sinks: number; window: number }
  | { kind: 'page-topk'; pageSize: number; budget: number };

export const ATTENTION_KINDS = ['dense', 'flash', 'sparse', 'certified', 'threshold', 'topk', 'paper', 'window', 'page-topk'] as const;
/** The modes that run on the library's KVCache (the others are the flash kernel and the baselines). */
const LIBRARY_KINDS: readonly string[] = ['dense', 'sparse', 'certified', 'threshold', 'topk', 'paper'];

/** The mode a model runs with when none is asked for: dense softmax, exact sparse ReLU. */
export function defaultAttention(config: ModelConfig): AttentionMode {
  return config.attention.kind === 'relu' ? { kind: 'sparse' } : { kind: 'dense' };
}

/** A short label for tables: `certified ε=0.01`, `window 4+256`, … */
export function describeAttention(mode: AttentionMode): string {
  switch (mode.kind) {
    case 'threshold': return `threshold t=${mode.threshold}`;
    case 'topk': return `top-k k=${mode.topK}`;
    case 'certified': return `certified ε=${mode.epsilon}`;
    case 'window': return `sink+window ${mode.sinks}+${mode.window}`;
    case 'page-topk': return `page top-k ${mode.budget}/${mode.pageSize}`;
    case 'sparse': return 'exact sparse';
    case 'flash': return 'dense (flash kernel)';
    default: return mode.kind;
  }
}

/** The KVCache sparsity of a mode that runs on the library's KVCache (not the baselines). */
export function cacheSparsity(mode: Exclude<AttentionMode, { kind: 'flash' | 'window' | 'page-topk' }>): Sparsity {
  switch (mode.kind) {
    case 'dense': return 'dense';
    case 'sparse': return 'exact';
    case 'paper': return 'paper';
    case 'threshold': return { threshold: mode.threshold };
    case 'topk': return { topK: mode.topK };
    case 'certified': return { epsilon: mode.epsilon };
  }
}

/** Choices for the modes that do not go through KVCache. */
export interface AttentionFactoryOptions {
  /** HSR index kind for the library's sparse modes (default: the library's). */
  index?: string;
  /**
   * Kernel backend of flash, sink+window and page top-k (each layer gets its own backend memory).
   * Default 'auto' (WebAssembly SIMD where available). KVCache's modes choose their own arithmetic.
   */
  kernels?: KernelBackend;
}

/** Per-layer attention for `mode` on a model, for sequences of up to `capacity` positions. */
export function attentionFactory(mode: AttentionMode, config: ModelConfig, capacity: number, options: AttentionFactoryOptions = {}): AttentionFactory {
  const { index } = options;
  const kernels = () => createKernels({ backend: options.kernels ?? 'auto' });
  const a = config.attention;
  const shape: AttentionShape = {
    heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim, capacity,
    kind: a.kind, alpha: a.kind === 'relu' ? a.alpha : 1, bias: a.kind === 'relu' ? a.bias : 0,
    scale: 1 / Math.sqrt(config.headDim),
  };
  if (mode.kind === 'window') {
    if (!Number.isSafeInteger(mode.sinks) || mode.sinks < 0 || !Number.isSafeInteger(mode.window) || mode.window < 1) {
      throw new HsrError('BAD_OPTION', `window attention: expected sinks ≥ 0 and window ≥ 1 (integers), got ${mode.sinks} and ${mode.window}`);
    }
    return () => new SinkWindowAttention(shape, kernels(), mode.sinks, mode.window);
  }
  if (mode.kind === 'page-topk') {
    if (!Number.isSafeInteger(mode.pageSize) || mode.pageSize < 1 || !Number.isSafeInteger(mode.budget) || mode.budget < mode.pageSize) {
      throw new HsrError('BAD_OPTION', `page top-k attention: expected pageSize ≥ 1 and budget ≥ pageSize (integers), got ${mode.pageSize} and ${mode.budget}`);
    }
    return () => new PageTopKAttention(shape, kernels(), mode.pageSize, mode.budget);
  }
  if (mode.kind === 'flash') return () => new FlashAttention(shape, kernels());
  if (!LIBRARY_KINDS.includes(mode.kind)) throw new HsrError('BAD_OPTION', `expected an attention mode, got ${describe((mode as { kind: unknown }).kind)}`);
  const cacheOptions: KVCacheOptions & AttentionOptions = {
    heads: shape.heads, kvHeads: shape.kvHeads, headDim: shape.headDim,
    kind: shape.kind, alpha: shape.alpha, bias: shape.bias, scale: shape.scale,
    sparsity: cacheSparsity(mode as Parameters<typeof cacheSparsity>[0]), ...(index === undefined ? {} : { index }),
  };
  // Checked now, not at the first layer: a mode the model's weighting does not have (a softmax rule
  // on a ReLU model, exact sparse on a softmax model) is BAD_OPTION naming what is allowed.
  resolveAttentionOptions(cacheOptions, shape.headDim, `attention '${mode.kind}' on a ${shape.kind} model`);
  return () => new CacheAttention(new KVCache(cacheOptions));
}

/** The library's KVCache as a layer's attention. */
export class CacheAttention implements LayerAttention {
  keysScored = 0;
  keysUsed = 0;
  /** Largest certified total-variation bound seen (softmax sparse modes), over steps and heads. */
  maxErrorBound = 0;
  /** Rows of a softmax sparse mode (those with an errorBound), and how many of them were computed densely (stats.denseQueries). */
  sparseModeRows = 0;
  denseRows = 0;

  constructor(readonly cache: KVCache) {}

  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void {
    this.cache.append(keys, values);
    const { output, stats } = this.cache.attend(queries);
    out.set(output);
    this.keysScored += stats.keysScored;
    this.keysUsed += stats.keysUsed;
    if (stats.errorBound) for (const e of stats.errorBound) if (e > this.maxErrorBound) this.maxErrorBound = e;
    this.sparseModeRows += stats.errorBound?.length ?? 0;
    this.denseRows += stats.denseQueries ?? 0;
  }
}
