import { HsrError } from '../errors.js';
import { indexKinds } from '../hsr/half-space-index.js';
import { describe } from '../tensor/matrix.js';

/** Which entries of a softmax row are kept (docs/api.md). ReLU attention is always exact. */
export type Sparsity =
  | 'dense'
  | 'paper'
  | { threshold: number }
  | { topK: number }
  | { epsilon: number };

export interface AttentionOptions {
  kind: 'softmax' | 'relu';
  /** ReLU: integer power ≥ 1 (default 1). */
  alpha?: number;
  /** ReLU: b in ReLU^α(⟨q,k⟩·scale − b) (default 0). */
  bias?: number;
  /** Default 1/√d. */
  scale?: number;
  /** Query i sees keys j ≤ i + (n − m). */
  causal?: boolean;
  sparsity?: Sparsity;
  /**
   * Which half-space reporting index serves the sparse modes (and ReLU, which is always exact):
   * any registered kind ('scan', 'quantized', 'ball-tree', …). Default: 'quantized' when registered,
   * else 'scan'.
   */
  index?: string;
}

export interface AttentionStats {
  /** Dot products ⟨q,k⟩ evaluated, summed over queries. */
  keysScored: number;
  /** Keys that entered the weighted sum, summed over queries. */
  keysUsed: number;
  /** Softmax with sparsity: per query, certified bound on the total-variation distance between the exact and the used weights. */
  errorBound?: Float64Array;
  /** Certified bounds evaluated by the index (compressed keys or tree nodes), summed over queries. */
  boundsEvaluated?: number;
  /**
   * Softmax with sparsity: queries whose selection ended up using every visible key (e.g. uniform
   * scores in certified mode, or an index whose bounds could not separate the keys) — the mode
   * degraded to dense for them, exactly, with errorBound 0.
   */
  denseQueries?: number;
}

/** Options with defaults filled in and every field checked. */
export interface ResolvedAttentionOptions {
  kind: 'softmax' | 'relu';
  alpha: number;
  bias: number;
  scale: number;
  causal: boolean;
  sparsity: Sparsity;
  /**
   * Whether rows go through the index: softmax with a sparsity other than 'dense'; ReLU unless
   * `sparsity: 'dense'` was asked for explicitly (ReLU via the index is exact, so it is the default).
   */
  sparse: boolean;
  /** The index kind for sparse rows (validated against the registry). */
  index: string;
}

/** Validates `options` for head dimension `d` and fills defaults; throws BAD_OPTION naming the field. */
export function resolveAttentionOptions(options: AttentionOptions, d: number, where: string): ResolvedAttentionOptions {
  if (options === null || typeof options !== 'object') {
    throw new HsrError('BAD_OPTION', `${where}: expected an options object, got ${describe(options)}`);
  }
  const { kind } = options;
  if (kind !== 'softmax' && kind !== 'relu') {
    throw new HsrError('BAD_OPTION', `${where}: expected kind 'softmax' or 'relu', got ${describe(kind)}`);
  }
  const alpha = options.alpha ?? 1;
  if (!Number.isSafeInteger(alpha) || alpha < 1) {
    throw new HsrError('BAD_OPTION', `${where}: expected alpha to be an integer ≥ 1, got ${describe(alpha)}`);
  }
  const bias = options.bias ?? 0;
  if (typeof bias !== 'number' || !Number.isFinite(bias)) {
    throw new HsrError('BAD_OPTION', `${where}: expected a finite bias, got ${describe(bias)}`);
  }
  const scale = options.scale ?? 1 / Math.sqrt(Math.max(d, 1));
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
    throw new HsrError('BAD_OPTION', `${where}: expected a finite scale > 0, got ${describe(scale)}`);
  }
  const causal = options.causal ?? false;
  if (typeof causal !== 'boolean') {
    throw new HsrError('BAD_OPTION', `${where}: expected causal to be a boolean, got ${describe(causal)}`);
  }
  const sparsity = options.sparsity ?? 'dense';
  validateSparsity(sparsity, where);
  const sparse = kind === 'softmax' ? sparsity !== 'dense' : options.sparsity !== 'dense';
  const index = options.index ?? defaultIndexKind();
  if (typeof index !== 'string' || !indexKinds().includes(index)) {
    throw new HsrError('BAD_OPTION', `${where}: expected index one of ${indexKinds().join(', ')}, got ${describe(index)}`);
  }
  return { kind, alpha, bias, scale, causal, sparsity, sparse, index };
}

/** 'quantized' (one pass over int8 keys with certified bounds) when that kind is registered, else 'scan'. */
export function defaultIndexKind(): string {
  return indexKinds().includes('quantized') ? 'quantized' : 'scan';
}

function validateSparsity(s: unknown, where: string): asserts s is Sparsity {
  if (s === 'dense' || s === 'paper') return;
  if (s !== null && typeof s === 'object') {
    const o = s as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const v = o[keys[0]!];
      if (keys[0] === 'threshold' && typeof v === 'number' && Number.isFinite(v)) return;
      if (keys[0] === 'topK' && Number.isSafeInteger(v) && (v as number) >= 1) return;
      if (keys[0] === 'epsilon' && typeof v === 'number' && v > 0 && v < 1) return;
    }
  }
  throw new HsrError('BAD_OPTION',
    `${where}: expected sparsity 'dense', 'paper', { threshold: finite }, { topK: integer ≥ 1 } or { epsilon: 0 < ε < 1 }, got ${JSON.stringify(s)}`);
}
