import { lseMerge } from '../state.js';
import { gapBucket, STATE_EXTRA, type BackendArray, type BackendBuffer, type Kernels, type Weighting } from '../types.js';

/** Keys per block in the fused `attendRange`: a block's dots ([m, BLOCK] floats) stay in L1. */
const BLOCK = 64;

/**
 * The plain-TypeScript backend: the readable definition of every kernel and the fallback where
 * WebAssembly SIMD is missing. Four independent partial sums per dot product let V8 overlap the
 * multiply-adds (about 2 GFLOP/s when scoring on this machine, against ~30 for wasm-simd).
 */
export function createJsKernels(): Kernels {
  let dots = new Float32Array(0); // scratch of attendRange ([m, BLOCK]) and attendIds ([count]), grown when too small

  let chunk = new Float64Array(0); // [dv + 2] float64 state of one call's keys: no float32 rounding per update

  /**
   * Folds `count` dots into the state at states[so ..]: the keys as one float64 state relative to
   * their own maximum (softmax; rounded to float32 so the merged max is a float32 value) or to the
   * ReLU reference of {@link reluReference}, merged in by log-sum-exp (lseMerge).
   */
  const accumulate = (state: Float32Array, so: number, d: Float32Array, dOff: number, count: number,
    w: Weighting, values: Float32Array, ids: Uint32Array | null, start: number, dv: number): void => {
    if (chunk.length < dv + STATE_EXTRA) chunk = new Float64Array(dv + STATE_EXTRA);
    const { scale, bias, alpha } = w;
    const softmax = w.kind === 'softmax';
    let blockMax = -Infinity;
    for (let i = 0; i < count; i++) { const l = d[dOff + i]! * scale; if (l > blockMax) blockMax = l; }
    const max = softmax ? Math.fround(blockMax) : reluReference(blockMax - bias, alpha);
    const r = softmax ? 1 : Math.exp(-max / alpha);
    chunk.fill(0, 0, dv);
    let sum = 0;
    for (let i = 0; i < count; i++) {
      let p: number;
      if (softmax) {
        p = Math.exp(d[dOff + i]! * scale - max);
      } else {
        const t = (d[dOff + i]! * scale - bias) * r;
        p = t > 0 ? (alpha === 1 ? t : t ** alpha) : 0;
      }
      if (p === 0) continue;
      sum += p;
      const vo = (ids === null ? start + i : ids[i]!) * dv;
      for (let c = 0; c < dv; c++) chunk[c] += p * values[vo + c]!;
    }
    chunk[dv] = max;
    chunk[dv + 1] = sum;
    lseMerge(state, so, chunk, 0, dv);
  };

  const kernels: Kernels = {
    name: 'js',
    sweepQueryShift: 13,
    capabilities: { hostArraysResident: true, quantizedSweep: true, bucketSelection: true },
    allocF32: (length) => plainBuffer(new Float32Array(length)),
    allocI8: (length) => plainBuffer(new Int8Array(length)),
    allocI16: (length) => plainBuffer(new Int16Array(length)),
    allocI32: (length) => plainBuffer(new Int32Array(length)),
    allocU32: (length) => plainBuffer(new Uint32Array(length)),
    isResident: () => true,

    scoreBlockMulti(queries, m, keys, start, count, dim, out) {
      for (let i = 0; i < count; i++) {
        const ko = (start + i) * dim;
        for (let j = 0; j < m; j++) out[j * count + i] = dot(queries, j * dim, keys, ko, dim);
      }
    },

    scoreIds(q, keys, ids, count, dim, out) {
      for (let i = 0; i < count; i++) out[i] = dot(q, 0, keys, ids[i]! * dim, dim);
    },

    scoreBlockI8(q, keys8, scales, start, count, dim, out) {
      for (let i = 0; i < count; i++) {
        out[i] = scales[start + i]! * dotI8(q, keys8, (start + i) * dim, dim);
      }
    },

    scoreBlockI8I16(queries16, m, keys8, start, count, dim, out) {
      for (let j = 0; j < m; j++) {
        for (let i = 0; i < count; i++) {
          let s = 0;
          const k = (start + i) * dim, q = j * dim;
          for (let c = 0; c < dim; c++) s += queries16[q + c]! * keys8[k + c]!;
          out[j * count + i] = s;
        }
      }
    },

    boundsFromDots(dots, count, shift, scales, slacks, codeNorms, start, f, qn, qe, up, lo) {
      const unit = 2 ** -shift;
      for (let i = 0; i < count; i++) {
        const k = start + i;
        const centre = scales[k]! * f * (dots[i]! * unit), radius = qn * slacks[k]! + qe * codeNorms[k]!;
        up[k] = centre + radius;
        lo[k] = centre - radius;
      }
    },

    sweepBoundsI8(queries16, m, keys8, scales, slacks, codeNorms, start, count, dim, coef, upper, centreOut) {
      for (let j = 0; j < m; j++) {
        for (let i = 0; i < count; i++) {
          const k = start + i, [c, u] = sweptBound(queries16, j, keys8, k, dim, scales, slacks, codeNorms, coef);
          centreOut[j * count + i] = c;
          upper[j * count + i] = u;
        }
      }
    },

    sweepCandidatesI8(queries16, m, keys8, scales, slacks, codeNorms, start, count, dim, coef, ids, counts) {
      for (let j = 0; j < m; j++) {
        const t = coef[4 * j + 3]!;
        let c = 0;
        for (let i = 0; i < count; i++) {
          const k = start + i;
          if (sweptBound(queries16, j, keys8, k, dim, scales, slacks, codeNorms, coef)[1] >= t) ids[j * count + c++] = k;
        }
        counts[j] = c;
      }
    },

    sweepBoundsRows(queries16, m, keys8, scales, slacks, codeNorms, start, count, dim, coef, upper, centreOut, stride) {
      for (let j = 0; j < m; j++) {
        for (let i = 0; i < count; i++) {
          const [c, u] = sweptBound(queries16, j, keys8, start + i, dim, scales, slacks, codeNorms, coef);
          centreOut[j * stride + i] = c;
          upper[j * stride + i] = u;
        }
      }
    },

    gapHistogram(upper, count, invWidth, buckets, counts) {
      counts.fill(0, 0, buckets);
      let top = -Infinity;
      for (let i = 0; i < count; i++) if (upper[i]! > top) top = upper[i]!;
      for (let i = 0; i < count; i++) counts[gapBucket(top, upper[i]!, invWidth, buckets)]!++;
      return top;
    },

    selectBuckets(upper, count, top, invWidth, buckets, from, to, base, ids) {
      let c = 0;
      for (let i = 0; i < count; i++) {
        const b = gapBucket(top, upper[i]!, invWidth, buckets);
        if (b >= from && b <= to) ids[c++] = base + i;
      }
      return c;
    },

    accumulateIds(state, d, count, w, values, ids, dv) {
      accumulate(state, 0, d, 0, count, w, values, ids, 0, dv);
    },

    attendIds(q, keys, values, ids, count, dim, dv, w, state) {
      if (dots.length < count) dots = new Float32Array(Math.max(count, 2 * dots.length));
      kernels.scoreIds(q, keys, ids, count, dim, dots);
      accumulate(state, 0, dots, 0, count, w, values, ids, 0, dv);
    },

    attendRange(queries, m, keys, values, start, count, dim, dv, w, states) {
      if (dots.length < m * BLOCK) dots = new Float32Array(m * BLOCK);
      for (let b = 0; b < count; b += BLOCK) {
        const c = Math.min(BLOCK, count - b);
        kernels.scoreBlockMulti(queries, m, keys, start + b, c, dim, dots);
        for (let j = 0; j < m; j++) accumulate(states, j * (dv + 2), dots, j * c, c, w, values, null, start + b, dv);
      }
    },
  };
  return kernels;
}

