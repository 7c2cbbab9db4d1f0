import { HsrError } from '../../errors.js';
import type { BackendArray, BackendBuffer, Kernels, Weighting } from '../types.js';
import { LinearHeap } from './heap.js';
import {
  KERNELS_RELAXED_WASM_BASE64, KERNELS_RELAXED_WASM_SHARED_BASE64, KERNELS_WASM_BASE64, KERNELS_WASM_SHARED_BASE64,
} from './kernels.generated.js';
import { decodeBase64, wasmApi, type WasmMemory } from './wasm-api.js';

/** Keys per block in assembly/kernels.ts `attendRange` (its scratch is BLOCK·m floats). */
const BLOCK = 64;
/** Largest memory the modules declare: 65536 pages = 4 GiB. */
export const MAX_PAGES = 65536;

/** The raw exports of assembly/kernels.ts: byte offsets into linear memory and counts. */
export interface KernelExports {
  scoreIds(q: number, keys: number, ids: number, count: number, dim: number, out: number): void;
  scoreBlockMulti(qs: number, m: number, k: number, count: number, dim: number, out: number): void;
  scoreBlockI8(q: number, k8: number, scales: number, count: number, dim: number, out: number): void;
  scoreBlockI8I16(q16: number, m: number, k8: number, count: number, dim: number, out: number): void;
  boundsFromDots(dots: number, count: number, shift: number, scales: number, slacks: number, codeNorms: number,
    f: number, qn: number, qe: number, up: number, lo: number): void;
  sweepBoundsI8(q16: number, m: number, k8: number, scales: number, slacks: number, codeNorms: number,
    count: number, dim: number, coef: number, upper: number, centre: number): void;
  sweepCandidatesI8(q16: number, m: number, k8: number, scales: number, slacks: number, codeNorms: number,
    base: number, count: number, dim: number, coef: number, ids: number, counts: number): void;
  sweepBoundsRows(q16: number, m: number, k8: number, scales: number, slacks: number, codeNorms: number,
    count: number, dim: number, coef: number, upper: number, centre: number, stride: number): void;
  /** The relaxed build only: the sweeps on 7-bit queries (q8: bytes q̂ + 64). */
  sweepBoundsI8Q7?: KernelExports['sweepBoundsI8'];
  sweepCandidatesI8Q7?: KernelExports['sweepCandidatesI8'];
  sweepBoundsRowsQ7?: KernelExports['sweepBoundsRows'];
  gapHistogram(upper: number, count: number, invWidth: number, buckets: number, counts: number): number;
  selectBuckets(upper: number, count: number, top: number, invWidth: number, buckets: number, from: number, to: number,
    base: number, ids: number): number;
  accumulate(state: number, dots: number, count: number, kind: number, scale: number, bias: number, alpha: number,
    values: number, ids: number, dv: number): void;
  attendRange(qs: number, m: number, k: number, v: number, count: number, dim: number, dv: number,
    kind: number, scale: number, bias: number, alpha: number, states: number, scratch: number): void;
  attendIds(q: number, keys: number, values: number, ids: number, count: number, dim: number, dv: number,
    kind: number, scale: number, bias: number, alpha: number, state: number, scratch: number): void;
  /** Streams `bytes` (a multiple of 64) from p: the memory-bandwidth probe. */
  readSum(p: number, bytes: number): number;
}

const SOURCES = {
  plain: KERNELS_WASM_BASE64, shared: KERNELS_WASM_SHARED_BASE64,
  relaxed: KERNELS_RELAXED_WASM_BASE64, relaxedShared: KERNELS_RELAXED_WASM_SHARED_BASE64,
};
const modules: { [K in keyof typeof SOURCES]?: object } = {};

/** Instantiates the kernels over `memory` (compiling the embedded module once per process). */
export function instantiateKernels(memory: WasmMemory, shared: boolean, relaxed = false): KernelExports {
  const api = wasmApi();
  if (api === null) throw new Error('WebAssembly is not available');
  const key = relaxed ? (shared ? 'relaxedShared' : 'relaxed') : (shared ? 'shared' : 'plain');
  const module = modules[key] ??= new api.Module(decodeBase64(SOURCES[key]));
  return new api.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}

/** Creates a linear memory for the kernels; `shared` needs SharedArrayBuffer support. */
export function createKernelMemory(shared: boolean, initialPages = 32): WasmMemory {
  const api = wasmApi();
  if (api === null) throw new Error('WebAssembly is not available');
  return new api.Memory({ initial: initialPages, maximum: MAX_PAGES, shared });
}

