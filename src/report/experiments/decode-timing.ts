/**
 * Claim 4 (time), decoding: wall-clock per decode step versus cache length n for the dense
 * kernel (Flash-Decoding style DenseDecoder on the wasm SIMD backend), the library's dense KVCache
 * path, and its sparse modes (certified ε, paper threshold; exact ReLU^α), all fed the same keys.
 * The HSR part of a sparse step (the index's bounds pass for softmax, its half-space query for
 * ReLU) is timed on its own, so attention arithmetic = step − HSR. Contenders alternate in rounds
 * at every n; exponents are fitted on log-log.
 */
import { fitPowerLaw, type PowerLawFit } from '../../analysis/stats.js';
import type { Sparsity } from '../../attention/options.js';
import { HalfSpaceIndex } from '../../hsr/half-space-index.js';
import type { HalfSpaceReporter } from '../../hsr/types.js';
import { createKernels } from '../../kernels/index.js';
import { DenseDecoder } from '../../kernels/dense-decode.js';
import { KVCache } from '../../kvcache/kv-cache.js';
import { matrix } from '../../tensor/matrix.js';
import type { Random } from '../random.js';
import { alternateRounds } from '../timing.js';
import type { FittedGaussianKeys } from './synthetic-keys.js';

export interface DecodeProblem {
  name: string;
  kind: 'softmax' | 'relu';
  alpha: number;
  bias: number;
  heads: number;
  kvHeads: number;
  dim: number;
  /** Draws the keys of each KV head. */
  keys: readonly FittedGaussianKeys[];
  /** Decode-step queries, each [heads, dim] (real queries of the model). */
  queries: readonly Float32Array[];
  /** Softmax: the sparse modes to time. */
  modes: readonly { label: string; sparsity: Sparsity }[];
  index: string;
}

export interface DecodeTimingPoint {
  n: number;
  /** Median ms per decode step, per contender label. */
  ms: Record<string, number>;
  /** Keys used / keys visible per sparse contender. */
  keptFraction: Record<string, number>;
}

export interface DecodeTimingResult {
  problem: string;
  points: DecodeTimingPoint[];
  /** Fitted exponent of ms vs n per contender (over the points with n ≥ fitFrom). */
  fits: Record<string, PowerLawFit>;
  fitFrom: number;
}

export function decodeTiming(p: DecodeProblem, sizes: readonly number[], rounds: number, r: Random,
  onStep?: () => void): DecodeTimingResult {
  const { heads, kvHeads, dim: d } = p, group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  const weighting = { kind: p.kind, scale, bias: p.bias, alpha: p.alpha };
  const flash = new DenseDecoder({ heads, kvHeads, headDim: d, weighting, kernels: createKernels({ backend: 'auto' }), initialCapacity: sizes[sizes.length - 1]! });
  const cacheOf = (sparsity: Sparsity | undefined) => new KVCache({ heads, kvHeads, headDim: d, kind: p.kind, alpha: p.alpha, bias: p.bias, index: p.index,
    ...(sparsity === undefined ? {} : { sparsity }) });
  const caches = p.kind === 'softmax'
    ? [{ label: 'dense (KVCache)', cache: cacheOf('dense') }, ...p.modes.map((m) => ({ label: m.label, cache: cacheOf(m.sparsity) }))]
    : [{ label: 'dense (KVCache)', cache: cacheOf('dense') }, { label: 'exact sparse', cache: cacheOf(undefined) }];
  const indexes: HalfSpaceReporter[] = Array.from({ length: kvHeads }, () => HalfSpaceIndex.build(matrix(new Float32Array(0), 0, d), { kind: p.index }).reporter);
  const upper = Array.from({ length: group }, () => new Float64Array(sizes[sizes.length - 1]!));
  const lower = Array.from({ length: group }, () => new Float64Array(sizes[sizes.length - 1]!));
  const offsets = new Array<number>(group).fill(p.bias / scale);
  const groupViews = p.queries.map((q) => Array.from({ length: kvHeads }, (_, g) =>
    Array.from({ length: group }, (_, i) => q.subarray((g * group + i) * d, (g * group + i + 1) * d))));
  const out = new Float32Array(heads * d);
  const points: DecodeTimingPoint[] = [];
  const chunk = 1024, keys = new Float32Array(chunk * kvHeads * d), values = new Float32Array(chunk * kvHeads * d);
  let length = 0;
  for (const n of sizes) {
    while (length < n) {
      const t = Math.min(chunk, n - length);
      for (let i = 0; i < t; i++) for (let g = 0; g < kvHeads; g++) p.keys[g]!.sample(r, keys, (i * kvHeads + g) * d);
      for (let i = 0; i < t * kvHeads * d; i++) values[i] = r.gauss();
      const k = keys.subarray(0, t * kvHeads * d), v = values.subarray(0, t * kvHeads * d);
      flash.append(k, v);
      for (const c of caches) c.cache.append(k, v);
      for (let i = 0; i < t; i++) for (let g = 0; g < kvHeads; g++) indexes[g]!.insert(k.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d));
      length += t;
    }
    const kept: Record<string, number> = {};
    const contenders: Record<string, () => void> = {
      'dense kernel (wasm SIMD)': () => { for (const q of p.queries) flash.attend(q, out); },
    };
    for (const c of caches) {
      let used = 0;
      contenders[c.label] = () => { used = 0; for (const q of p.queries) used += c.cache.attend(q).stats.keysUsed; };
      contenders[c.label]!();
      kept[c.label] = used / (p.queries.length * heads * n);
    }
    contenders[p.kind === 'softmax' ? 'HSR bounds pass' : 'HSR query'] = p.kind === 'softmax'
      ? () => { for (const views of groupViews) for (let g = 0; g < kvHeads; g++) indexes[g]!.scoreBoundsBatch(views[g]!, upper, lower, n); }
      : () => { for (const views of groupViews) for (let g = 0; g < kvHeads; g++) indexes[g]!.queryBatch(views[g]!, offsets, n); };
    const ms = alternateRounds(contenders, rounds);
    for (const k of Object.keys(ms)) ms[k]! /= p.queries.length;
    points.push({ n, ms, keptFraction: kept });
    onStep?.();
  }
  const fitFrom = sizes.length > 3 ? sizes[1]! : sizes[0]!;
  const fitted = points.filter((q) => q.n >= fitFrom);
  const fits = Object.fromEntries(Object.keys(points[0]!.ms).map((label) =>
    [label, fitPowerLaw(fitted.map((q) => q.n), fitted.map((q) => Math.max(q.ms[label]!, 1e-6)))]));
  return { problem: p.name, points, fits, fitFrom };
}
