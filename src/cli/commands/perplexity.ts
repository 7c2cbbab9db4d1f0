/** `hsr-attn perplexity`: per-token NLL of a text under a model with a chosen attention mode (docs/api.md). */
import { describeAttention, type AttentionMode } from '../../model/attention-mode.js';
import { perplexity } from '../../model/run.js';
import type { KernelBackend } from '../../kernels/index.js';
import type { Command } from '../command.js';
import { ATTENTION_OPTIONS, attentionMode, indexOption } from '../attention-args.js';
import { MODEL_OPTION, modelFromArgs, TEXT_OPTION, textFromArgs, tokenizerFromArgs } from '../model-args.js';
import { ProgressBar } from '../progress.js';
import { formatPairs } from '../table.js';

export const perplexityCommand: Command = {
  name: 'perplexity',
  usage: 'hsr-attn perplexity --model DIR --text FILE [--attention MODE] [--epsilon E] [--threshold T] [--top-k K] [--max-tokens N] [--json]',
  brief: 'per-token NLL and bits/token of a text, with any attention mode (the docs/api.md JSON with --json)',
  summary: [
    'Per-token negative log-likelihood of the text\'s first N tokens (bytes, or tokenizer.json\'s tokens), with the chosen',
    'attention. --json prints { tokens, nll, bitsPerToken, seconds, keysScored, keysUsed } (docs/api.md):',
    'tokens read, nll[i] = −ln p(byte[i+1] | byte[0..i]) (N − 1 values), mean NLL in bits, wall-clock',
    'seconds of the forward passes, and ⟨q,k⟩ products / weighted keys summed over layers, positions, heads.',
  ].join('\n'),
  options: {
    ...MODEL_OPTION, ...TEXT_OPTION,
    'max-tokens': { type: 'integer', value: 'N', min: 2, help: 'read at most N tokens (default: the whole text, up to the model\'s context)' },
    ...ATTENTION_OPTIONS,
  },
  run(args) {
    const model = modelFromArgs(args);
    const mode = attentionMode(args, model.config);
    const context = model.config.maxPositions, asked = args['max-tokens'] as number | undefined;
    // One token past the context tells whether the text (or --max-tokens) goes beyond it.
    const wanted = Math.min(asked ?? Infinity, context + 1);
    const tokens = textFromArgs(args, tokenizerFromArgs(args, model), wanted);
    const n = Math.min(tokens.length, context);
    if (n < tokens.length) process.stderr.write(`note: reading the first ${n} tokens of the text (the model's context is ${context} tokens)\n`);
    const bar = new ProgressBar(`perplexity (${describeAttention(mode)})`, 'tok', !args.json);
    const r = perplexity(model, tokens.slice(0, n), {
      attention: mode, index: indexOption(args), block: args.block as number, attentionKernels: args['attention-kernels'] as KernelBackend, onProgress: (d, t) => bar.update(d, t),
    });
    bar.done();
    if (args.json) {
      const { tokens, nll, bitsPerToken, seconds, keysScored, keysUsed } = r;
      process.stdout.write(JSON.stringify({ tokens, nll, bitsPerToken, seconds, keysScored, keysUsed }) + '\n');
      return 0;
    }
    const rows: [string, string][] = [
      ['attention', describeAttention(mode)],
      ['tokens', String(r.tokens)],
      ['bits per token', r.bitsPerToken.toFixed(4)],
      ['seconds', r.seconds.toFixed(2)],
      ['tokens/s', (r.tokens / r.seconds).toFixed(1)],
      ['keys scored', `${r.keysScored} (${pct(r.keysScored / r.keysVisible)} of dense)`],
      ['keys used', `${r.keysUsed} (${pct(r.keysUsed / r.keysVisible)} of dense)`],
    ];
    if (r.maxErrorBound > 0) rows.push(['max certified TV bound', r.maxErrorBound.toExponential(2)]);
    if (r.denseFallbackFraction > 0) rows.push(['rows computed densely', pct(r.denseFallbackFraction)]);
    process.stdout.write(formatPairs(rows) + '\n');
    const note = slowerThanDenseNote(mode, r.denseFallbackFraction);
    if (note) process.stderr.write(`note: ${note}\n`);
    return 0;
  },
};

/**
 * What a user of a sparse mode should know about its speed against dense (measured in
 * docs/performance.md; this run timed only the chosen mode), or null for the dense modes.
 */
export function slowerThanDenseNote(mode: AttentionMode, denseFallbackFraction: number): string | null {
  if (mode.kind === 'dense' || mode.kind === 'flash') return null;
  const compare = 'compare with --attention flash (the dense kernel) on the same text; docs/performance.md says when sparse helps';
  if (mode.kind === 'topk') return `top-k scores its candidates in float64 and runs slower than dense attention (0.1–0.45× of dense decode in docs/performance.md); ${compare}`;
  if (denseFallbackFraction >= 0.5) {
    return `${pct(denseFallbackFraction)} of this mode's rows were computed densely (≤ 1024 visible keys, or scores too flat to skip any key), so it cannot be faster than dense here; ${compare}`;
  }
  return `sparse attention is often no faster than dense at these sizes; ${compare}`;
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(x < 0.1 ? 2 : 1)}%`;
}
