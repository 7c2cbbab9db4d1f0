import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';

/** Which entries of a softmax row are kept (API.md). ReLU attention is always exact. */
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
}

export interface AttentionStats {
  /** Dot products ⟨q,k⟩ evaluated, summed over queries. */
  keysScored: number;
  /** Keys that entered the weighted sum, summed over queries. */
  keysUsed: number;
  /** Softmax with sparsity: per query, certified bound on the total-variation distance between the exact and the used weights. */
  errorBound?: Float64Array;
}

/** Options with defaults filled in and every field checked. */
export interface ResolvedAttentionOptions {
  kind: 'softmax' | 'relu';
  alpha: number;
  bias: number;
  scale: number;
  causal: boolean;
  sparsity: Sparsity;
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
  return { kind, alpha, bias, scale, causal, sparsity };
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