/**
 * The reference (the state's max slot) of a ReLU^α block whose largest t is tmax: its weights are
 * t^α·e^{−max}. 0 (absolute weights) while tmax^α lies within 2^±64, else α·ln tmax rounded to
 * float32 (the state's precision, so the merge's e^{max_a − max_b} is exact): t^α alone overflows
 * float32 from 100^20 on and float64 from 100^155. Merging by log-sum-exp (lseMerge) then rescales
 * states of different references as it does softmax's.
 */
function reluReference(tmax: number, alpha: number): number {
  if (!(tmax > 0)) return 0;
  const pw = tmax ** alpha;
  return pw <= 2 ** 64 && pw >= 2 ** -64 ? 0 : Math.fround(alpha * Math.log(tmax));
}

/** ⟨a[ao ..], b[bo ..]⟩ over n elements with four partial sums (float64 in V8's registers). */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    s0 += a[ao + c]! * b[bo + c]!;
    s1 += a[ao + c + 1]! * b[bo + c + 1]!;
    s2 += a[ao + c + 2]! * b[bo + c + 2]!;
    s3 += a[ao + c + 3]! * b[bo + c + 3]!;
  }
  for (; c < n; c++) s0 += a[ao + c]! * b[bo + c]!;
  return (s0 + s1) + (s2 + s3);
}

/** ⟨q, int8 row at bo⟩; separate from `dot` so each stays monomorphic in V8. */
function dotI8(q: Float32Array, b: Int8Array, bo: number, n: number): number {
  let s0 = 0, s1 = 0;
  let c = 0;
  for (; c + 2 <= n; c += 2) { s0 += q[c]! * b[bo + c]!; s1 += q[c + 1]! * b[bo + c + 1]!; }
  if (c < n) s0 += q[c]! * b[bo + c]!;
  return s0 + s1;
}

function plainBuffer<T extends BackendArray>(array: T): BackendBuffer<T> {
  return { length: array.length, view: () => array, free: () => {} };
}

/** Scratch of {@link sweptBound}'s answer: [centre, upper] as float32 values. */
const swept: [number, number] = [0, 0];

/**
 * Head j's float32 centre and certified upper bound for key k (sweepBoundsI8's definition),
 * evaluated in float64 — the int32 dot is exact — then the 2⁻¹⁹ allowance added before rounding
 * to float32, which it covers with room to spare (the rounding moves the value by ≤ 2⁻²⁴ of it).
 */
function sweptBound(q16: Int16Array, j: number, keys8: Int8Array, k: number, dim: number, scales: Float32Array,
  slacks: Float32Array, codeNorms: Float32Array, coef: Float32Array): [number, number] {
  let dot = 0;
  const q = j * dim, base = k * dim;
  for (let c = 0; c < dim; c++) dot += q16[q + c]! * keys8[base + c]!;
  const centre = coef[4 * j]! * scales[k]! * dot;
  const radius = coef[4 * j + 1]! * slacks[k]! + coef[4 * j + 2]! * codeNorms[k]!;
  swept[0] = Math.fround(centre);
  swept[1] = Math.fround(centre + radius + 2 ** -19 * (Math.abs(centre) + radius) + 2 ** -120);
  return swept;
}
