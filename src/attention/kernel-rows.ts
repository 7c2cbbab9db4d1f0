import { normUp, roundingSlack } from '../hsr/rounding.js';
import { float32DotAbsolute, float32DotRelative, float32Usable } from '../kernels/float32-error.js';
import { STATE_EXTRA, type Kernels, type Weighting } from '../kernels/types.js';
import { initStates, lseMerge } from '../kernels/state.js';
import type { AttentionState } from './state.js';

/**
 * The per-taken-key work of sparse rows — scoring gathered key rows and adding their weighted value
 * rows — done by the kernels (WebAssembly SIMD, float32) instead of float64 loops in JS. Used only
 * when the keys and values live in the kernels' memory (`residentKernels`), so nothing is copied
 * but the ids, the weights and one small state per call.
 *
 * Float32 scores come with a certified margin, the kernels' float32 error model
 * (kernels/float32-error.ts, the same bound the quantized index's verification uses):
 * {@link KernelRows.margin} turns it into a bound on the logit error of every key of a row through
 * the largest key norm. Rows whose ‖q‖·max‖k‖ could overflow float32 do not come here (`usable`).
 */

/** `accumulateIds` with these settings adds w·v for precomputed weights w passed as the dots. */
const GIVEN_WEIGHTS: Weighting = { kind: 'relu', scale: 1, bias: 0, alpha: 1 };

export class KernelRows {
  private dots = new Float32Array(0);
  private idBuf = new Uint32Array(0);
  private readonly state: Float32Array;
  private readonly g32: number;
  private readonly g: number;
  private readonly absolute: number;

  constructor(readonly kernels: Kernels, readonly dim: number, readonly valueDim: number) {
    this.state = new Float32Array(valueDim + STATE_EXTRA);
    this.g32 = float32DotRelative(dim);
    this.g = roundingSlack(dim);
    this.absolute = float32DotAbsolute(dim);
  }

  /** ‖q‖ rounded up (the input of {@link margin} and {@link usable}). */
  queryNorm(q: Float32Array): number { return normUp(q, this.g); }

  /** Whether float32 scoring is safe for this query against keys of norm ≤ keyNormMax. */
  usable(qNorm: number, keyNormMax: number): boolean { return float32Usable(qNorm, keyNormMax); }

  /** A bound on |logit̃ − logit| for every key: scale·(G32·‖q‖·max‖k‖ + d·2⁻¹⁴⁰), rounded up. */
  margin(qNorm: number, keyNormMax: number, scale: number): number {
    return scale * (this.g32 * qNorm * keyNormMax + this.absolute) * (1 + 1e-6);
  }

  /**
   * Softmax over the keys ids[from..to) folded into the float64 state `st` entirely by the kernels,
   * in one `attendIds` call: float32 scores, then weights e^{s − max} against the chunk's max (float32
   * exp polynomial), their sum and the weighted value rows, merged into `st` by log-sum-exp. The float32 sum of the
   * chunk is within a relative {@link sumSlack}(count) of Σ e^{s̃ − max}; the bound accounts for it
   * (certified-rule.ts). `weighting` is { softmax, scale }.
   */
  foldSoftmax(q: Float32Array, keys: Float32Array, ids: Uint32Array, from: number, to: number, weighting: Weighting,
    values: Float32Array, st: AttentionState): void {
    const count = to - from;
    if (count <= 0) return;
    const idv = this.ids(ids, from, count), s32 = this.state, dv = this.valueDim;
    initStates(s32, 1, dv, 'softmax');
    this.kernels.attendIds(q, keys, values, idv, count, this.dim, dv, weighting, s32);
    lseMerge(st.data, 0, s32, 0, dv);
  }

  /**
   * Relative error of a float32 softmax chunk's sum of `count` weights: the exp polynomial
   * (≤ 1e-6 per weight, generously) and the float32 additions (γ_{count+4}).
   */
  sumSlack(count: number): number { return 2e-6 + (count + 4) * 2 ** -23; }

  /**
   * A bound on the error of the float32 logits inside the kernel's weighting, beyond {@link margin}:
   * fl(dot·scale) and fl(logit − max) each round by ≤ 2⁻²⁴ of a value ≤ 2·scale·‖q‖·max‖k‖.
   */
  logitRounding(qNorm: number, keyNormMax: number, scale: number): number {
    return 2 ** -21 * scale * qNorm * keyNormMax * (1 + 1e-6);
  }

  /** Raw float32 dots ⟨q, k_{ids[p]}⟩ for p < count (a view valid until the next call). */
  dotsOf(q: Float32Array, keys: Float32Array, ids: Uint32Array, count: number): Float32Array {
    const dots = this.scratch(count);
    if (count > 0) this.kernels.scoreIds(q, keys, this.ids(ids, 0, count), count, this.dim, dots);
    return dots;
  }

  /**
   * acc[c] += Σ_{from ≤ p < to} w[p]·values[ids[p]·dv + c] (weights ≥ 0, any size: the kernel sums
   * w/max(w) in float32, the result is scaled back into the float64 accumulator).
   */
  accumulate(acc: Float64Array, w: Float64Array, ids: Uint32Array, from: number, to: number, values: Float32Array): void {
    const count = to - from;
    if (count <= 0) return;
    const dots = this.scratch(count), idv = this.ids(ids, from, count), st = this.state, dv = this.valueDim;
    // Weights go in relative to the largest (ReLU^α weights may exceed float32's range).
    let top = 0;
    for (let p = from; p < to; p++) if (w[p]! > top) top = w[p]!;
    if (top === 0) return;
    const inv = 1 / top;
    for (let p = 0; p < count; p++) dots[p] = w[from + p]! * inv;
    st.fill(0);
    this.kernels.accumulateIds(st, dots, count, GIVEN_WEIGHTS, values, idv, dv);
    const back = top * Math.exp(st[dv]!); // the state's weights are w/top relative to e^max (0 here: they are ≤ 1)
    for (let c = 0; c < dv; c++) acc[c]! += st[c]! * back;
  }

  private scratch(count: number): Float32Array {
    if (this.dots.length < count) this.dots = new Float32Array(Math.max(count, 2 * this.dots.length, 64));
    return this.dots;
  }

  /** ids[from .. from+count) as an array starting at 0 (kernels take whole arrays). */
  private ids(ids: Uint32Array, from: number, count: number): Uint32Array {
    if (from === 0) return ids;
    if (this.idBuf.length < count) this.idBuf = new Uint32Array(Math.max(count, 2 * this.idBuf.length, 64));
    this.idBuf.set(ids.subarray(from, from + count));
    return this.idBuf;
  }
}

/**
 * `kernels` when the keys and values live where the kernels read them at full speed, else null —
 * then rows take the float64 path instead of having the kernels copy the whole key array in on
 * every call. The caller allocates `values` from `kernels`; the keys are the index's points, which
 * the quantized index keeps in the same memory.
 */
export function residentKernels(kernels: Kernels | null, keys: Float32Array, values: Float32Array): Kernels | null {
  if (kernels === null) return null;
  return kernels.isResident(keys) && kernels.isResident(values) ? kernels : null;
}

/** Largest Euclidean norm of rows [from, to) of a [·, dim] array, rounded up (float64). */
export function maxRowNorm(a: Float32Array, dim: number, from: number, to: number, current = 0): number {
  let best = current;
  for (let r = from; r < to; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) { const x = a[r * dim + j]!; s += x * x; }
    const n = Math.sqrt(s) * (1 + roundingSlack(dim));
    if (n > best) best = n;
  }
  return best;
}
