/**
 * The experiments of `hsr-attn reproduce` (issue 6), browser-safe: the caller loads the models,
 * the dumps and the text and passes them in; this module runs every experiment in order and
 * returns the raw results (report.ts turns them into markdown and SVG).
 */
import type { Sparsity } from '../attention/options.js';
import type { PowerLawFit } from '../analysis/stats.js';
import type { AttentionMode } from '../model/attention-mode.js';
import type { LlamaModel } from '../model/llama.js';
import { matrix } from '../tensor/matrix.js';
import { decodeTiming, type DecodeProblem, type DecodeTimingResult } from './experiments/decode-timing.js';
import { gaussianPaperSparsity, type GaussianSparsityResult } from './experiments/gaussian-sparsity.js';
import { indexOverhead, type IndexOverhead } from './experiments/index-overhead.js';
import { runModels, type ModelRun } from './experiments/model-runs.js';
import { prefillTiming, type PrefillTimingResult } from './experiments/prefill-timing.js';
import { reluExactness, rowsOf, type ReluCase } from './experiments/relu-exactness.js';
import { dumpIndexes, pooledSweep, reluActiveFraction, type DumpTensors, type ModePoint } from './experiments/softmax-error.js';
import { FittedGaussianKeys } from './experiments/synthetic-keys.js';
import { gaussianArray, seededRandom } from './random.js';

export interface ReproduceConfig {
  quick: boolean;
  gaussian: { minLog2: number; maxLog2: number; queries: number };
  relu: { syntheticN: number; syntheticM: number; realM: number; realN: number };
  /** Tokens of the dev text for the model runs. */
  modelTokens: number;
  softmaxQueries: number;
  topK: number[];
  epsilons: number[];
  perplexityEpsilons: number[];
  perplexityTopK: number[];
  sparsityPositions: number[];
  sparsityQueries: number;
  decodeSizes: number[];
  decodeRounds: number;
  prefillSizes: number[];
  prefillRounds: number;
  overheadN: number;
  index: string;
}

