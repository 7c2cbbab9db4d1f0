/**
 * Tokens/s of the model runner per attention mode, timed in alternating rounds (A, B, C, A, B, C, …)
 * so that load from other processes on a shared machine hits every mode alike; prints medians and
 * ratios to dense from the same run and writes JSON. Complements bench/model-attention.ts (one run
 * per mode, accuracy and keys) with timings fit for ratios.
 *
 *   node --import tsx bench/model-timing.ts [--context 2048] [--rounds 3] [--out bench/model-timing.json]
 */
import { describeAttention, type AttentionMode } from '../src/model/attention-mode.js';
import { perplexity } from '../src/model/run.js';
import { readBytes } from '../src/node/checkpoint.js';
import { loadModel } from '../src/node/model.js';
import { DEV_TEXT, RELU_MODEL_NAME, SOFTMAX_MODEL_NAME } from '../src/cli/paths.js';
import { vendoredModelDir } from '../src/node/vendored-models.js';
import { median, table, writeJson } from './lib/measure.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const n = Number(arg('context', '2048'));
const rounds = Number(arg('rounds', '3'));
const out = arg('out', 'bench/model-timing.json');
const text = readBytes(DEV_TEXT).subarray(0, n);
const softmax = loadModel(vendoredModelDir(SOFTMAX_MODEL_NAME)), relu = loadModel(vendoredModelDir(RELU_MODEL_NAME));

const contenders: [string, typeof softmax, AttentionMode][] = [
  ['bytelm-10m', softmax, { kind: 'dense' }],
  ['bytelm-10m', softmax, { kind: 'flash' }],
  ['bytelm-10m', softmax, { kind: 'certified', epsilon: 1e-2 }],
  ['bytelm-10m', softmax, { kind: 'paper' }],
  ['bytelm-relu-10m', relu, { kind: 'dense' }],
  ['bytelm-relu-10m', relu, { kind: 'flash' }],
  ['bytelm-relu-10m', relu, { kind: 'sparse' }],
];
const samples: number[][] = contenders.map(() => []);
for (let r = 0; r < rounds; r++) {
  contenders.forEach(([name, model, mode], i) => {
    const res = perplexity(model, text, { attention: mode });
    samples[i]!.push(n / res.seconds);
    console.log(`round ${r + 1}: ${name} ${describeAttention(mode)} ${(n / res.seconds).toFixed(1)} tok/s`);
  });
}
const rows = contenders.map(([name, , mode], i) => {
  const dense = contenders.findIndex(([m, , d]) => m === name && d.kind === 'dense');
  const med = median(samples[i]!);
  return { model: name, attention: describeAttention(mode), medianTokensPerSecond: med, samples: samples[i]!, vsDense: med / median(samples[dense]!) };
});
writeJson(out, { context: n, rounds, rows });
console.log(table(['model', 'attention', 'median tok/s', 'vs dense'], rows.map((r) => [r.model, r.attention, r.medianTokensPerSecond, r.vsDense])));
