/**
 * Models over one text with several attention modes, with what the report needs beyond
 * `perplexity()` (src/model/run.ts): work counters per layer, per-layer kept fractions in the
 * blocks that end at chosen positions (sparsity at 2k / 4k / 8k), and honest tokens/s: the modes'
 * sessions advance one block each in turn (A, B, C, A, B, C, …), so load from other processes hits
 * all of them alike. Same session, factory and NLL as `perplexity()`, so the numbers agree with
 * `hsr-attn perplexity`.
 */
import type { KernelBackend } from '../../kernels/index.js';
import { attentionFactory, describeAttention, type AttentionMode } from '../../model/attention-mode.js';
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
  /** Wall-clock seconds of this mode's forward passes (its blocks only). */
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
  /** Called after each round (every mode advanced by one block) with positions done and total. */
  onRound?: (done: number, total: number) => void;
}

/** One mode's session over the text, advanced block by block. */
class ModelRunner {
  private readonly session: LlamaSession;
  private readonly nll: number[] = [];
  private readonly checkpoints: ModelRun['checkpoints'] = [];
  private ms = 0;
  pos = 0;

  constructor(private readonly model: LlamaModel, private readonly tokens: ArrayLike<number>, private readonly mode: AttentionMode,
    private readonly options: ModelRunOptions) {
    this.session = new LlamaSession(model, attentionFactory(mode, model.config, tokens.length, {
      ...(options.index === undefined ? {} : { index: options.index }), ...(options.kernels === undefined ? {} : { kernels: options.kernels }),
    }), { block: options.block ?? 32 });
  }

  get done(): boolean { return this.pos >= this.tokens.length; }

  /** Σ over positions < p of heads·(pos + 1): the keys dense attention reads per layer. */
  private visibleUpTo(p: number): number { return this.model.config.heads * (p * (p + 1)) / 2; }

  step(): void {
    const s = this.session, n = this.tokens.length, V = this.model.config.vocabSize, i = this.pos;
    const m = Math.min(s.block, n - i);
    const before = s.attention.map((a) => [a.keysScored, a.keysUsed] as const);
    this.ms += timed(() => s.forward(this.tokens, i, m)).ms;
    for (let r = 0; r < m && i + r + 1 < n; r++) this.nll.push(negLogLikelihood(s.logits, r * V, V, this.tokens[i + r + 1]!));
    this.pos += m;
    if (this.options.checkpoints?.includes(this.pos)) {
      const vis = this.visibleUpTo(this.pos) - this.visibleUpTo(i);
      this.checkpoints.push({ position: this.pos, layers: s.attention.map((a, l) => ({
        scoredFraction: (a.keysScored - before[l]![0]) / vis, usedFraction: (a.keysUsed - before[l]![1]) / vis })) });
    }
  }

  result(): ModelRun {
    const s = this.session, n = this.tokens.length, layers = this.model.config.layers, vis = this.visibleUpTo(n);
    const seconds = this.ms / 1000;
    return {
      mode: describeAttention(this.mode), tokens: n, nll: this.nll,
      bitsPerByte: this.nll.reduce((a, b) => a + b, 0) / this.nll.length / Math.LN2, seconds, tokensPerSecond: n / seconds,
      layers: s.attention.map((a) => ({ scoredFraction: a.keysScored / vis, usedFraction: a.keysUsed / vis })),
      total: { scoredFraction: s.keysScored / (vis * layers), usedFraction: s.keysUsed / (vis * layers) },
      checkpoints: this.checkpoints,
    };
  }
}

/** Runs every mode over the tokens, their sessions interleaved block by block; results in the order of `modes`. */
export function runModels(model: LlamaModel, tokens: ArrayLike<number>, modes: readonly AttentionMode[], options: ModelRunOptions = {}): ModelRun[] {
  const runners = modes.map((mode) => new ModelRunner(model, tokens, mode, options));
  while (!runners[0]!.done) {
    for (const r of runners) r.step();
    options.onRound?.(runners[0]!.pos, tokens.length);
  }
  return runners.map((r) => r.result());
}