export function reproduceConfig(quick: boolean): ReproduceConfig {
  return {
    quick,
    gaussian: { minLog2: 10, maxLog2: quick ? 16 : 20, queries: 16 },
    relu: { syntheticN: quick ? 512 : 2048, syntheticM: quick ? 32 : 128, realM: quick ? 16 : 64, realN: quick ? 1024 : 8192 },
    modelTokens: quick ? 256 : 2048,
    softmaxQueries: quick ? 4 : 32,
    topK: quick ? [16, 64, 256, 1024] : [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    epsilons: quick ? [1e-1, 1e-2, 1e-3] : [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4],
    perplexityEpsilons: quick ? [1e-1, 1e-2] : [1e-1, 3e-2, 1e-2, 1e-3, 1e-4],
    perplexityTopK: quick ? [16, 64] : [16, 32, 64, 128, 256],
    sparsityPositions: [2048, 4096, 8192],
    sparsityQueries: quick ? 2 : 16,
    decodeSizes: (quick ? [10, 11, 12, 13] : [10, 11, 12, 13, 14, 15, 16]).map((e) => 2 ** e),
    decodeRounds: quick ? 3 : 5,
    prefillSizes: quick ? [256, 512, 1024] : [512, 1024, 2048, 4096],
    prefillRounds: quick ? 2 : 3,
    overheadN: quick ? 8192 : 65536,
    index: 'quantized',
  };
}

export interface ReproduceInputs {
  softmaxModel: LlamaModel;
  reluModel: LlamaModel;
  /** Dev text bytes (token ids of the byte-level models). */
  text: Uint8Array;
  /** bytelm-10m layer 2 and bytelm-relu-10m layer 3 dumps. */
  softmaxDump: DumpTensors;
  reluDump: DumpTensors;
  reluBias: number;
  reluAlpha: number;
}

export interface BudgetComparison {
  /** Average keys per row of certified ε = `epsilon` over the run, and the per-row budget B giving the baselines the same average. */
  epsilon: number;
  averageKeys: number;
  budget: number;
  runs: ModelRun[];
}

export interface ReproduceResult {
  config: ReproduceConfig;
  gaussian: GaussianSparsityResult;
  relu: { cases: ReluCase[]; sparse: ModelRun; dense: ModelRun; flash: ModelRun; maxNllDifference: number };
  softmaxError: ModePoint[];
  perplexity: { dense: ModelRun; flash: ModelRun; runs: ModelRun[] };
  decode: DecodeTimingResult[];
  prefill: PrefillTimingResult[];
  sparsityAt: { position: number; softmax: ModePoint[]; reluActive: number }[];
  overhead: IndexOverhead[];
  budget: BudgetComparison;
  parallel: ParallelResult | { unavailable: string };
}

export interface ParallelResult {
  n: number;
  threads1Ms: number;
  threads2Ms: number;
  speedup: number;
  /** What ran in parallel. */
  what: string;
}

/** Progress: stage name, steps done and total over the whole run. */
export type ReproduceProgress = (stage: string, done: number, total: number) => void;

/** Runs every experiment. `parallel` measures the 1- vs 2-thread speedup (Node-only: worker threads). */
export async function runReproduction(inputs: ReproduceInputs, config: ReproduceConfig,
  parallel: (() => Promise<ParallelResult | { unavailable: string }>) | null, progress: ReproduceProgress = () => {}): Promise<ReproduceResult> {
  const c = config, sm = inputs.softmaxDump, rd = inputs.reluDump;
  const perplexityModes: AttentionMode[] = [
    ...c.perplexityEpsilons.map((epsilon): AttentionMode => ({ kind: 'certified', epsilon })),
    ...c.perplexityTopK.map((topK): AttentionMode => ({ kind: 'topk', topK })),
    { kind: 'paper' },
  ];
  // Steps for the progress bar: one per stage, head, timing size, and round of interleaved model blocks.
  const rounds = Math.ceil(c.modelTokens / 32);
  const total = 1 + 1 + rounds + sm.heads + 2 * rounds + c.sparsityPositions.length + 2 * c.decodeSizes.length + 2 * c.prefillSizes.length + 1 + 1;
  let done = 0;
  const step = (stage: string) => progress(stage, ++done, total);
  const round = (stage: string) => (pos: number, n: number) => step(`${stage}: ${pos}/${n} tokens`);
  const tokens = inputs.text.subarray(0, c.modelTokens);

  // 1. Sparsity claim on Gaussian scores.
  const gaussian = gaussianPaperSparsity({ ...c.gaussian, dim: 64, seed: 1 });
  step('gaussian sparsity');

  // 2. Exactness: synthetic and real ReLU problems, then the ReLU model sparse vs dense.
  const r = seededRandom(2), d = rd.dim;
  const synth = { name: 'Gaussian', q: matrix(gaussianArray(r, c.relu.syntheticM * d), c.relu.syntheticM, d),
    k: matrix(gaussianArray(r, c.relu.syntheticN * d), c.relu.syntheticN, d), v: matrix(gaussianArray(r, c.relu.syntheticN * d), c.relu.syntheticN, d), bias: 1 };
  const realN = Math.min(c.relu.realN, rd.n);
  const real = { name: 'bytelm-relu-10m layer 3 head 0', q: rowsOf(rd.q, d, realN - c.relu.realM, c.relu.realM),
    k: rowsOf(rd.k, d, 0, realN), v: rowsOf(rd.v, d, 0, realN), bias: inputs.reluBias };
  const cases = reluExactness([synth, real], [1, 2, 3], ['scan', 'quantized', 'ball-tree']);
  step('ReLU exactness');
  const checkpoints = [c.modelTokens / 4, c.modelTokens / 2, c.modelTokens];
  const [sparse, dense, reluFlash] = runModels(inputs.reluModel, tokens, [{ kind: 'sparse' }, { kind: 'dense' }, { kind: 'flash' }],
    { index: c.index, kernels: 'auto', checkpoints, onRound: round('bytelm-relu-10m: exact sparse, dense, dense kernel') }) as [ModelRun, ModelRun, ModelRun];
  const maxNllDifference = sparse.nll.reduce((m, x, i) => Math.max(m, Math.abs(x - dense.nll[i]!)), 0);

  // 3. Error: kept fraction vs dropped mass on real keys; perplexity vs kept fraction.
  const modes: Sparsity[] = ['paper', ...c.topK.map((topK) => ({ topK })), ...c.epsilons.map((epsilon) => ({ epsilon }))];
  const smIndexes = dumpIndexes(sm, c.index);
  const softmaxError = pooledSweep(sm, smIndexes, modes, c.softmaxQueries, sm.n, () => step('softmax error on real keys'));
  const [denseRun, flash, ...runs] = runModels(inputs.softmaxModel, tokens, [{ kind: 'dense' }, { kind: 'flash' }, ...perplexityModes],
    { index: c.index, kernels: 'auto', onRound: round(`bytelm-10m: ${perplexityModes.length + 2} modes`) }) as [ModelRun, ModelRun, ...ModelRun[]];

  // 5e. Equal budget: the certified ε = 1e-2 run's average keys per row, matched by the baselines.
  const certRun = runs.find((x) => x.mode === 'certified ε=0.01') ?? runs[0]!;
  const n = tokens.length, averageKeys = certRun.total.usedFraction * (n + 1) / 2;
  const budget = budgetForAverage(averageKeys, n);
  const budgetModes: AttentionMode[] = [
    { kind: 'topk', topK: budget },
    { kind: 'window', sinks: 4, window: Math.max(1, budget - 4) },
    { kind: 'page-topk', pageSize: 16, budget: Math.max(16, Math.round(budget / 16) * 16) },
  ];
  // The certified run again beside the baselines, so their tokens/s come from the same interleaved rounds.
  const budgetRuns = runModels(inputs.softmaxModel, tokens, [{ kind: 'certified', epsilon: 1e-2 }, ...budgetModes],
    { index: c.index, kernels: 'auto', onRound: round('bytelm-10m at equal budget') });

  // 5b. Sparsity at 2k / 4k / 8k on the real dumps.
  const sparsityAt = c.sparsityPositions.filter((p) => p <= sm.n && p <= rd.n).map((position) => {
    const res = {
      position, softmax: pooledSweep(sm, smIndexes, ['paper', { epsilon: 1e-2 }, { epsilon: 1e-3 }], c.sparsityQueries, position),
      reluActive: reluActiveFraction(rd, inputs.reluBias, c.sparsityQueries, position),
    };
    step(`sparsity at ${position}`);
    return res;
  });

  // 4. Time: decode on keys drawn like the real ones, with the models' real queries.
  const decodeQueries = (t: DumpTensors, count: number) => Array.from({ length: count }, (_, i) => {
    const pos = t.n - 1 - i, q = new Float32Array(t.heads * t.dim);
    for (let h = 0; h < t.heads; h++) q.set(t.q.subarray((h * t.n + pos) * t.dim, (h * t.n + pos + 1) * t.dim), h * t.dim);
    return q;
  });
  const fitted = (t: DumpTensors) => Array.from({ length: t.kvHeads }, (_, g) => new FittedGaussianKeys(t.k.subarray(g * t.n * t.dim, (g + 1) * t.n * t.dim), t.n, t.dim));
  const problems: DecodeProblem[] = [
    { name: 'softmax (bytelm-10m layer 2 queries, keys ~ N(mean, Σ) of its keys)', kind: 'softmax', alpha: 1, bias: 0, heads: sm.heads, kvHeads: sm.kvHeads, dim: sm.dim,
      keys: fitted(sm), queries: decodeQueries(sm, 4), index: c.index,
      modes: [{ label: 'certified ε=1e-2', sparsity: { epsilon: 1e-2 } }, { label: 'certified ε=1e-3', sparsity: { epsilon: 1e-3 } }, { label: 'paper threshold', sparsity: 'paper' }] },
    { name: `ReLU^${inputs.reluAlpha} (bytelm-relu-10m layer 3 queries, keys ~ N(mean, Σ) of its keys)`, kind: 'relu', alpha: inputs.reluAlpha, bias: inputs.reluBias,
      heads: rd.heads, kvHeads: rd.kvHeads, dim: rd.dim, keys: fitted(rd), queries: decodeQueries(rd, 4), index: c.index, modes: [] },
  ];
  const decode = problems.map((p, i) => decodeTiming(p, c.decodeSizes, c.decodeRounds, seededRandom(10 + i), () => step(`decode timing (${p.kind})`)));

  const prefill = [
    prefillTiming({ name: 'softmax, bytelm-10m layer 2 head 0 (real q/k/v)', q: sm.q, k: sm.k, v: sm.v, dim: sm.dim, kind: 'softmax', alpha: 1, bias: 0, index: c.index,
      modes: [{ label: 'certified ε=1e-3', options: { sparsity: { epsilon: 1e-3 } } }, { label: 'paper threshold', options: { sparsity: 'paper' } }] },
    c.prefillSizes, c.prefillRounds, () => step('prefill timing (softmax)')),
    prefillTiming({ name: `ReLU^${inputs.reluAlpha}, bytelm-relu-10m layer 3 head 0 (real q/k/v)`, q: rd.q, k: rd.k, v: rd.v, dim: rd.dim, kind: 'relu', alpha: inputs.reluAlpha, bias: inputs.reluBias,
      index: c.index, modes: [{ label: 'exact sparse', options: {} }] },
    c.prefillSizes, c.prefillRounds, () => step('prefill timing (ReLU)')),
  ];

  // 5c. Index build and insert overhead on keys drawn like the real ones.
  const inserts = 4096, ok = new Float32Array((c.overheadN + inserts) * sm.dim), keySampler = fitted(sm)[0]!, ro = seededRandom(20);
  for (let i = 0; i < c.overheadN + inserts; i++) keySampler.sample(ro, ok, i * sm.dim);
  const overhead = indexOverhead(ok, c.overheadN, inserts, sm.dim, ['scan', 'quantized', 'ball-tree'], 3);
  step('index overhead');

  const par = parallel ? await parallel() : { unavailable: 'no worker threads in this environment' };
  step('parallel speedup');

  return {
    config: c, gaussian, relu: { cases, sparse, dense, flash: reluFlash, maxNllDifference }, softmaxError,
    perplexity: { dense: denseRun, flash, runs }, decode, prefill, sparsityAt, overhead,
    budget: { epsilon: 1e-2, averageKeys, budget, runs: budgetRuns }, parallel: par,
  };
}

/**
 * The per-row cap B at which a mode that keeps min(p + 1, B) keys at position p uses `average`
 * keys per row on average over positions 0 … n−1 (the smallest such integer B).
 */
export function budgetForAverage(average: number, n: number): number {
  const avg = (B: number) => { let s = 0; for (let p = 0; p < n; p++) s += Math.min(p + 1, B); return s / n; };
  let lo = 1, hi = n;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (avg(mid) >= average) hi = mid; else lo = mid + 1; }
  return lo;
}

export type { PowerLawFit };
