/**
 * The float64 dense reference: the plain-loop definition every fast path is tested against.
 * Slow on purpose; readable on purpose. Inputs are row-major float32 (Matrix data).
 *
 *   s_ij  = ⟨q_i, k_j⟩ · scale                 (j visible to i: all j, or j ≤ i + n − m when causal)
 *   softmax: w_ij = exp(s_ij − max_j s_ij)
 *   relu:    w_ij = max(s_ij − bias, 0)^alpha
 *   out_i  = Σ_j w_ij v_j / Σ_j w_ij            (a row with Σ w = 0 gives zeros)
 */
export interface ReferenceInput {
  q: Float32Array; m: number;
  k: Float32Array; n: number;
  v: Float32Array; d: number; dv: number;
  kind: 'softmax' | 'relu';
  scale: number; alpha: number; bias: number; causal: boolean;
}

/** Scaled scores of query i against the keys it may see (length = visible count). */
export function referenceScores(x: ReferenceInput, i: number): Float64Array {
  const visible = visibleKeys(x.m, x.n, i, x.causal);
  const s = new Float64Array(visible);
  for (let j = 0; j < visible; j++) {
    let dot = 0;
    for (let c = 0; c < x.d; c++) dot += x.q[i * x.d + c]! * x.k[j * x.d + c]!;
    s[j] = dot * x.scale;
  }
  return s;
}

/** Unnormalised weights of query i, relative to the row's largest (softmax: e^{s − max}; ReLU: (t / t_max)^α). */
export function referenceWeights(x: ReferenceInput, i: number): Float64Array {
  const s = referenceScores(x, i);
  const w = new Float64Array(s.length);
  if (x.kind === 'softmax') {
    let max = -Infinity;
    for (const t of s) if (t > max) max = t;
    for (let j = 0; j < s.length; j++) w[j] = Math.exp(s[j]! - max);
  } else {
    // Relative to the row's largest t, like softmax's max: t^α alone overflows (100^300), the ratio never does.
    let max = 0;
    for (const t of s) if (t - x.bias > max) max = t - x.bias;
    for (let j = 0; j < s.length; j++) {
      const t = s[j]! - x.bias;
      w[j] = t > 0 ? (t / max) ** x.alpha : 0;
    }
  }
  return w;
}

/** Dense attention output [m, dv] in float64. */
export function referenceAttention(x: ReferenceInput): Float64Array {
  const out = new Float64Array(x.m * x.dv);
  for (let i = 0; i < x.m; i++) {
    const w = referenceWeights(x, i);
    let total = 0;
    for (const t of w) total += t;
    if (total === 0) continue;
    for (let j = 0; j < w.length; j++) {
      const a = w[j]! / total;
      if (a === 0) continue;
      for (let c = 0; c < x.dv; c++) out[i * x.dv + c] += a * x.v[j * x.dv + c]!;
    }
  }
  return out;
}

/** Keys query i of m may see among n: all, or the causal prefix j ≤ i + n − m (clamped to [0, n]). */
export function visibleKeys(m: number, n: number, i: number, causal: boolean): number {
  if (!causal) return n;
  return Math.max(0, Math.min(n, i + n - m + 1));
}
