import { readSafetensors } from '../../src/node/checkpoint.js';
import { rng } from './measure.js';

/**
 * Decode workloads for the benchmarks: a KV cache (token-major keys [n, kvHeads, d] and values
 * [n, kvHeads, dv], as KVCache.append takes them) and R decode queries ([R][heads·d], unscaled).
 *
 * - 'gaussian': keys, values, queries i.i.d. N(0, 1) — the paper's assumption, the worst case for
 *   pruning (scores spread evenly, no structure to exploit).
 * - 'llm': synthetic keys shaped like a trained model's (documented in docs/performance.md):
 *     k_i = U·z_i + 0.3·ε_i + o            z_i ~ N(0, I_8): rank-8 structure shared by all keys
 *     o   = 6 on 4 fixed "outlier" channels (massive activations), 0 elsewhere
 *     k_0 = 2.5·√d · u_q                   an attention sink aligned with the queries' mean direction
 *   queries q = U·w + 0.3·ε + 0.5·√d·u_q/‖·‖ with w ~ N(0, 2²·I_8), so logits are concentrated on
 *   a few keys plus the sink, like real decoding heads; values N(0, 1).
 * - 'real': the dev dump of a real model (data/ or ../shared/data): n = 8192, d = 64, 6 query
 *   heads over 2 KV heads; the decode queries are the last R positions' queries (each attends to
 *   all 8192 cached keys).
 */
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
  const r = rng(seed + n + 7 * d);
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

/** Finds a data file in the repo's data/ or beside the clone in ../shared/data. */
export function dataFile(name: string): string | null {
  for (const dir of ['data', '../shared/data', '/work/shared/data']) {
    try { readSafetensors(`${dir}/${name}`); return `${dir}/${name}`; } catch { /* next */ }
  }
  return null;
}

/** The real dumps: 'real' (softmax model, layer 2) or 'real-relu' (ReLU² model, bias 1, layer 3). */
export function realWorkload(kind: 'real' | 'real-relu', R: number): Workload | null {
  const file = dataFile(kind === 'real' ? 'dev_c_l2.safetensors' : 'dev_c_relu_l3.safetensors');
  if (file === null) return null;
  const st = readSafetensors(file);
  const layer = st.names().find((x) => x.endsWith('.q'))!.replace(/\.q$/, '');
  const q = st.float32(`${layer}.q`), k = st.float32(`${layer}.k`), v = st.float32(`${layer}.v`);
  const [heads, n, d] = q.shape as [number, number, number];
  const kvHeads = k.shape[0]!, dv = v.shape[2]!;
  const keys = new Float32Array(n * kvHeads * d), values = new Float32Array(n * kvHeads * dv);
  for (let g = 0; g < kvHeads; g++) for (let i = 0; i < n; i++) {
    keys.set(k.data.subarray((g * n + i) * d, (g * n + i + 1) * d), (i * kvHeads + g) * d);
    values.set(v.data.subarray((g * n + i) * dv, (g * n + i + 1) * dv), (i * kvHeads + g) * dv);
  }
  const queries = Array.from({ length: R }, (_, j) => {
    const p = n - 1 - j;
    const out = new Float32Array(heads * d);
    for (let h = 0; h < heads; h++) out.set(q.data.subarray((h * n + p) * d, (h * n + p + 1) * d), h * d);
    return out;
  });
  return {
    name: kind, n, d, dv, heads, kvHeads, keys, values, queries,
    keyHeads: headMajor(keys, n, kvHeads, d), valueHeads: headMajor(values, n, kvHeads, dv),
    relu: kind === 'real-relu' ? { alpha: 2, bias: 1 } : { alpha: 2, bias: 2 },
  };
}
