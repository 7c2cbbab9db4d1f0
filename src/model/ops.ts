/** The element-wise pieces of a Llama block. Rows are row-major; `m` rows of width `n`. */

/** out_i = w ⊙ x_i / √(mean(x_i²) + eps) for each of m rows (HF LlamaRMSNorm). */
export function rmsNorm(x: Float32Array, w: Float32Array, m: number, n: number, eps: number, out: Float32Array): void {
  for (let r = 0; r < m; r++) {
    const o = r * n;
    let ss = 0;
    for (let j = 0; j < n; j++) ss += x[o + j]! * x[o + j]!;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let j = 0; j < n; j++) out[o + j] = w[j]! * Math.fround(x[o + j]! * inv);
  }
}

/** SwiGLU gate, in place: gate_i = silu(gate_i) · up_i, silu(z) = z / (1 + e^(−z)). */
export function swiglu(gate: Float32Array, up: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) {
    const z = gate[i]!;
    gate[i] = (z / (1 + Math.exp(-z))) * up[i]!;
  }
}

/** Adds `bias` (width n) to each of m rows of x, in place (the projections' optional biases). */
export function addBias(x: Float32Array, bias: Float32Array, m: number, n: number): void {
  for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) x[r * n + j] = x[r * n + j]! + bias[j]!;
}

/** x += y over the first `length` values (the residual connection). */
export function addInPlace(x: Float32Array, y: Float32Array, length: number): void {
  for (let i = 0; i < length; i++) x[i] = x[i]! + y[i]!;
}

/** −ln softmax(logits)[target], computed stably in float64. */
export function negLogLikelihood(logits: Float32Array, offset: number, n: number, target: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (logits[offset + j]! > max) max = logits[offset + j]!;
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(logits[offset + j]! - max);
  return Math.log(sum) + max - logits[offset + target]!;
}