type Typed = Float32Array | Int8Array | Uint32Array | Int16Array | Int32Array | Float64Array;

/**
 * One kernel argument of the current call: a range of a typed array, or (array null) scratch.
 * Resident arrays (views of this backend's memory) are passed by address; the others are copied
 * into the staging area, and outputs copied back after the call.
 */
interface Slot { array: Typed | null; offset: number; length: number; bytes: number; output: boolean; ptr: number }

export interface WasmKernelsOptions {
  /** Use this memory (e.g. a shared one the worker pool hands to its threads); default: a new plain one. */
  memory?: WasmMemory;
  shared?: boolean;
  /** Initial size of a new memory in 64 KiB pages (default 32 = 2 MiB). */
  initialPages?: number;
  /**
   * The relaxed-SIMD build (fused multiply-adds in the float kernels; name 'wasm-relaxed-simd').
   * Only where relaxedSimdUsable() (wasm/relaxed.ts) says so: createKernels decides. Default false.
   */
  relaxed?: boolean;
  /**
   * The quantized sweep's query precision: 16 (default: int16 queries, i32x4.dot_i16x8_s) or, with
   * `relaxed`, 7 (7-bit queries, i32x4.relaxed_dot_i8x16_i7x16_add_s; name 'wasm-relaxed-simd-q7',
   * sweepQueryShift 5). The 7-bit sweep gains only where V8 lowers the relaxed dot to AVX-VNNI and
   * widens every certified bound (docs/kernels.md), so it is never the default.
   */
  sweepQueryBits?: 7 | 16;
}

/** The relaxed build's 7-bit sweep query byte: q̂ + 64 for q̂ ∈ [−64, 63] (assembly/sweep.ts QUERY_BIAS). */
const QUERY_BIAS = 64;

