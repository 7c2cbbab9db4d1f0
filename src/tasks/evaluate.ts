/**
 * Task accuracy of a model under an attention mode (browser-safe; `hsr-attn eval` wraps it): each
 * trial's prompt is prefilled with the chosen attention, the answer is greedily decoded, and the
 * trial counts as correct only when every answer byte matches. Attention work is summed over all
 * trials, so keysUsed / keysVisible is the fraction of keys the mode kept.
 */
import { HsrError } from '../errors.js';
import { defaultAttention, type AttentionMode } from '../model/attention-mode.js';
import type { LlamaModel } from '../model/llama.js';
import { generate, keysVisible, type RunOptions } from '../model/run.js';
import { makeTrials, type TaskKind, type TrialOptions } from './trials.js';

export interface TaskOptions extends RunOptions, TrialOptions {
  /** Text the needles are hidden in (bytes = tokens of a byte-level model). */
  haystack: Uint8Array;
  /** Tokens per trial: prompt plus answer. */
  context: number;
  trials: number;
  /** Fixes the haystack windows, the needles and their positions. */
  seed: number;
  /** Called after each trial with trials done and total. */
  onTrial?: (done: number, total: number) => void;
}

export interface TrialOutcome {
  expected: string;
  /** What greedy decoding produced (as many bytes as the answer has). */
  got: string;
  correct: boolean;
  /** Tokens between the needle holding the answer and the end of the prompt. */
  distance: number;
}

/** API.md's eval result (less `model`, which the caller names), plus what makes keysUsed interpretable. */
export interface TaskResult {
  task: TaskKind;
  context: number;
  trials: number;
  correct: number;
  accuracy: number;
  /** ⟨q,k⟩ products and weighted keys summed over trials, layers, positions and query heads. */
  keysScored: number;
  keysUsed: number;
  /** Keys dense attention would use, summed the same way. */
  keysVisible: number;
  /** Largest certified total-variation bound of any row of any trial (softmax sparse modes; 0 otherwise). */
  maxErrorBound: number;
  /** The fraction of a softmax sparse mode's rows computed densely, mean over trials (GenerateResult's). */
  denseFallbackFraction: number;
  seconds: number;
  outcomes: TrialOutcome[];
}

const now = (): number => (globalThis as unknown as { performance: { now(): number } }).performance.now();
const latin1 = (bytes: ArrayLike<number>): string => String.fromCharCode(...Array.from(bytes));

export function evaluateTask(model: LlamaModel, task: TaskKind, options: TaskOptions): TaskResult {
  if (model.config.vocabSize !== 256) {
    throw new HsrError('UNSUPPORTED', `eval: expected a byte-level model (vocab_size 256: the tasks are written in bytes), got vocab_size ${model.config.vocabSize}`);
  }
  const { context } = options;
  if (!Number.isSafeInteger(context) || context < 2 || context > model.config.maxPositions) {
    throw new HsrError('BAD_OPTION', `eval: expected a context of 2 to ${model.config.maxPositions} tokens (the model's), got ${context}`);
  }
  const trials = makeTrials(task, options.haystack, context, options.trials, options.seed, options);
  const run: RunOptions = { attention: options.attention ?? defaultAttention(model.config), index: options.index, attentionKernels: options.attentionKernels, block: options.block };
  const outcomes: TrialOutcome[] = [];
  let keysScored = 0, keysUsed = 0, maxErrorBound = 0, denseFallback = 0;
  const t0 = now();
  for (const trial of trials) {
    const r = generate(model, trial.prompt, trial.answer.length, run);
    keysScored += r.keysScored;
    keysUsed += r.keysUsed;
    maxErrorBound = Math.max(maxErrorBound, r.maxErrorBound);
    denseFallback += r.denseFallbackFraction;
    const got = latin1(r.tokens), expected = latin1(trial.answer);
    outcomes.push({ expected, got, correct: got === expected, distance: trial.prompt.length - trial.needleAt });
    options.onTrial?.(outcomes.length, trials.length);
  }
  const correct = outcomes.filter((o) => o.correct).length;
  return {
    task, context, trials: trials.length, correct, accuracy: correct / trials.length, keysScored, keysUsed,
    keysVisible: trials.length * keysVisible(model, context - 1), maxErrorBound,
    denseFallbackFraction: denseFallback / trials.length, seconds: (now() - t0) / 1000, outcomes,
  };
}

/** Whether a mode reports a certified bound (the softmax modes that drop keys through KVCache). */
export function reportsErrorBound(mode: AttentionMode, model: LlamaModel): boolean {
  return model.config.attention.kind === 'softmax' && ['certified', 'threshold', 'topk', 'paper'].includes(mode.kind);
}
