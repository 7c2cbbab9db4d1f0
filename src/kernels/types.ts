/**
 * The kernel interface: the few inner loops attention spends its time in, behind one narrow
 * contract with two backends — `js` (plain TypeScript, runs anywhere, the readable fallback) and
 * `wasm-simd` (WebAssembly f32x4, picked by feature detection). {@link CoreKernels} is what every
 * backend has; the quantized index's sweeps ({@link QuantizedSweepKernels}) and certified
 * selection's bucket ops ({@link SelectionKernels}) are separate, announced by `capabilities`.
 * One conformance suite (test/kernels/) runs every backend against the float64 reference. Layout
 * and ownership rules are written down in docs/kernels.md; the float32 error model in
 * float32-error.ts.
 *
 * Conventions (the same for every method):
 * - Rows are row-major: row r of a `[rows, dim]` array is `a[r·dim .. (r+1)·dim)`.
 * - `start`/`count` select rows `start .. start+count) of a key or value array; `ids` select rows by id.
 * - Kernels never validate and never allocate in steady state: the caller (the public boundary)
 *   has checked shapes and finiteness. `count = 0` is a no-op.
 * - Arithmetic is float32 with several partial sums (SIMD lanes, unrolled accumulators), so results
 *   differ from float64 by rounding only; the conformance suite bounds that difference.
 *
 * Memory ownership (why `alloc*` exists): the wasm backend reads at full speed only from its own
 * WebAssembly linear memory. Every method accepts ANY typed array, but arrays that do not live in
 * the backend's memory are copied in (and outputs copied back) on every call — correct, and fine
 * for small arrays (a query, a state), but for keys and values it costs as much as the kernel
 * itself. So whoever owns K/V storage should allocate it with `allocF32` / `allocI8` and pass
 * `buffer.view()`. Allocating may grow the memory, which detaches every earlier view of it
 * (length 0): call `view()` again after any allocation instead of keeping a view across one.
 * The `js` backend hands out plain typed arrays, so code written for `wasm-simd` runs unchanged.
 */

/** The typed arrays a backend hands out as memory of its own. */
export type BackendArray = Float32Array | Int8Array | Int16Array | Int32Array | Uint32Array;

/**
 * A block of memory owned by a backend, of one element type, element count fixed at allocation.
 * Integer data (quantised keys, int16 queries, int32 dots, ids, counts) lives in integer buffers:
 * no backend is asked to reinterpret float32 memory.
 */
export interface BackendBuffer<T extends BackendArray> {
  readonly length: number;
  /** A view of the whole block. Re-call after any allocation on the same backend (memory may have moved). */
  view(): T;
  /** Returns the block to the backend; the buffer and its views must not be used afterwards. */
  free(): void;
}
export type F32Buffer = BackendBuffer<Float32Array>;
export type I8Buffer = BackendBuffer<Int8Array>;
export type I16Buffer = BackendBuffer<Int16Array>;
export type I32Buffer = BackendBuffer<Int32Array>;
export type U32Buffer = BackendBuffer<Uint32Array>;

/** What a backend can do, so callers ask instead of testing its name. */
export interface BackendCapabilities {
  /**
   * Plain host typed arrays are read in place at full speed (the js backend): every array counts
   * as resident. False where only the backend's own memory is (wasm linear memory, GPU buffers).
   */
  readonly hostArraysResident: boolean;
  /** Implements {@link QuantizedSweepKernels} (the quantized index's int8 sweeps). */
  readonly quantizedSweep: boolean;
  /** Implements {@link SelectionKernels} (certified selection's bucket histogram and listing). */
  readonly bucketSelection: boolean;
}

/**
 * How scores become attention weights. `ResolvedAttentionOptions` (attention/options.ts) fits.
 *   softmax: logit = dot·scale, weight = exp(logit − running max)
 *   relu:    weight = max(dot·scale − bias, 0)^alpha   (alpha a positive integer; in a state, relative to e^max)
 */
export interface Weighting {
  readonly kind: 'softmax' | 'relu';
  readonly scale: number;
  readonly bias: number;
  readonly alpha: number;
}

