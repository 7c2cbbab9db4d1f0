/**
 * The two jobs a user runs a model for, browser-safe (the CLI in src/cli/ wraps them):
 * perplexity of a text (per-token NLL, the docs/api.md result) and generation from a prompt.
 */
import { HsrError } from '../errors.js';
import type { KernelBackend } from '../kernels/index.js';
import { attentionFactory, CacheAttention, defaultAttention, type AttentionMode } from './attention-mode.js';
import type { AttentionFactory, LlamaModel } from './llama.js';
import { LlamaSession } from './llama.js';
import { negLogLikelihood } from './ops.js';
import { Sampler, type SamplerOptions } from './sampler.js';

export interface RunOptions {
  /** Default: the model's own (dense softmax, exact sparse ReLU). */
  attention?: AttentionMode;
  /** HSR index kind for the library's sparse modes (default: the library's default). */
  index?: string;
  /** Kernel backend of the flash, sink+window and page top-k modes (default 'auto', see AttentionFactoryOptions). */
  attentionKernels?: KernelBackend;
  /** Builds each layer's attention instead of `attention` (e.g. an instrumented one); `attention` then only names the run. */
  factory?: AttentionFactory;
  /** Tokens per forward block (default 32). */
  block?: number;
  /** Called after each block with tokens done and total. */
  onProgress?: (done: number, total: number) => void;
}

/** The perplexity result of docs/api.md, plus counters that make keysUsed interpretable. */
export interface PerplexityResult {
  /** Tokens read (the text's first N bytes); `nll` has one entry per predicted token, N − 1. */
  tokens: number;
  /** −ln p(token[i+1] | token[0..i]), natural log. */
  nll: number[];
  /** Mean NLL in bits (= bits per byte for the byte-level models). */
  bitsPerToken: number;
  /** Wall-clock seconds of the forward passes (model loading excluded). */
  seconds: number;
  /** Dot products ⟨q,k⟩ evaluated, summed over layers, positions and query heads. */
  keysScored: number;
  /** Keys that entered a weighted sum, summed the same way. */
  keysUsed: number;
  /** Keys dense attention would use, summed the same way (Σ layers·heads·(p+1)): keysUsed / keysVisible is the kept fraction. */
  keysVisible: number;
  /** Largest certified total-variation bound of any row (softmax sparse modes; 0 otherwise). */
  maxErrorBound: number;
  /**
   * Softmax sparse modes: the fraction of their rows computed densely instead (≤ 1024 visible keys,
   * or scores too flat to skip any key); such rows cost a dense row or more. 0 for other modes.
   */
  denseFallbackFraction: number;
}

const now = (): number => (globalThis as unknown as { performance: { now(): number } }).performance.now();

function session(model: LlamaModel, capacity: number, options: RunOptions): LlamaSession {
  const mode = options.attention ?? defaultAttention(model.config);
  const factory = options.factory ?? attentionFactory(mode, model.config, capacity, { index: options.index, kernels: options.attentionKernels });
  return new LlamaSession(model, factory, { block: options.block ?? 32 });
}

/** Keys dense attention reads over positions 0 … n−1, summed over layers and query heads. */
export function keysVisible(model: LlamaModel, n: number): number {
  return model.config.layers * model.config.heads * (n * (n + 1)) / 2;
}

function maxErrorBound(s: LlamaSession): number {
  return s.attention.reduce((m, a) => Math.max(m, a instanceof CacheAttention ? a.maxErrorBound : 0), 0);
}

function denseFallbackFraction(s: LlamaSession): number {
  let rows = 0, dense = 0;
  for (const a of s.attention) if (a instanceof CacheAttention) { rows += a.sparseModeRows; dense += a.denseRows; }
  return rows > 0 ? dense / rows : 0;
}