/** The WebAssembly SIMD backends, SIMD 1.0 or relaxed (see types.ts for semantics and docs/kernels.md for ownership). */
export function createWasmKernels(options: WasmKernelsOptions = {}): Kernels & { readonly heap: LinearHeap; readonly exports: KernelExports } {
  const shared = options.shared ?? false;
  const memory = options.memory ?? createKernelMemory(shared, options.initialPages);
  const relaxed = options.relaxed ?? false;
  const q7 = options.sweepQueryBits === 7;
  if (q7 && !relaxed) throw new HsrError('BAD_OPTION', 'createWasmKernels: expected sweepQueryBits 7 only with relaxed: true, got relaxed false');
  const x = instantiateKernels(memory, shared, relaxed);
  const sweepBounds = q7 ? x.sweepBoundsI8Q7! : x.sweepBoundsI8, sweepCandidates = q7 ? x.sweepCandidatesI8Q7! : x.sweepCandidatesI8;
  const sweepRows = q7 ? x.sweepBoundsRowsQ7! : x.sweepBoundsRows;
  const heap = new LinearHeap(memory);

  // Staging area for non-resident arguments; grows (rarely) to the largest call seen.
  let stagePtr = 0, stageBytes = 0;
  const slots: Slot[] = Array.from({ length: 8 }, () => ({ array: null, offset: 0, length: 0, bytes: 0, output: false, ptr: 0 }));
  let nSlots = 0;

  const bind = (array: Typed | null, offset: number, length: number, output: boolean, bytesPerElement = 4): number => {
    const s = slots[nSlots]!;
    s.array = array; s.offset = offset; s.length = length; s.output = output;
    s.bytes = length * (array?.BYTES_PER_ELEMENT ?? bytesPerElement);
    return nSlots++;
  };

  /** Resolves every bound slot to an address, staging non-resident ones; returns nothing. */
  const enter = (): void => {
    const buf = memory.buffer;
    let need = 0;
    for (let i = 0; i < nSlots; i++) {
      const s = slots[i]!;
      if (s.array !== null && s.array.buffer === buf) s.ptr = s.array.byteOffset + s.offset * s.array.BYTES_PER_ELEMENT;
      else { s.ptr = -1; need += Math.ceil(s.bytes / 16) * 16; }
    }
    if (need > stageBytes) {
      // Resident addresses were taken above, so growing (which detaches views) is safe here.
      if (stagePtr !== 0) heap.release(stagePtr);
      stageBytes = Math.max(need, 2 * stageBytes, 1 << 16);
      stagePtr = heap.alloc(stageBytes);
    }
    let cursor = stagePtr;
    const now = memory.buffer;
    for (let i = 0; i < nSlots; i++) {
      const s = slots[i]!;
      if (s.ptr !== -1) continue;
      s.ptr = cursor;
      cursor += Math.ceil(s.bytes / 16) * 16;
      const a = s.array;
      if (a === null || s.length === 0) continue;
      const src = a.subarray(s.offset, s.offset + s.length);
      if (a instanceof Float32Array) new Float32Array(now, s.ptr, s.length).set(src as Float32Array);
      else if (a instanceof Int8Array) new Int8Array(now, s.ptr, s.length).set(src as Int8Array);
      else if (a instanceof Int16Array) new Int16Array(now, s.ptr, s.length).set(src as Int16Array);
      else if (a instanceof Int32Array) new Int32Array(now, s.ptr, s.length).set(src as Int32Array);
      else if (a instanceof Float64Array) new Float64Array(now, s.ptr, s.length).set(src as Float64Array);
      else new Uint32Array(now, s.ptr, s.length).set(src as Uint32Array);
    }
  };

  /** Copies staged outputs back and clears the slots (a slot left at −1 by a failed enter holds nothing). */
  const leave = (): void => {
    const buf = memory.buffer;
    for (let i = 0; i < nSlots; i++) {
      const s = slots[i]!;
      const a = s.array;
      if (s.ptr === -1) { s.array = null; continue; }
      if (s.output && a instanceof Int32Array && a.buffer !== buf && s.length > 0) {
        a.set(new Int32Array(buf, s.ptr, s.length), s.offset);
      } else if (s.output && a instanceof Float64Array && a.buffer !== buf && s.length > 0) {
        a.set(new Float64Array(buf, s.ptr, s.length), s.offset);
      } else if (s.output && a instanceof Uint32Array && a.buffer !== buf && s.length > 0) {
        a.set(new Uint32Array(buf, s.ptr, s.length), s.offset);
      } else if (s.output && a instanceof Float32Array && a.buffer !== buf && s.length > 0) {
        a.set(new Float32Array(buf, s.ptr, s.length), s.offset);
      }
      s.array = null;
    }
    nSlots = 0;
  };

  const p = (i: number): number => slots[i]!.ptr;

  /** The sweep's query argument: the int16 rows as they are, or (7-bit sweep) scratch for their bytes. */
  const bindSweepQuery = (queries16: Int16Array, length: number): number =>
    q7 ? bind(null, 0, length, false, 1) : bind(queries16, 0, length, false);

  /**
   * 7-bit sweep: writes q̂ + 64 bytes into the scratch slot. A q̂ outside [−64, 63] would make
   * the kernel's dot wrong, so it is rejected here (m·dim checks per call: nothing next to the sweep).
   */
  const packSweepQuery = (queries16: Int16Array, slot: number, length: number): void => {
    if (!q7) return;
    const bytes = new Uint8Array(memory.buffer, p(slot), length);
    for (let i = 0; i < length; i++) {
      const v = queries16[i]!;
      if (v < -QUERY_BIAS || v >= QUERY_BIAS) {
        throw new HsrError('BAD_OPTION', `sweep: expected 7-bit queries in [-64, 63] (sweepQueryShift 5), got ${v}`);
      }
      bytes[i] = v + QUERY_BIAS;
    }
  };

  /** A block of `length` elements of linear memory; its view is re-made after the memory moved. */
  const alloc = <T extends BackendArray>(Type: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number },
    length: number): BackendBuffer<T> => {
    const ptr = heap.alloc(length * Type.BYTES_PER_ELEMENT);
    let view = new Type(memory.buffer, ptr, length);
    return {
      length,
      view() {
        if (view.buffer !== memory.buffer) view = new Type(memory.buffer, ptr, length);
        return view;
      },
      free() { heap.release(ptr); },
    };
  };
  const kindCode = (w: Weighting): number => (w.kind === 'softmax' ? 0 : 1);

  const kernels = {
    name: q7 ? 'wasm-relaxed-simd-q7' : relaxed ? 'wasm-relaxed-simd' : 'wasm-simd',
    sweepQueryShift: q7 ? 5 : 13,
    heap,
    exports: x,
    capabilities: { hostArraysResident: false, quantizedSweep: true, bucketSelection: true },
    allocF32: (length: number) => alloc(Float32Array, length),
    allocI8: (length: number) => alloc(Int8Array, length),
    allocI16: (length: number) => alloc(Int16Array, length),
    allocI32: (length: number) => alloc(Int32Array, length),
    allocU32: (length: number) => alloc(Uint32Array, length),
    isResident: (array: ArrayBufferView) => array.buffer === memory.buffer,

    scoreBlockMulti(queries: Float32Array, m: number, keys: Float32Array, start: number, count: number, dim: number, out: Float32Array) {
      if (count === 0 || m === 0) return;
      const a = bind(queries, 0, m * dim, false), b = bind(keys, start * dim, count * dim, false), o = bind(out, 0, m * count, true);
      try {
        enter();
        x.scoreBlockMulti(p(a), m, p(b), count, dim, p(o));
      } finally { leave(); }
    },

    scoreIds(q: Float32Array, keys: Float32Array, ids: Uint32Array, count: number, dim: number, out: Float32Array) {
      if (count === 0) return;
      // Gathered rows may lie anywhere, so non-resident keys are staged whole.
      const a = bind(q, 0, dim, false), b = bind(keys, 0, keys.length, false);
      const c = bind(ids, 0, count, false), o = bind(out, 0, count, true);
      try {
        enter();
        x.scoreIds(p(a), p(b), p(c), count, dim, p(o));
      } finally { leave(); }
    },

    scoreBlockI8(q: Float32Array, keys8: Int8Array, scales: Float32Array, start: number, count: number, dim: number, out: Float32Array) {
      if (count === 0) return;
      const a = bind(q, 0, dim, false), b = bind(keys8, start * dim, count * dim, false);
      const c = bind(scales, start, count, false), o = bind(out, 0, count, true);
      try {
        enter();
        x.scoreBlockI8(p(a), p(b), p(c), count, dim, p(o));
      } finally { leave(); }
    },

    scoreBlockI8I16(queries16: Int16Array, m: number, keys8: Int8Array, start: number, count: number, dim: number, out: Int32Array) {
      if (count === 0 || m === 0) return;
      const a = bind(queries16, 0, m * dim, false), b = bind(keys8, start * dim, count * dim, false), o = bind(out, 0, m * count, true);
      try {
        enter();
        x.scoreBlockI8I16(p(a), m, p(b), count, dim, p(o));
      } finally { leave(); }
    },

    boundsFromDots(dots: Int32Array, count: number, shift: number, scales: Float64Array, slacks: Float64Array, codeNorms: Float64Array,
      start: number, f: number, qn: number, qe: number, up: Float64Array, lo: Float64Array) {
      if (count === 0) return;
      const d = bind(dots, 0, count, false), a = bind(scales, start, count, false), b = bind(slacks, start, count, false);
      const c = bind(codeNorms, start, count, false), u = bind(up, start, count, true), l = bind(lo, start, count, true);
      try {
        enter();
        x.boundsFromDots(p(d), count, shift, p(a), p(b), p(c), f, qn, qe, p(u), p(l));
      } finally { leave(); }
    },

    sweepBoundsI8(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
      codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, upper: Float32Array,
      centreOut: Float32Array) {
      if (count === 0 || m === 0) return;
      const q = bindSweepQuery(queries16, m * dim), k = bind(keys8, start * dim, count * dim, false);
      const a = bind(scales, start, count, false), b = bind(slacks, start, count, false), c = bind(codeNorms, start, count, false);
      const f = bind(coef, 0, 4 * m, false), u = bind(upper, 0, m * count, true), o = bind(centreOut, 0, m * count, true);
      try {
        enter();
        packSweepQuery(queries16, q, m * dim);
        sweepBounds(p(q), m, p(k), p(a), p(b), p(c), count, dim, p(f), p(u), p(o));
      } finally { leave(); }
    },

    sweepCandidatesI8(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
      codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, ids: Uint32Array, counts: Int32Array) {
      if (count === 0 || m === 0) { counts.fill(0, 0, m); return; }
      const q = bindSweepQuery(queries16, m * dim), k = bind(keys8, start * dim, count * dim, false);
      const a = bind(scales, start, count, false), b = bind(slacks, start, count, false), c = bind(codeNorms, start, count, false);
      const f = bind(coef, 0, 4 * m, false), n = bind(counts, 0, m, true);
      // Resident ids are written in place; otherwise the kernel writes scratch and only each head's
      // candidates (usually a few per cent of m·count) are copied back.
      const residentIds = ids.buffer === memory.buffer;
      const o = residentIds ? bind(ids, 0, m * count, false) : bind(null, 0, m * count, false);
      try {
        enter();
        packSweepQuery(queries16, q, m * dim);
        sweepCandidates(p(q), m, p(k), p(a), p(b), p(c), start, count, dim, p(f), p(o), p(n));
        if (!residentIds) {
          const buf = memory.buffer;
          const found = new Int32Array(buf, p(n), m);
          for (let j = 0; j < m; j++) ids.set(new Uint32Array(buf, p(o) + j * count * 4, found[j]!), j * count);
        }
      } finally { leave(); }
    },

    sweepBoundsRows(queries16: Int16Array, m: number, keys8: Int8Array, scales: Float32Array, slacks: Float32Array,
      codeNorms: Float32Array, start: number, count: number, dim: number, coef: Float32Array, upper: Float32Array,
      centreOut: Float32Array, stride: number) {
      if (count === 0 || m === 0) return;
      const q = bindSweepQuery(queries16, m * dim), k = bind(keys8, start * dim, count * dim, false);
      const a = bind(scales, start, count, false), b = bind(slacks, start, count, false), c = bind(codeNorms, start, count, false);
      const span = (m - 1) * stride + count;
      const f = bind(coef, 0, 4 * m, false), u = bind(upper, 0, span, true), o = bind(centreOut, 0, span, true);
      try {
        enter();
        packSweepQuery(queries16, q, m * dim);
        sweepRows(p(q), m, p(k), p(a), p(b), p(c), count, dim, p(f), p(u), p(o), stride);
      } finally { leave(); }
    },

    gapHistogram(upper: Float32Array, count: number, invWidth: number, buckets: number, counts: Int32Array): number {
      const u = bind(upper, 0, count, false);
      // 4·buckets of room (one histogram per lane); only the result [0, buckets) is copied back.
      const n = counts.buffer === memory.buffer ? bind(counts, 0, 4 * buckets, true) : bind(null, 0, 4 * buckets, false);
      try {
        enter();
        const top = x.gapHistogram(p(u), count, invWidth, buckets, p(n));
        if (counts.buffer !== memory.buffer) counts.set(new Int32Array(memory.buffer, p(n), buckets));
        return top;
      } finally { leave(); }
    },

    selectBuckets(upper: Float32Array, count: number, top: number, invWidth: number, buckets: number, from: number,
      to: number, base: number, ids: Uint32Array): number {
      if (count === 0) return 0;
      const u = bind(upper, 0, count, false);
      const residentIds = ids.buffer === memory.buffer;
      // The kernel may write one entry past its matches but never past ids[count − 1] (types.ts).
      const o = residentIds ? bind(ids, 0, count, false) : bind(null, 0, count, false);
      try {
        enter();
        const found = x.selectBuckets(p(u), count, top, invWidth, buckets, from, to, base, p(o));
        if (!residentIds) ids.set(new Uint32Array(memory.buffer, p(o), found));
        return found;
      } finally { leave(); }
    },

    accumulateIds(state: Float32Array, dots: Float32Array, count: number, w: Weighting, values: Float32Array, ids: Uint32Array, dv: number) {
      if (count === 0) return;
      const s = bind(state, 0, dv + 2, true), d = bind(null, 0, count, false);
      const v = bind(values, 0, values.length, false), c = bind(ids, 0, count, false);
      try {
        enter();
        new Float32Array(memory.buffer, p(d), count).set(dots.subarray(0, count));
        x.accumulate(p(s), p(d), count, kindCode(w), w.scale, w.bias, w.alpha, p(v), p(c), dv);
      } finally { leave(); }
    },

    attendIds(q: Float32Array, keys: Float32Array, values: Float32Array, ids: Uint32Array, count: number, dim: number,
      dv: number, w: Weighting, state: Float32Array) {
      if (count === 0) return;
      // Gathered rows may lie anywhere, so non-resident keys and values are staged whole; the dots go to scratch.
      const a = bind(q, 0, dim, false), k = bind(keys, 0, keys.length, false), v = bind(values, 0, values.length, false);
      const c = bind(ids, 0, count, false), s = bind(state, 0, dv + 2, true), t = bind(null, 0, count, false);
      try {
        enter();
        x.attendIds(p(a), p(k), p(v), p(c), count, dim, dv, kindCode(w), w.scale, w.bias, w.alpha, p(s), p(t));
      } finally { leave(); }
    },

    attendRange(queries: Float32Array, m: number, keys: Float32Array, values: Float32Array, start: number, count: number,
      dim: number, dv: number, w: Weighting, states: Float32Array) {
      if (count === 0 || m === 0) return;
      const a = bind(queries, 0, m * dim, false), k = bind(keys, start * dim, count * dim, false);
      const v = bind(values, start * dv, count * dv, false), s = bind(states, 0, m * (dv + 2), true);
      const t = bind(null, 0, m * BLOCK, false);
      try {
        enter();
        x.attendRange(p(a), m, p(k), p(v), count, dim, dv, kindCode(w), w.scale, w.bias, w.alpha, p(s), p(t));
      } finally { leave(); }
    },
  };
  return kernels;
}