/**
 * Online-softmax state of one query, `dv + 2` floats: `[acc_0 .. acc_{dv−1}, max, sum]` where
 *   out = acc / sum   and   sum = Σ_j exp(logit_j − max),  acc = Σ_j exp(logit_j − max)·v_j.
 * A fresh state is `acc = 0, max = −Infinity, sum = 0` ({@link initState}). For ReLU the same
 * layout holds with weights t^α·e^{−max}: `max` starts at 0 (absolute weights) and the kernels raise
 * it to α·ln t_max only when t^α would leave float32's range (100^20 already overflows), so the one
 * log-sum-exp merge (`kernels/state.ts`) serves both kinds, split-KV threads and sparse + tail
 * combinations alike.
 * Several queries' states lie back to back with stride `dv + 2`.
 */
export const STATE_EXTRA = 2;

/**
 * The ops every backend has: memory, the dense and gathered dot products, and the fused attention
 * steps (online softmax / ReLU^α into packed states). A new backend (WebGPU) starts here.
 */
export interface CoreKernels {
  /** 'js', 'wasm-simd', 'wasm-relaxed-simd', … (for messages and tables; decisions read {@link capabilities}). */
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  allocF32(length: number): F32Buffer;
  allocI8(length: number): I8Buffer;
  allocI16(length: number): I16Buffer;
  allocI32(length: number): I32Buffer;
  allocU32(length: number): U32Buffer;
  /** Whether `array` lives where this backend reads it at full speed (its memory, or any host array when hostArraysResident). */
  isResident(array: ArrayBufferView): boolean;

  /**
   * Several queries against one block, reading each key once:
   * out[j·count + i] = ⟨q_j, k_{start+i}⟩ for j < m, i < count.  queries: [m, dim], out: [m, count].
   */
  scoreBlockMulti(queries: Float32Array, m: number, keys: Float32Array, start: number, count: number,
    dim: number, out: Float32Array): void;

  /** out[i] = ⟨q, k_{ids[i]}⟩ for i < count (gathered rows). */
  scoreIds(q: Float32Array, keys: Float32Array, ids: Uint32Array, count: number, dim: number,
    out: Float32Array): void;

  /**
   * Folds already-computed dot products into an online state (see STATE_EXTRA): key i < count has
   * dot `dots[i]` and value row `values[ids[i]]`. Softmax rescales acc and sum when the running max
   * rises; ReLU adds weights directly.
   */
  accumulateIds(state: Float32Array, dots: Float32Array, count: number, w: Weighting,
    values: Float32Array, ids: Uint32Array, dv: number): void;

  /**
   * Fused sparse step of one query over gathered keys — {@link scoreIds} then {@link accumulateIds}
   * in one call: the dots ⟨q, k_{ids[i]}⟩ (i < count, float32, any summation order) are turned into
   * weights against one running max for the whole call (softmax: the state is rescaled at most
   * once, as accumulateIds does) and the value rows values[ids[i]] are added into `state` ([dv + 2]).
   * ids may repeat and come in any order.
   */
  attendIds(q: Float32Array, keys: Float32Array, values: Float32Array, ids: Uint32Array, count: number, dim: number,
    dv: number, w: Weighting, state: Float32Array): void;

  /**
   * Fused decode step over a contiguous key range — the dense (Flash-Decoding) inner loop:
   * m queries (one grouped-query group sharing these keys/values) against rows start..start+count,
   * each K and V row read once for all m queries, folded into `states` ([m, dv + 2]).
   */
  attendRange(queries: Float32Array, m: number, keys: Float32Array, values: Float32Array,
    start: number, count: number, dim: number, dv: number, w: Weighting, states: Float32Array): void;
}

