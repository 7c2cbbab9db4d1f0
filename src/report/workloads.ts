/**
 * Decode workloads shared by the benchmarks (bench/) and `hsr-attn bench`: a KV cache (token-major
 * keys [n, kvHeads, d] and values [n, kvHeads, dv], as KVCache.append takes them) and R decode
 * queries ([R][heads·d], unscaled). Browser-safe; loading a real dump from disk is
 * src/node/workloads.ts.
 *
 * - 'gaussian': keys, values, queries i.i.d. N(0, 1) — the paper's assumption, the worst case for
 *   pruning (scores spread evenly, no structure to exploit).
 * - 'llm': synthetic keys shaped like a trained model's (documented in docs/performance.md):
 *     k_i = U·z_i + 0.3·ε_i + o            z_i ~ N(0, I_8): rank-8 structure shared by all keys
 *     o   = 6 on 4 fixed "outlier" channels (massive activations), 0 elsewhere
 *     k_0 = 2.5·√d · u_q                   an attention sink aligned with the queries' mean direction
 *   queries q = U·w + 0.3·ε + 0.5·√d·u_q/‖·‖ with w ~ N(0, 2²·I_8), so logits are concentrated on
 *   a few keys plus the sink, like real decoding heads; values N(0, 1).
 * - a real dump (dumpWorkload): the first n positions of a model's q/k/v; the decode queries are the
 *   last R positions' queries (each attends to all n cached keys).
 */
import { median } from '../analysis/stats.js';
import { referenceAttention } from '../attention/reference.js';
import type { DumpTensors } from './experiments/softmax-error.js';
import { seededRandom } from './random.js';

export interface Workload {
  name: string;
  n: number; d: number; dv: number; heads: number; kvHeads: number;
  keys: Float32Array;    // [n, kvHeads, d]
  values: Float32Array;  // [n, kvHeads, dv]
  queries: Float32Array[]; // R × [heads·d]
  /** Per KV head: keys [n, d] and values [n, dv] (views for baselines that want head-major data). */
  keyHeads: Float32Array[];
  valueHeads: Float32Array[];
  /** ReLU settings that match the data (the ReLU² model's own for 'real-relu'). */
  relu: { alpha: number; bias: number };
}

function headMajor(tokenMajor: Float32Array, n: number, kvHeads: number, width: number): Float32Array[] {
  return Array.from({ length: kvHeads }, (_, g) => {
    const out = new Float32Array(n * width);
    for (let i = 0; i < n; i++) out.set(tokenMajor.subarray((i * kvHeads + g) * width, (i * kvHeads + g + 1) * width), i * width);
    return out;
  });
}

export function syntheticWorkload(kind: 'gaussian' | 'llm', n: number, d: number, heads: number, kvHeads: number, R: number, seed = 1): Workload {
  const r = seededRandom(seed + n + 7 * d);
  const dv = d;
  const keys = new Float32Array(n * kvHeads * d), values = new Float32Array(n * kvHeads * dv);
  const queries = Array.from({ length: R }, () => new Float32Array(heads * d));
  for (let i = 0; i < values.length; i++) values[i] = r.gauss();
  if (kind === 'gaussian') {
    for (let i = 0; i < keys.length; i++) keys[i] = r.gauss();
    for (const q of queries) for (let i = 0; i < q.length; i++) q[i] = r.gauss();
  } else {
    const rank = 8, outliers = [3 % d, 17 % d, 41 % d, 77 % d];
    const group = heads / kvHeads;
    for (let g = 0; g < kvHeads; g++) {
      const U = Float32Array.from({ length: d * rank }, () => r.gauss() / Math.sqrt(rank));
      const uq = Float32Array.from({ length: d }, () => r.gauss());
      const norm = Math.hypot(...uq);
      for (let c = 0; c < d; c++) uq[c]! /= norm;
      const z = new Float32Array(rank);
      for (let i = 0; i < n; i++) {
        for (let a = 0; a < rank; a++) z[a] = r.gauss();
        const o = (i * kvHeads + g) * d;
        for (let c = 0; c < d; c++) {
          let x = 0;
          for (let a = 0; a < rank; a++) x += U[c * rank + a]! * z[a]!;
          keys[o + c] = i === 0 ? 2.5 * Math.sqrt(d) * uq[c]! : x + 0.3 * r.gauss();
        }
        if (i > 0) for (const c of outliers) keys[o + c]! += 6;
      }
      for (const q of queries) {
        for (let h = g * group; h < (g + 1) * group; h++) {
          for (let a = 0; a < rank; a++) z[a] = 2 * r.gauss();
          for (let c = 0; c < d; c++) {
            let x = 0;
            for (let a = 0; a < rank; a++) x += U[c * rank + a]! * z[a]!;
            q[h * d + c] = x + 0.3 * r.gauss() + 0.5 * Math.sqrt(d) * uq[c]!;
          }
        }
      }
    }
  }
  return {
    name: kind, n, d, dv, heads, kvHeads, keys, values, queries,
    keyHeads: headMajor(keys, n, kvHeads, d), valueHeads: headMajor(values, n, kvHeads, dv),
    relu: { alpha: 2, bias: 2 },
  };
}

