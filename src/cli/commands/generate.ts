/** `hsr-attn generate`: streams a continuation of a prompt, with tokens/s. */
import { describeAttention } from '../../model/attention-mode.js';
import { generate } from '../../model/run.js';
import { UsageError } from '../args.js';
import type { KernelBackend } from '../../kernels/index.js';
import type { Command } from '../command.js';
import { ATTENTION_OPTIONS, attentionMode, indexOption } from '../attention-args.js';
import { MODEL_OPTION, modelFromArgs, tokenizerFromArgs } from '../model-args.js';
import { slowerThanDenseNote } from './perplexity.js';

export const generateCommand: Command = {
  name: 'generate',
  usage: 'hsr-attn generate --model DIR --prompt TEXT [--max-tokens N] [--attention MODE] [--seed S] [--temperature T] [--top-p P] [--json]',
  brief: 'stream a continuation of a prompt with tokens/s (greedy or seeded sampling)',
  summary: [
    'Continues the prompt token by token (bytes, or the model\'s tokenizer.json), printing text as it is produced, then tokens/s on stderr.',
    'Greedy by default (--temperature 0); with a temperature, sampling is seeded (--seed) and can be',
    'restricted to the top-p nucleus. --json prints { prompt, text, tokens, promptTokens, prefillSeconds,',
    'decodeSeconds, tokensPerSecond, keysScored, keysUsed, denseFallbackFraction } instead of streaming. A sparse',
    '--attention mode adds a note on stderr about its speed against dense (as perplexity does).',
  ].join('\n'),
  options: {
    ...MODEL_OPTION,
    prompt: { type: 'string', value: 'TEXT', help: 'the prompt (required)' },
    'max-tokens': { type: 'integer', value: 'N', default: 200, min: 0, help: 'tokens to generate (bytes for the byte-level models)' },
    temperature: { type: 'number', value: 'T', default: 0, min: 0, help: 'sampling temperature; 0 = greedy' },
    'top-p': { type: 'number', value: 'P', default: 1, above: 0, max: 1, help: 'nucleus sampling: smallest set of tokens with probability ≥ P' },
    seed: { type: 'integer', value: 'S', default: 0, help: 'PRNG seed for sampling' },
    ...ATTENTION_OPTIONS,
  },
  run(args) {
    const prompt = args.prompt as string | undefined;
    if (prompt === undefined || prompt === '') throw new UsageError('expected --prompt TEXT, got none');
    const model = modelFromArgs(args);
    const mode = attentionMode(args, model.config);
    const tokenizer = tokenizerFromArgs(args, model);
    const decoder = tokenizer.streamDecoder();
    const stream = !args.json;
    if (stream) process.stdout.write(prompt);
    const r = generate(model, tokenizer.encode(prompt), args['max-tokens'] as number, {
      attention: mode, index: indexOption(args), block: args.block as number, attentionKernels: args['attention-kernels'] as KernelBackend,
      sampler: { temperature: args.temperature as number, topP: args['top-p'] as number, seed: args.seed as number },
      onToken: stream ? (t) => process.stdout.write(decoder.push(t)) : undefined,
    });
    const tokensPerSecond = r.tokens.length / Math.max(r.decodeSeconds, 1e-9);
    if (!stream) {
      const text = tokenizer.decode(r.tokens);
      process.stdout.write(JSON.stringify({ prompt, text, tokens: r.tokens.length, promptTokens: r.promptTokens, prefillSeconds: r.prefillSeconds,
        decodeSeconds: r.decodeSeconds, tokensPerSecond, keysScored: r.keysScored, keysUsed: r.keysUsed, denseFallbackFraction: r.denseFallbackFraction }) + '\n');
    } else {
      process.stdout.write(decoder.flush() + '\n');
      process.stderr.write(`[${describeAttention(mode)}] ${r.tokens.length} tokens in ${r.decodeSeconds.toFixed(2)} s: ${tokensPerSecond.toFixed(1)} tokens/s` +
        ` (prompt: ${r.promptTokens} tokens in ${r.prefillSeconds.toFixed(2)} s)\n`);
    }
    // On stderr in both modes: --json keeps stdout machine-readable.
    const note = slowerThanDenseNote(mode, r.denseFallbackFraction);
    if (note) process.stderr.write(`note: ${note}\n`);
    return 0;
  },
};