/** The quantized index's int8 sweeps (hsr/quantized.ts): exact integer dots and certified bounds. */
export interface QuantizedSweepKernels {
  /**
   * The quantized sweep's query precision (`queries16` of {@link sweepBoundsI8} /
   * {@link sweepCandidatesI8}): callers quantise a query q' with |q'| < 2 as
   * q̂ = clamp(round(q'·2^s), −2^(s+1), 2^(s+1) − 1) for s = sweepQueryShift, so that q̂·2^−s is
   * within 2^−s (2^−(s+1) unless clamped) of q' in every component. 13 (int16 query) for every
   * backend but `wasm-relaxed-simd-q7`: 5 (a 7-bit query, [−64, 63]), whose sweep multiplies int8
   * codes by 7-bit queries (i32x4.relaxed_dot_i8x16_i7x16_add_s). docs/kernels.md derives the bound.
   */
  readonly sweepQueryShift: number;

  /**
   * Int8 keys with one scale per key (quantised index): out[i] = scales[start+i] · ⟨q, k8_{start+i}⟩.
   * keys8: [≥ start+count, dim] int8, scales: [≥ start+count].
   */
  scoreBlockI8(q: Float32Array, keys8: Int8Array, scales: Float32Array, start: number, count: number,
    dim: number, out: Float32Array): void;

  /**
   * Exact integer dots of m int16 queries with int8 keys, each key block read once for the group:
   * out[j·count + i] = Σ_c queries16[j·dim + c] · keys8[(start+i)·dim + c] for j < m, i < count
   * (queries16: [m, dim], out: [m, count] int32). Exact as long as every partial sum fits int32:
   * callers keep |queries16| ≤ 2¹⁴ and dim ≤ 1024 (2¹⁴·127·1024 < 2³¹).
   */
  scoreBlockI8I16(queries16: Int16Array, m: number, keys8: Int8Array, start: number, count: number,
    dim: number, out: Int32Array): void;

  /**
   * The quantized index's bounds from one head's {@link scoreBlockI8I16} dots, for keys
   * k = start + i, i < count, in float64 and this order:
   *   centre = (scales[k]·f)·(dots[i]·2^−shift),  radius = qn·slacks[k] + qe·codeNorms[k],
   *   up[k] = centre + radius,  lo[k] = centre − radius.
   */
  boundsFromDots(dots: Int32Array, count: number, shift: number, scales: Float64Array, slacks: Float64Array,
    codeNorms: Float64Array, start: number, f: number, qn: number, qe: number, up: Float64Array, lo: Float64Array): void;

  /**
   * The quantized index's fused sweep: exact int32 dots of m ≤ 4 int16 queries with int8 keys (as
   * {@link scoreBlockI8I16}, each key row read once for all m) turned into certified float32 bounds
   * without leaving the kernel. For key k = start + i (i < count) and head j, with
   * coef[4j .. 4j+3] = (a_j, n_j, e_j, t_j), a_j > 0 and n_j, e_j ≥ 0, and per-key float32 arrays
   * indexed by k (scales > 0 or 0 for a zero key, slacks ≥ 0, codeNorms ≥ 0):
   *   dot    = Σ_c queries16[j·dim + c]·keys8[k·dim + c]
   *   centre = a_j·scales[k]·dot,   radius = n_j·slacks[k] + e_j·codeNorms[k]
   * writes centreOut[j·count + i] = centre (float32 evaluation: an estimate) and
   * upper[j·count + i] ≥ centre + radius in exact real arithmetic: the float32 evaluation plus an
   * allowance of 2⁻¹⁹·(|centre| + radius) + 2⁻¹²⁰ (which covers every float32 rounding on the way).
   * t_j is unused here. Same exactness limits as scoreBlockI8I16 (|queries16| ≤ 2¹⁴, dim ≤ 1024); the
   * queries must lie in the range {@link sweepQueryShift} gives.
   */
  sweepBoundsI8(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
    codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, upper: Float32Array,
    centreOut: Float32Array): void;

  /**
   * The same sweep as a half-space query: key k = start + i is a candidate of head j when its
   * `upper` (exactly as {@link sweepBoundsI8} computes it) is ≥ t_j. Candidate ids (k, ascending)
   * go to ids[j·count ..], their number to counts[j]. Every key whose exact centre + radius reaches
   * t_j is a candidate (the allowance only ever adds keys; callers verify candidates exactly).
   */
  sweepCandidatesI8(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
    codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, ids: Uint32Array,
    counts: Int32Array): void;

