/** `hsr-attn eval`: accuracy on a long-range retrieval task under an attention mode (API.md, "Tasks"). */
import { basename } from 'node:path';
import { describeAttention } from '../../model/attention-mode.js';
import type { KernelBackend } from '../../kernels/index.js';
import { loadModel } from '../../node/model.js';
import { readBytes } from '../../node/checkpoint.js';
import { evaluateTask, reportsErrorBound } from '../../tasks/evaluate.js';
import { TASK_KINDS, type TaskKind } from '../../tasks/trials.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { ATTENTION_OPTIONS, attentionMode, indexOption } from '../attention-args.js';
import { vendoredModelDir } from '../../node/vendored-models.js';
import { HAYSTACK_TEXT, RECALL_MODEL_NAME } from '../paths.js';
import { ProgressBar } from '../progress.js';
import { formatPairs } from '../table.js';
import { pct, slowerThanDenseNote } from './perplexity.js';

/** Haystack bytes read at most: windows are drawn from this much, and a huge file or /dev/zero costs a bounded read. */
const MAX_HAYSTACK_BYTES = 64 * 2 ** 20;

export const evalCommand: Command = {
  name: 'eval',
  usage: 'hsr-attn eval passkey|recall|copy [--model DIR] [--haystack FILE] [--context N] [--trials T] [--seed S] [--attention MODE] [--json]',
  brief: 'task accuracy (pass key, key-value recall, copy) with any attention mode (API.md JSON with --json)',
  summary: [
    'Hides needles in a haystack text, asks for them at the end of a --context-token prompt and greedily',
    'decodes the answer; a trial is correct when every answer byte matches. passkey: one 5-digit key;',
    'recall: the key of one of --pairs names; copy: continue a span of the haystack whose first',
    '--copy-prefix bytes are repeated at the end. Formats: bytelm-recall-10m/README.md in the hsr-attention-models package. --json prints',
    '{ task, model, context, trials, correct, accuracy, keysScored, keysUsed, keysVisible, maxErrorBound?,',
    'seconds, outcomes } (maxErrorBound for the softmax modes that drop keys; outcomes per trial).',
  ].join('\n'),
  positionals: 'passkey|recall|copy',
  options: {
    model: { type: 'string', value: 'DIR', help: 'byte-level model folder (default: the vendored bytelm-recall-10m, trained to retrieve)' },
    haystack: { type: 'string', value: 'FILE', help: 'text the needles are hidden in, read as bytes (its first 64 MiB), repeated if short (default: the vendored data/factbook-backgrounds.txt)' },
    context: { type: 'integer', value: 'N', default: 2048, min: 1, help: 'tokens per trial, prompt and answer together (at most the model\'s context)' },
    trials: { type: 'integer', value: 'T', default: 10, min: 1, help: 'trials (each a fresh haystack window, needles and positions)' },
    seed: { type: 'integer', value: 'S', default: 0, help: 'fixes the windows, needles and positions (trial t depends only on S and t)' },
    pairs: { type: 'integer', value: 'P', default: 8, help: 'recall: key-value pairs in the haystack' },
    intro: { type: 'boolean', help: 'passkey, recall: begin the prompt with the instruction line half of the training tasks began with' },
    'copy-prefix': { type: 'integer', value: 'B', default: 96, help: 'copy: bytes of the span repeated as the cue' },
    'copy-answer': { type: 'integer', value: 'B', default: 8, help: 'copy: bytes to continue' },
    ...ATTENTION_OPTIONS,
  },
  run(args) {
    const task = args._[0];
    if (args._.length !== 1 || !TASK_KINDS.includes(task as TaskKind)) {
      throw new UsageError(`expected one task, ${TASK_KINDS.join('|')}, got ${args._.length === 0 ? 'none' : args._.map((a) => JSON.stringify(a)).join(' ')}`);
    }
    const dir = (args.model as string | undefined) ?? vendoredModelDir(RECALL_MODEL_NAME);
    const model = loadModel(dir, { kernels: args.kernels as KernelBackend });
    const mode = attentionMode(args, model.config);
    const bar = new ProgressBar(`eval ${task} (${describeAttention(mode)})`, 'trials', !args.json);
    const r = evaluateTask(model, task as TaskKind, {
      haystack: readBytes((args.haystack as string | undefined) ?? HAYSTACK_TEXT, MAX_HAYSTACK_BYTES), context: args.context as number,
      trials: args.trials as number, seed: args.seed as number, pairs: args.pairs as number, intro: args.intro === true,
      copyPrefix: args['copy-prefix'] as number, copyAnswer: args['copy-answer'] as number,
      attention: mode, index: indexOption(args), block: args.block as number, attentionKernels: args['attention-kernels'] as KernelBackend,
      onTrial: (d, t) => bar.update(d, t),
    });
    bar.done();
    const withBound = reportsErrorBound(mode, model);
    if (args.json) {
      const { context, trials, correct, accuracy, keysScored, keysUsed, keysVisible, maxErrorBound, seconds, outcomes } = r;
      process.stdout.write(JSON.stringify({ task, model: basename(dir), context, trials, correct, accuracy, keysScored, keysUsed, keysVisible,
        ...(withBound ? { maxErrorBound } : {}), seconds, outcomes }) + '\n');
      return 0;
    }
    const rows: [string, string][] = [
      ['task', `${task} at ${r.context} tokens`],
      ['model', basename(dir)],
      ['attention', describeAttention(mode)],
      ['accuracy', `${r.correct}/${r.trials} = ${pct(r.accuracy)}`],
      ['keys scored', `${r.keysScored} (${pct(r.keysScored / r.keysVisible)} of dense)`],
      ['keys used', `${r.keysUsed} (${pct(r.keysUsed / r.keysVisible)} of dense)`],
    ];
    if (withBound) rows.push(['max certified TV bound', r.maxErrorBound.toExponential(2)]);
    rows.push(['seconds', r.seconds.toFixed(1)]);
    const wrong = r.outcomes.filter((o) => !o.correct).slice(0, 5);
    for (const o of wrong) rows.push(['wrong', `expected ${JSON.stringify(o.expected)}, got ${JSON.stringify(o.got)} (needle ${o.distance} tokens back)`]);
    process.stdout.write(formatPairs(rows) + '\n');
    const note = slowerThanDenseNote(mode, r.denseFallbackFraction);
    if (note) process.stderr.write(`note: ${note}\n`);
    return 0;
  },
};
