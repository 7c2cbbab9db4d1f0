/**
 * `hsr-attn demo` (what `npm start` runs): the vendored models on a long stretch of the vendored dev
 * text, dense against sparse attention, in one table: bits per byte, tokens/s, keys scored and used.
 */
import { describeAttention, type AttentionMode } from '../../model/attention-mode.js';
import { perplexity, type PerplexityResult } from '../../model/run.js';
import type { KernelBackend } from '../../kernels/index.js';
import { loadModel } from '../../node/model.js';
import { readBytes } from '../../node/checkpoint.js';
import type { Command } from '../command.js';
import { ProgressBar } from '../progress.js';
import { vendoredModelDir } from '../../node/vendored-models.js';
import { DEV_TEXT, RELU_MODEL_NAME, SOFTMAX_MODEL_NAME } from '../paths.js';
import { formatTable } from '../table.js';
import { pct } from './perplexity.js';

/** Long enough for attention to matter, short enough that the demo finishes in well under a minute on 2 cores. */
export const DEMO_TOKENS = 2048;

interface DemoRow { model: string; attention: string; result: PerplexityResult }

export const demoCommand: Command = {
  name: 'demo',
  usage: 'hsr-attn demo [--tokens N] [--no-relu] [--json]',
  brief: 'dense vs sparse attention on the vendored models and dev text, in one table (npm start)',
  summary: [
    'Runs the vendored bytelm-10m (softmax) with dense (KVCache, and the flash dense kernel), certified (ε = 1e-2) and paper-threshold attention,',
    'and bytelm-relu-10m with dense (KVCache, and the flash dense kernel) and exact sparse ReLU² attention, on the first N bytes of the',
    'vendored dev text; prints bits per byte, tokens/s, speed against the fastest dense path of the same model (one thread,',
    'WebAssembly SIMD), and the fraction of keys scored and used; says which sparse rows ran slower than dense. `npm start` runs it.',
  ].join('\n'),
  options: {
    tokens: { type: 'integer', value: 'N', default: DEMO_TOKENS, min: 2, max: 8192, help: 'bytes of the dev text to read (the models\' context is 8192)' },
    'no-relu': { type: 'boolean', help: 'skip the ReLU model' },
    kernels: { type: 'string', choices: ['auto', 'js', 'wasm'], default: 'auto', help: 'backend of the weight products' },
  },
  run(args) {
    const n = args.tokens as number;
    const text = readBytes(DEV_TEXT, n);
    const kernels = args.kernels as KernelBackend;
    const plan: [string, AttentionMode[]][] = [
      [SOFTMAX_MODEL_NAME, [{ kind: 'dense' }, { kind: 'flash' }, { kind: 'certified', epsilon: 1e-2 }, { kind: 'paper' }]],
    ];
    if (!args['no-relu']) plan.push([RELU_MODEL_NAME, [{ kind: 'dense' }, { kind: 'flash' }, { kind: 'sparse' }]]);
    const quiet = Boolean(args.json);
    if (!quiet) process.stderr.write(`hsr-attn demo: ${plan.map((p) => p[0]).join(' and ')} on data/dev_c.txt, the first ${text.length} bytes (context ${text.length})\n`);
    const rows: DemoRow[] = [];
    for (const [name, modes] of plan) {
      const model = loadModel(vendoredModelDir(name), { kernels });
      for (const mode of modes) {
        const bar = new ProgressBar(`${name} ${describeAttention(mode)}`, 'tok', !quiet);
        const result = perplexity(model, text, { attention: mode, onProgress: (d, t) => bar.update(d, t) });
        bar.done();
        rows.push({ model: name, attention: describeAttention(mode), result });
      }
    }
    // Accuracy is compared with KVCache's dense row (float64-checked), speed with the fastest dense
    // row of the same model: both dense paths run on one thread with the same kernels.
    const isDense = (r: DemoRow) => r.attention === 'dense' || r.attention === describeAttention({ kind: 'flash' });
    const dense = new Map(rows.filter((r) => r.attention === 'dense').map((r) => [r.model, r.result]));
    const fastest = new Map<string, number>();
    for (const r of rows.filter(isDense)) fastest.set(r.model, Math.min(fastest.get(r.model) ?? Infinity, r.result.seconds));
    const vsFastestDense = (r: DemoRow) => fastest.get(r.model)! / r.result.seconds;
    if (quiet) {
      process.stdout.write(JSON.stringify({ tokens: text.length, text: 'data/dev_c.txt', runs: rows.map((row) => {
        const { model, attention, result: r } = row;
        return {
          model, attention, bitsPerToken: r.bitsPerToken, seconds: r.seconds, tokensPerSecond: r.tokens / r.seconds,
          speedVsFastestDense: vsFastestDense(row), keysScored: r.keysScored, keysUsed: r.keysUsed, keysVisible: r.keysVisible, maxErrorBound: r.maxErrorBound,
        };
      }) }) + '\n');
      return 0;
    }
    const table = rows.map((row) => {
      const { model, attention, result: r } = row, base = dense.get(model)!;
      return [model, attention, r.bitsPerToken.toFixed(4), r === base ? '' : relativeChange(r.bitsPerToken, base.bitsPerToken),
        (r.tokens / r.seconds).toFixed(0), `${vsFastestDense(row).toFixed(2)}×`,
        pct(r.keysScored / r.keysVisible), pct(r.keysUsed / r.keysVisible), r.maxErrorBound > 0 ? r.maxErrorBound.toExponential(1) : ''];
    });
    const slower = rows.filter((r) => !isDense(r) && vsFastestDense(r) < 1);
    process.stdout.write('\n' + formatTable(
      ['model', 'attention', 'bits/byte', 'Δ vs dense', 'tokens/s', '× fastest dense', 'keys scored', 'keys used', 'max TV bound'],
      table, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']) + '\n\n');
    if (slower.length > 0) {
      process.stdout.write(`Slower than dense at this length: ${slower.map((r) => `${r.model} ${r.attention} (${vsFastestDense(r).toFixed(2)}×)`).join(', ')}. ` +
        'Sparse attention pays for its index passes and pays off only when few keys matter over long contexts: docs/performance.md says where.\n\n');
    }
    process.stdout.write([
      `${text.length} bytes of configparser.py (held out of training), all positions predicted (bits/byte = mean NLL in bits).`,
      'keys scored / used: ⟨q,k⟩ products evaluated / keys in the weighted sums, as a fraction of dense causal attention.',
      'dense, certified, paper, exact sparse: the library\'s KVCache; dense (flash kernel): the WebAssembly SIMD dense decoder.',
      '× fastest dense: tokens/s over the faster of the two dense rows of the same model (one thread, the same kernels; timings on a shared machine vary).',
      'certified: every row\'s total-variation error ≤ ε, computed, not assumed; paper: the paper\'s threshold μ + σ√(0.4 ln n).',
      'ReLU² attention is exactly sparse: exact sparse gives the same bits/byte as dense while scoring fewer keys.',
      'More: hsr-attn perplexity --help, hsr-attn generate --help, docs/model.md.',
    ].join('\n') + '\n');
    return 0;
  },
};

/** `x` relative to `base` in percent, two decimals; a change that rounds to zero prints as 0.00%, not -0.00%. */
function relativeChange(x: number, base: number): string {
  const text = ((x / base - 1) * 100).toFixed(2);
  return `${text === '-0.00' ? '0.00' : text}%`;
}