/**
 * A real dump (q [heads, N, d], k and v [kvHeads, N, d]) as a workload over its first n positions
 * (default all); the decode queries are those of positions n − 1, n − 2, …, n − R.
 */
export function dumpWorkload(name: string, t: DumpTensors, R: number, relu: { alpha: number; bias: number }, n = t.n): Workload {
  const { heads, kvHeads, dim: d } = t, dv = d;
  const keys = new Float32Array(n * kvHeads * d), values = new Float32Array(n * kvHeads * dv);
  for (let g = 0; g < kvHeads; g++) for (let i = 0; i < n; i++) {
    keys.set(t.k.subarray((g * t.n + i) * d, (g * t.n + i + 1) * d), (i * kvHeads + g) * d);
    values.set(t.v.subarray((g * t.n + i) * dv, (g * t.n + i + 1) * dv), (i * kvHeads + g) * dv);
  }
  const queries = Array.from({ length: R }, (_, j) => {
    const p = n - 1 - j;
    const out = new Float32Array(heads * d);
    for (let h = 0; h < heads; h++) out.set(t.q.subarray((h * t.n + p) * d, (h * t.n + p + 1) * d), h * d);
    return out;
  });
  return {
    name, n, d, dv, heads, kvHeads, keys, values, queries,
    keyHeads: headMajor(keys, n, kvHeads, d), valueHeads: headMajor(values, n, kvHeads, dv), relu,
  };
}

/** The float64 reference output [heads, dv] of one decode query set q over the whole cache. */
export function referenceDecode(w: Workload, q: Float32Array, kind: 'softmax' | 'relu', alpha: number, bias: number): Float64Array {
  const out = new Float64Array(w.heads * w.dv);
  const group = w.heads / w.kvHeads, scale = 1 / Math.sqrt(w.d);
  for (let h = 0; h < w.heads; h++) {
    const g = Math.floor(h / group);
    out.set(referenceAttention({ q: q.subarray(h * w.d, (h + 1) * w.d), m: 1, k: w.keyHeads[g]!, n: w.n, v: w.valueHeads[g]!,
      d: w.d, dv: w.dv, kind, scale, alpha, bias, causal: false }), h * w.dv);
  }
  return out;
}

/**
 * ReLU bias giving ~2% active keys per head on the first query (the median over heads of each
 * head's 98th-percentile scaled score): synthetic data and softmax dumps have no trained bias.
 */
export function calibrateReluBias(w: Workload): number {
  const group = w.heads / w.kvHeads, scale = 1 / Math.sqrt(w.d), q = w.queries[0]!;
  const qs: number[] = [];
  const s = new Float64Array(w.n);
  for (let h = 0; h < w.heads; h++) {
    const k = w.keyHeads[Math.floor(h / group)]!;
    for (let j = 0; j < w.n; j++) {
      let x = 0;
      for (let c = 0; c < w.d; c++) x += q[h * w.d + c]! * k[j * w.d + c]!;
      s[j] = x * scale;
    }
    s.sort();
    qs.push(s[Math.floor(0.98 * (w.n - 1))]!);
  }
  return median(qs);
}

/** Bytes a dense decode step reads: every key and value row of every KV head (float32). */
export function denseDecodeBytes(w: Workload): number { return w.kvHeads * w.n * (w.d + w.dv) * 4; }

/**
 * Bytes a sparse decode step on the 'quantized' index reads (an estimate): the index pass (int8
 * codes padded to 4 plus 16 B per key, per KV head) plus the exact float32 key rows scored and the
 * value rows used, per query head.
 */
export function sparseDecodeBytes(w: Workload, usedPerHead: number, scoredPerHead: number): number {
  return w.kvHeads * w.n * (Math.ceil(w.d / 4) * 4 + 16) + w.heads * (scoredPerHead * w.d + usedPerHead * w.dv) * 4;
}
