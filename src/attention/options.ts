import { HsrError } from '../errors.js';
import { indexKinds } from '../hsr/half-space-index.js';
import { KERNEL_BACKENDS, type KernelBackend } from '../kernels/index.js';
import type { Weighting } from '../kernels/types.js';
import { describe } from '../tensor/matrix.js';

/**
 * Which keys a row attends to (docs/api.md): every visible key (`'dense'`), or a subset. Softmax
 * keeps the keys with scaled logit ≥ threshold, the paper's per-query threshold, the top k, or enough
 * keys for a certified total-variation error ≤ ε. ReLU takes `'exact'`: the index reports exactly the
 * keys with positive weight (its default; the softmax rules would change its answer, so they are
 * rejected for ReLU).
 */
export type Sparsity =
  | 'dense'
  | 'exact'
  | 'paper'
  | { threshold: number }
  | { topK: number }
  | { epsilon: number };

/** How scores become weights: softmax, or ReLU^α(⟨q,k⟩·scale − bias). Resolved form: kernels/types.ts `Weighting`. */
export interface WeightingOptions {
  kind: 'softmax' | 'relu';
  /** ReLU: integer power ≥ 1 (default 1). */
  alpha?: number;
  /** ReLU: b in ReLU^α(⟨q,k⟩·scale − b) (default 0). */
  bias?: number;
  /** Default 1/√d. */
  scale?: number;
}

/**
 * The option vocabulary: weighting × selection (`sparsity`) × index × backend. Combinations that do
 * not exist (ReLU with a softmax selection rule, softmax with 'exact') are BAD_OPTION.
 */
export interface AttentionOptions extends WeightingOptions {
  /** Query i sees keys j ≤ i + (n − m). */
  causal?: boolean;
  /** Default: 'dense' for softmax, 'exact' for ReLU. */
  sparsity?: Sparsity;
  /**
   * Which half-space reporting index serves the sparse modes (and ReLU, which is always exact):
   * any registered kind ('scan', 'quantized', 'ball-tree', …). Default: 'quantized' when registered,
   * else 'scan'.
   */
  index?: string;
  /**
   * Kernel backend (createKernels): 'auto' (default: WebAssembly where the host has SIMD — the
   * relaxed-SIMD build where it passes its known-answer test), 'wasm', 'wasm-simd', 'wasm-relaxed',
   * 'wasm-relaxed-q7' or 'js'.
   */
  backend?: KernelBackend;
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

/**
 * The selection rule of a row, resolved (one per {@link Sparsity}): `dense` scores every visible key
 * without an index; the others go through the index — `exact` (ReLU: the keys with positive weight),
 * and the softmax rules `threshold`, `paper`, `top-k`, `certified`.
 */
export type Selection =
  | { readonly rule: 'dense' }
  | { readonly rule: 'exact' }
  | { readonly rule: 'threshold'; readonly threshold: number }
  | { readonly rule: 'paper' }
  | { readonly rule: 'top-k'; readonly topK: number }
  | { readonly rule: 'certified'; readonly epsilon: number };

/** Options with defaults filled in and every field checked. */
export interface ResolvedAttentionOptions extends Weighting {
  causal: boolean;
  selection: Selection;
  /** Whether rows go through the index: every selection but 'dense'. */
  sparse: boolean;
  /** The index kind for sparse rows (validated against the registry). */
  index: string;
  backend: KernelBackend;
}

const BACKENDS = KERNEL_BACKENDS;

/** Validates `options` for head dimension `d` and fills defaults; throws BAD_OPTION naming the field. */
export function resolveAttentionOptions(options: AttentionOptions, d: number, where: string): ResolvedAttentionOptions {
  if (options === null || typeof options !== 'object') {
    throw new HsrError('BAD_OPTION', `${where}: expected an options object, got ${describe(options)}`);
  }
  const { kind, alpha, bias, scale } = resolveWeighting(options, d, where);
  const causal = options.causal ?? false;
  if (typeof causal !== 'boolean') {
    throw new HsrError('BAD_OPTION', `${where}: expected causal to be a boolean, got ${describe(causal)}`);
  }
  const selection = resolveSelection(kind, options.sparsity, where);
  const index = options.index ?? defaultIndexKind();
  if (typeof index !== 'string' || !indexKinds().includes(index)) {
    throw new HsrError('BAD_OPTION', `${where}: expected index one of ${indexKinds().join(', ')}, got ${describe(index)}`);
  }
  const backend = options.backend ?? 'auto';
  if (!BACKENDS.includes(backend)) {
    throw new HsrError('BAD_OPTION', `${where}: expected backend ${BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${describe(backend)}`);
  }
  return { kind, alpha, bias, scale, causal, selection, sparse: selection.rule !== 'dense', index, backend };
}

/** The weighting of `options` with defaults (alpha 1, bias 0, scale 1/√d), checked; throws BAD_OPTION. */
export function resolveWeighting(options: WeightingOptions, d: number, where: string): Weighting {
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
  return { kind, alpha, bias, scale };
}

/** 'quantized' (one pass over int8 keys with certified bounds) when that kind is registered, else 'scan'. */
export function defaultIndexKind(): string {
  return indexKinds().includes('quantized') ? 'quantized' : 'scan';
}

/**
 * The selection rule `sparsity` asks for under weighting `kind` (default: dense softmax, exact ReLU);
 * throws BAD_OPTION for a malformed value and for a rule the weighting does not have, naming the
 * values that are allowed.
 */
export function resolveSelection(kind: 'softmax' | 'relu', sparsity: unknown, where: string): Selection {
  const s = sparsity ?? (kind === 'softmax' ? 'dense' : 'exact');
  const selection = parseSparsity(s);
  if (selection === null) {
    throw new HsrError('BAD_OPTION',
      `${where}: expected sparsity 'dense', 'exact', 'paper', { threshold: finite }, { topK: integer ≥ 1 } or { epsilon: 0 < ε < 1 }, got ${JSON.stringify(s)}`);
  }
  if (kind === 'relu' && selection.rule !== 'dense' && selection.rule !== 'exact') {
    throw new HsrError('BAD_OPTION',
      `${where}: ReLU attention is exact (the index reports exactly the keys with positive weight): expected sparsity 'exact' (the default) or 'dense', got ${JSON.stringify(s)}`);
  }
  if (kind === 'softmax' && selection.rule === 'exact') {
    throw new HsrError('BAD_OPTION',
      `${where}: softmax attention takes sparsity 'dense' (the default), 'paper', { threshold }, { topK } or { epsilon } ('exact' is ReLU's), got 'exact'`);
  }
  return selection;
}

function parseSparsity(s: unknown): Selection | null {
  if (s === 'dense' || s === 'exact' || s === 'paper') return { rule: s };
  if (s === null || typeof s !== 'object') return null;
  const o = s as Record<string, unknown>, keys = Object.keys(o);
  if (keys.length !== 1) return null;
  const v = o[keys[0]!];
  if (keys[0] === 'threshold' && typeof v === 'number' && Number.isFinite(v)) return { rule: 'threshold', threshold: v };
  if (keys[0] === 'topK' && Number.isSafeInteger(v) && (v as number) >= 1) return { rule: 'top-k', topK: v as number };
  if (keys[0] === 'epsilon' && typeof v === 'number' && v > 0 && v < 1) return { rule: 'certified', epsilon: v };
  return null;
}