/** Per-token NLL of `tokens` under the model with the chosen attention. */
export function perplexity(model: LlamaModel, tokens: ArrayLike<number>, options: RunOptions = {}): PerplexityResult {
  const n = tokens.length, V = model.config.vocabSize;
  if (n < 2 || n > model.config.maxPositions) {
    throw new HsrError('BAD_OPTION', `perplexity: expected 2 to ${model.config.maxPositions} tokens (the model's context), got ${n}`);
  }
  const s = session(model, n, options);
  const nll: number[] = [];
  const t0 = now();
  for (let i = 0; i < n; i += s.block) {
    const m = Math.min(s.block, n - i);
    s.forward(tokens, i, m);
    for (let r = 0; r < m && i + r + 1 < n; r++) {
      const x = negLogLikelihood(s.logits, r * V, V, tokens[i + r + 1]!);
      if (!Number.isFinite(x)) throw nonFinite('perplexity', 'log-likelihoods', x, i + r + 1);
      nll.push(x);
    }
    options.onProgress?.(i + m, n);
  }
  const seconds = (now() - t0) / 1000;
  const mean = nll.reduce((a, b) => a + b, 0) / nll.length;
  return {
    tokens: n, nll, bitsPerToken: mean / Math.LN2, seconds,
    keysScored: s.keysScored, keysUsed: s.keysUsed, keysVisible: keysVisible(model, n), maxErrorBound: maxErrorBound(s), denseFallbackFraction: denseFallbackFraction(s),
  };
}

export interface GenerateResult {
  /** The generated tokens (prompt excluded). */
  tokens: number[];
  promptTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  keysScored: number;
  keysUsed: number;
  /** Largest certified total-variation bound of any row (softmax sparse modes; 0 otherwise). */
  maxErrorBound: number;
  /** As PerplexityResult's: the fraction of a softmax sparse mode's rows computed densely (0 for other modes). */
  denseFallbackFraction: number;
}

/**
 * Continues `prompt` by up to `maxTokens` tokens (fewer if the context fills up), calling `onToken`
 * as each one is chosen.
 */
export function generate(model: LlamaModel, prompt: ArrayLike<number>, maxTokens: number,
  options: RunOptions & { sampler?: SamplerOptions; onToken?: (token: number) => void } = {}): GenerateResult {
  const ctx = model.config.maxPositions, V = model.config.vocabSize;
  if (prompt.length < 1 || prompt.length >= ctx) throw new HsrError('BAD_OPTION', `generate: expected a prompt of 1 to ${ctx - 1} tokens, got ${prompt.length}`);
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 0) throw new HsrError('BAD_OPTION', `generate: expected maxTokens ≥ 0, got ${maxTokens}`);
  const total = Math.min(ctx, prompt.length + maxTokens);
  const s = session(model, total, options);
  const sampler = new Sampler(V, options.sampler);
  const t0 = now();
  let last = 0;
  for (let i = 0; i < prompt.length; i += s.block) {
    const m = Math.min(s.block, prompt.length - i);
    s.forward(prompt, i, m, i + m === prompt.length);   // only the last block's logits are needed
    last = m - 1;
  }
  const t1 = now();
  const out: number[] = [];
  const one = [0];
  while (out.length < maxTokens) {
    for (let j = last * V; j < (last + 1) * V; j++) if (!Number.isFinite(s.logits[j]!)) throw nonFinite('generate', 'logits', s.logits[j]!, s.pos);
    const t = sampler.sample(s.logits, last * V);
    out.push(t);
    options.onToken?.(t);
    options.onProgress?.(out.length, maxTokens);
    if (out.length === maxTokens || s.pos >= ctx) break;   // the last token needs no forward; a full context allows none
    one[0] = t;
    s.forward(one, 0, 1);
    last = 0;
  }
  return {
    tokens: out, promptTokens: prompt.length, prefillSeconds: (t1 - t0) / 1000, decodeSeconds: (now() - t1) / 1000,
    keysScored: s.keysScored, keysUsed: s.keysUsed, maxErrorBound: maxErrorBound(s), denseFallbackFraction: denseFallbackFraction(s),
  };
}

/** Non-finite output from finite weights: activations overflowed float32 (or the attention produced NaN). */
function nonFinite(what: string, of: string, x: number, position: number): HsrError {
  return new HsrError('NON_FINITE', `${what}: expected finite ${of}, got ${x} at position ${position} (an activation overflowed float32)`);
}
