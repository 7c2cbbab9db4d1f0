/**
 * Claim 3a (error) on real keys: kept fraction versus the softmax mass each sparse mode drops
 * (paper threshold, top-k sweep, certified ε sweep), pooled over the heads of a real dump; and
 * claim 5's "sparsity at 2k / 4k / 8k": the same modes on the queries just before each position.
 */
import { sweepSparsity, type ModeQueries } from '../../analysis/mode-sweep.js';
import type { HeadData } from '../../analysis/head-analysis.js';
import { max, median, quantile } from '../../analysis/stats.js';
import type { Sparsity } from '../../attention/options.js';
import { HalfSpaceIndex } from '../../hsr/half-space-index.js';
import type { HalfSpaceReporter } from '../../hsr/types.js';
import { matrix } from '../../tensor/matrix.js';

/** A dump layer's tensors: q [heads, n, d], k and v [kvHeads, n, d]. */
export interface DumpTensors { q: Float32Array; k: Float32Array; v: Float32Array; heads: number; kvHeads: number; n: number; dim: number }

export interface ModePoint {
  label: string;
  family: 'paper' | 'top-k' | 'certified';
  parameter: number;
  keptFraction: number;
  tvMedian: number;
  tvP90: number;
  tvMax: number;
  boundMax: number;
}

export function sparsityLabel(s: Sparsity): { label: string; family: ModePoint['family']; parameter: number } {
  if (s === 'paper') return { label: 'paper threshold', family: 'paper', parameter: 0 };
  if (typeof s === 'object' && 'topK' in s) return { label: `top-k ${s.topK}`, family: 'top-k', parameter: s.topK };
  if (typeof s === 'object' && 'epsilon' in s) return { label: `certified ε=${s.epsilon}`, family: 'certified', parameter: s.epsilon };
  throw new Error(`unexpected sparsity ${JSON.stringify(s)}`);
}

/** One quantized index per KV head over all n keys (prefix queries use `limit`). */
export function dumpIndexes(t: DumpTensors, kind: string): HalfSpaceReporter[] {
  return Array.from({ length: t.kvHeads }, (_, g) =>
    HalfSpaceIndex.build(matrix(t.k.subarray(g * t.n * t.dim, (g + 1) * t.n * t.dim), t.n, t.dim), { kind }).reporter);
}

/** Head h's data, truncated to the first `n` positions. */
export function headData(t: DumpTensors, h: number, n = t.n): HeadData {
  const g = Math.floor(h / (t.heads / t.kvHeads)), d = t.dim;
  return {
    queries: t.q.subarray(h * t.n * d, (h * t.n + n) * d), keys: t.k.subarray(g * t.n * d, (g * t.n + n) * d),
    values: t.v.subarray(g * t.n * d, (g * t.n + n) * d), n, dim: d, valueDim: d,
  };
}

/** Every mode over every head's last `queries` positions before `n`, pooled over heads. */
export function pooledSweep(t: DumpTensors, indexes: readonly HalfSpaceReporter[], modes: readonly Sparsity[], queries: number, n = t.n,
  onHead?: () => void): ModePoint[] {
  const perHead: ModeQueries[][] = [];
  for (let h = 0; h < t.heads; h++) {
    perHead.push(sweepSparsity(headData(t, h, n), indexes[Math.floor(h / (t.heads / t.kvHeads))]!, modes, { queries }));
    onHead?.();
  }
  return modes.map((s, i) => {
    const all = perHead.map((r) => r[i]!);
    const kept = all.flatMap((r) => r.kept), visible = all.flatMap((r) => r.visible), tv = all.flatMap((r) => r.tv);
    return {
      ...sparsityLabel(s), keptFraction: kept.reduce((a, b) => a + b, 0) / visible.reduce((a, b) => a + b, 0),
      tvMedian: median(tv), tvP90: quantile(tv, 0.9), tvMax: max(tv), boundMax: max(all.flatMap((r) => r.bound)),
    };
  });
}

/** ReLU dump: fraction of visible keys with ⟨q,k⟩·scale > bias for the last `queries` positions before n, pooled over heads. */
export function reluActiveFraction(t: DumpTensors, bias: number, queries: number, n: number): number {
  const d = t.dim, scale = 1 / Math.sqrt(d);
  let active = 0, visible = 0;
  for (let h = 0; h < t.heads; h++) {
    const { queries: q, keys } = headData(t, h, n);
    for (let p = n - queries; p < n; p++) {
      for (let j = 0; j <= p; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[p * d + c]! * keys[j * d + c]!;
        if (s * scale > bias) active++;
      }
      visible += p + 1;
    }
  }
  return active / visible;
}