  /**
   * The prefill tile's bound pass: {@link sweepBoundsI8} for m rows — any number, coef [4m] as
   * there — against keys k = start + i, i < count, as one int8 matrix product (each block of
   * codes fetched once for all m rows); row j's values go to upper[j·stride + i] and
   * centreOut[j·stride + i], bit for bit what sweepBoundsI8 writes for that row and key.
   * stride ≥ count. Same exactness limits and query range as sweepBoundsI8.
   */
  sweepBoundsRows(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
    codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, upper: Float32Array,
    centreOut: Float32Array, stride: number): void;
}

/** Certified selection's bucket ops over float32 upper bounds (attention/swept-bounds.ts). */
export interface SelectionKernels {
  /**
   * Certified selection's histogram over one head's float32 upper bounds on logits: returns
   * top = max_{i < count} upper[i] (−Infinity when count = 0) and, with W = `invWidth` (a power of
   * two), counts key i in bucket b_i = {@link gapBucket}(top, upper[i], W, buckets).
   * The result is in counts[0, buckets), overwritten; the array must have length ≥ 4·buckets: the
   * rest is scratch (the wasm kernel keeps one copy of the histogram per SIMD lane so that
   * neighbouring keys never update the same address). The guarantee the certificate rests on:
   * b_i / W ≤ top − upper[i] in exact arithmetic, so e^{upper[i] − top} ≤ e^{−b_i/W}.
   */
  gapHistogram(upper: Float32Array, count: number, invWidth: number, buckets: number, counts: Int32Array): number;

  /**
   * Ids (base + i, ascending) of the keys i < count whose bucket — computed exactly as
   * {@link gapHistogram} does for the same top, invWidth and buckets — lies in [from, to];
   * returns their number n. ids may be written up to ids[min(n, count − 1)] (one entry past the
   * matches: the wasm kernel stores the ids of a group of four and advances only on a match), so
   * it needs room for min(n + 1, count) entries — a caller writing at an offset into a longer list
   * needs one entry beyond the last match.
   */
  selectBuckets(upper: Float32Array, count: number, top: number, invWidth: number, buckets: number, from: number,
    to: number, base: number, ids: Uint32Array): number;

}

/** A CPU backend: every op (js and wasm-simd implement all three interfaces). */
export interface Kernels extends CoreKernels, QuantizedSweepKernels, SelectionKernels {}

/** Whether `k` has the quantized index's sweeps. */
export function hasQuantizedSweep<K extends CoreKernels>(k: K): k is K & QuantizedSweepKernels {
  return k.capabilities.quantizedSweep;
}

/** Whether `k` has certified selection's bucket ops. */
export function hasBucketSelection<K extends CoreKernels>(k: K): k is K & SelectionKernels {
  return k.capabilities.bucketSelection;
}

/** Float32 constant of {@link gapBucket}: 1 − 2⁻²² (exact in float32). */
const GAP_SHRINK = Math.fround(1 - 2 ** -22);

/**
 * The histogram bucket of a key with float32 upper bound `upper` below the row's top:
 * ⌊fl(fl(top − upper)·W)·(1 − 2⁻²²)⌋ in float32 arithmetic, clamped to [0, buckets − 1]. fl(top − upper)
 * is within a relative 2⁻²⁴ of the exact gap and ·W (a power of two) is exact, so the shrink
 * keeps b ≤ W·(top − upper) exactly: a key is never put in a bucket whose edge e^{−b/W} is below
 * its own bound. Every backend computes buckets this way (the wasm one in float32 SIMD).
 */
export function gapBucket(top: number, upper: number, invWidth: number, buckets: number): number {
  const g = Math.fround(Math.fround(Math.fround(top - upper) * invWidth) * GAP_SHRINK);
  return g >= buckets - 1 ? buckets - 1 : g > 0 ? Math.floor(g) : 0;
}

