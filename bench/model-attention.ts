/**
 * End-to-end model benchmark behind docs/model.md: bits/byte, tokens/s and keys used of the vendored
 * models on the vendored dev text, for every attention mode, at several context lengths.
 * Budgeted baselines (top-k, sink+window, page top-k) get the average keys per row that certified
 * ε = 1e-2 used at the same length, so they are compared at a matched budget.
 *
 *   node --import tsx bench/model-attention.ts [--contexts 2048,4096] [--modes dense,flash,paper,certified,topk,window,page-topk,relu]
 *     [--epsilons 0.01,0.001,0.0001] [--budget B] [--out bench/model-attention.json]
 *
 * Results are appended to the JSON after every run, so a long sweep can be read while it runs.
 * Backends: weight products and flash / sink+window / page top-k on the default kernels (wasm-simd
 * where available); dense, paper, certified, top-k and exact sparse go through KVCache.
 */
import { describeAttention, type AttentionMode } from '../src/model/attention-mode.js';
import { perplexity } from '../src/model/run.js';
import { readBytes } from '../src/node/checkpoint.js';
import { loadModel } from '../src/node/model.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEV_TEXT, PACKAGE_ROOT, RELU_MODEL_NAME, SOFTMAX_MODEL_NAME } from '../src/cli/paths.js';
import { vendoredModelDir } from '../src/node/vendored-models.js';
import { machineInfo, table, writeJson } from './lib/measure.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const contexts = arg('contexts', '2048,4096').split(',').map(Number);
const out = arg('out', 'bench/model-attention.json');
const only = arg('modes', '');   // optional comma list of mode kinds to run (e.g. dense,certified)
const epsilons = arg('epsilons', '0.01,0.001,0.0001').split(',').map(Number);

const text = readBytes(DEV_TEXT);
/** Reference per-token NLLs of the first 8192 bytes from independent implementations (data/README.md). */
const reference: Record<string, number[]> = {
  'bytelm-10m': JSON.parse(readFileSync(join(PACKAGE_ROOT, 'data', 'nll_dev_c.json'), 'utf8')).nll_nat,
  'bytelm-relu-10m': JSON.parse(readFileSync(join(PACKAGE_ROOT, 'data', 'nll_relu_dev_c.json'), 'utf8')).nll_nat,
};
const softmax = loadModel(vendoredModelDir(SOFTMAX_MODEL_NAME));
const relu = loadModel(vendoredModelDir(RELU_MODEL_NAME));
const rows: Record<string, unknown>[] = [];

function run(modelName: string, model: typeof softmax, n: number, mode: AttentionMode): { keysPerRow: number } {
  const r = perplexity(model, text.subarray(0, n), { attention: mode });
  const rowsAttended = model.config.layers * model.config.heads * n;
  const ref = reference[modelName]!;
  let maxDiff = 0, over = 0;
  r.nll.forEach((x, i) => { const d = Math.abs(x - ref[i]!); maxDiff = Math.max(maxDiff, d); if (d > 2e-3) over++; });
  const row = {
    model: modelName, context: n, attention: describeAttention(mode), mode,
    bitsPerByte: r.bitsPerToken, seconds: r.seconds, tokensPerSecond: n / r.seconds,
    keysScoredFraction: r.keysScored / r.keysVisible, keysUsedFraction: r.keysUsed / r.keysVisible,
    keysUsedPerRow: r.keysUsed / rowsAttended, maxErrorBound: r.maxErrorBound,
    maxAbsNllDiffVsReference: maxDiff, tokensOver2e3VsReference: over,
  };
  rows.push(row);
  writeJson(out, { contexts, rows });
  console.log(`${modelName} n=${n} ${row.attention}: ${row.bitsPerByte.toFixed(4)} bits/byte, ${row.tokensPerSecond.toFixed(1)} tok/s, used ${(100 * row.keysUsedFraction).toFixed(2)}%, max |ΔNLL| vs reference ${maxDiff.toExponential(2)} (${over} > 2e-3)`);
  return { keysPerRow: row.keysUsedPerRow };
}

const want = (kind: string) => only === '' || only.split(',').includes(kind);
console.log(machineInfo());
for (const n of contexts) {
  if (want('dense')) run('bytelm-10m', softmax, n, { kind: 'dense' });
  if (want('flash')) run('bytelm-10m', softmax, n, { kind: 'flash' });
  if (want('paper')) run('bytelm-10m', softmax, n, { kind: 'paper' });
  let budget = Number(arg('budget', '0'));   // keys per row for the budgeted baselines; 0 = certified ε=1e-2's
  for (const epsilon of epsilons) {
    if (!want('certified')) break;
    const { keysPerRow } = run('bytelm-10m', softmax, n, { kind: 'certified', epsilon });
    if (epsilon === 1e-2 && budget === 0) budget = Math.max(16, Math.round(keysPerRow));
  }
  if (budget > 0) {
    if (want('topk')) run('bytelm-10m', softmax, n, { kind: 'topk', topK: budget });
    if (want('window')) run('bytelm-10m', softmax, n, { kind: 'window', sinks: 4, window: budget - 4 });
    if (want('page-topk')) run('bytelm-10m', softmax, n, { kind: 'page-topk', pageSize: 16, budget });
  }
  if (want('relu')) {
    run('bytelm-relu-10m', relu, n, { kind: 'dense' });
    run('bytelm-relu-10m', relu, n, { kind: 'flash' });
    run('bytelm-relu-10m', relu, n, { kind: 'sparse' });
  }
}
console.log(table(['model', 'n', 'attention', 'bits/byte', 'tok/s', 'keys used', 'keys scored'],
  rows.map((r) => [r.model as string, r.context as number, r.attention as string, r.bitsPerByte as number, r.tokensPerSecond as number,
    r.keysUsedFraction as number, r.keysScoredFraction as number])));
