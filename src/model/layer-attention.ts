import type { Weighting } from '../kernels/types.js';

/**
 * What a transformer layer needs from attention, one position at a time: store this position's
 * keys and values, then attend this position's queries to everything stored so far. Every attention
 * mode the runner offers (the library's KVCache with its sparsity modes, and the sink+window and
 * page top-k baselines) implements it, so comparisons run through the same forward pass.
 */
export interface LayerAttention {
  /**
   * Appends keys and values (kvHeads·headDim each) for the next position, then writes the
   * attention of `queries` (heads·headDim) over all stored positions into `out` (heads·headDim).
   */
  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void;
  /** Work so far, summed over steps and query heads (AttentionStats semantics). */
  readonly keysScored: number;
  readonly keysUsed: number;
}

/** The attention geometry of one layer, and its weighting. */
export interface AttentionShape extends Weighting {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Positions to reserve room for (the longest sequence this run will see). */
  capacity: number;
}
