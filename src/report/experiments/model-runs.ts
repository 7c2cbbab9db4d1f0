/**
 * One model over one text with one attention mode, with what the report needs beyond
 * `perplexity()` (src/model/run.ts): work counters per layer, and per-layer kept fractions in the
 * blocks that end at chosen positions (sparsity at 2k / 4k / 8k). Same session, same factory, same
 * NLL as `perplexity()`, so the numbers agree with `hsr-attn perplexity`.
 */
import { attentionFactory, describeAttention, type AttentionMode } from '../../model/attention-mode.js';
import type { KernelBackend } from '../../kernels/index.js';
import { LlamaSession, type LlamaModel } from '../../model/llama.js';
import { negLogLikelihood } from '../../model/ops.js';
import { timed } from '../timing.js';

export interface LayerWork {
  /** Keys scored / keys visible (what the attention touched), summed over positions and heads. */
  scoredFraction: number;
  /** Keys in a weighted sum / keys visible. */
  usedFraction: number;
}

export interface ModelRun {
  mode: string;
  tokens: number;
  nll: number[];
  bitsPerByte: number;
  seconds: number;
  tokensPerSecond: number;
  /** Per layer over the whole run. */
  layers: LayerWork[];
  /** All layers together. */
  total: LayerWork;
  /** Per requested position p: per layer, the fractions over the block of positions ending at p. */
  checkpoints: { position: number; layers: LayerWork[] }[];
}

export interface ModelRunOptions {
  index?: string;
  /** Backend of the dense kernel ('flash'), sink+window and page top-k (default: the factory's). */
  kernels?: KernelBackend;
  block?: number;
  /** Positions (multiples of the block size) at which to record per-layer fractions of the block ending there. */
  checkpoints?: readonly number[];
  onProgress?: (done: number, total: number) => void;
}

export function runModel(model: LlamaModel, tokens: ArrayLike<number>, mode: AttentionMode, options: ModelRunOptions = {}): ModelRun {
  const c = model.config, n = tokens.length, V = c.vocabSize;
  const s = new LlamaSession(model, attentionFactory(mode, c, n, {
    ...(options.index === undefined ? {} : { index: options.index }), ...(options.kernels === undefined ? {} : { kernels: options.kernels }) }), { block: options.block ?? 32 });
  const nll: number[] = [];
  const checkpoints: ModelRun['checkpoints'] = [];
  const wanted = new Set(options.checkpoints ?? []);
  const visibleUpTo = (p: number) => c.heads * (p * (p + 1)) / 2;   // Σ over positions < p of heads·(pos+1)
  const work = () => s.attention.map((a) => [a.keysScored, a.keysUsed] as const);
  const { ms } = timed(() => {
    for (let i = 0; i < n; i += s.block) {
      const m = Math.min(s.block, n - i);
      const before = work();
      s.forward(tokens, i, m);
      for (let r = 0; r < m && i + r + 1 < n; r++) nll.push(negLogLikelihood(s.logits, r * V, V, tokens[i + r + 1]!));
      if (wanted.has(i + m)) {
        const vis = visibleUpTo(i + m) - visibleUpTo(i);
        checkpoints.push({ position: i + m, layers: work().map(([sc, us], l) => ({
          scoredFraction: (sc - before[l]![0]) / vis, usedFraction: (us - before[l]![1]) / vis })) });
      }
      options.onProgress?.(i + m, n);
    }
  });
  const vis = visibleUpTo(n);
  const layers = s.attention.map((a) => ({ scoredFraction: a.keysScored / vis, usedFraction: a.keysUsed / vis }));
  const seconds = ms / 1000;
  return {
    mode: describeAttention(mode), tokens: n, nll, bitsPerByte: nll.reduce((a, b) => a + b, 0) / nll.length / Math.LN2,
    seconds, tokensPerSecond: n / seconds, layers,
    total: { scoredFraction: s.keysScored / (vis * c.layers), usedFraction: s.keysUsed / (vis * c.layers) },
    checkpoints,
  };
}
