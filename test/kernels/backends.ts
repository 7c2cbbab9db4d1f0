import { createJsKernels } from '../../src/kernels/js/js-kernels.js';
import { referenceAttention } from '../../src/attention/reference.js';
import type { Kernels, Weighting } from '../../src/kernels/types.js';
import { rng as baseRng } from '../../bench/lib/measure.js';
import { simdSupported } from '../../src/kernels/wasm/wasm-api.js';
import { relaxedSimdUsable } from '../../src/kernels/wasm/relaxed.js';
import { createWasmKernels } from '../../src/kernels/wasm/wasm-kernels.js';

/**
 * Every backend the conformance suite runs against. `resident` places inputs in the backend's own
 * memory (allocF32 / allocI8), the way K/V owners should; the non-resident wasm variant exercises
 * staging (copy in, copy back).
 */
export interface Backend { label: string; kernels: Kernels; resident: boolean; placed: { free(): void }[] }

export function backends(): Backend[] {
  const list: Backend[] = [{ label: 'js', kernels: createJsKernels(), resident: false, placed: [] }];
  if (simdSupported()) {
    // 64 MiB up front: placing test inputs never grows the memory, so earlier views stay attached.
    list.push({ label: 'wasm-simd (resident arrays)', kernels: createWasmKernels({ initialPages: 1024 }), resident: true, placed: [] });
    list.push({ label: 'wasm-simd (staged arrays)', kernels: createWasmKernels(), resident: false, placed: [] });
  }
  if (relaxedSimdUsable()) {
    list.push({ label: 'wasm-relaxed-simd (resident arrays)', kernels: createWasmKernels({ initialPages: 1024, relaxed: true }), resident: true, placed: [] });
    list.push({ label: 'wasm-relaxed-simd (staged arrays)', kernels: createWasmKernels({ relaxed: true }), resident: false, placed: [] });
    list.push({ label: 'wasm-relaxed-simd-q7 (resident arrays)', kernels: createWasmKernels({ initialPages: 1024, relaxed: true, sweepQueryBits: 7 }), resident: true, placed: [] });
  } else if (process.versions.node.split('.').map(Number)[0]! >= 22) {
    // Relaxed SIMD is on by default from Node 22: its absence there is a failure, not a skip.
    throw new Error(`relaxed SIMD kernels unusable on Node ${process.version}`);
  }
  return list;
}

/** Copies `data` into the backend's memory when the backend is resident, else returns it as is. */
export function place(b: Backend, data: Float32Array): Float32Array {
  if (!b.resident) return data;
  const buf = b.kernels.allocF32(data.length);
  b.placed.push(buf);
  buf.view().set(data);
  return buf.view();
}

export function placeI8(b: Backend, data: Int8Array): Int8Array {
  if (!b.resident) return data;
  const buf = b.kernels.allocI8(data.length);
  b.placed.push(buf);
  buf.view().set(data);
  return buf.view();
}

/** The benchmarks' seeded generator plus integers in [0, n). */
export function rng(seed: number): { uniform(): number; gauss(): number; int(n: number): number } {
  const r = baseRng(seed);
  return { ...r, int: (n) => Math.floor(r.uniform() * n) };
}

export function gaussArray(r: { gauss(): number }, n: number, sigma = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.gauss() * sigma;
  return a;
}

/** Frees everything `place` allocated (call between cases so the memory never needs to grow). */
export function unplace(b: Backend): void {
  for (const buf of b.placed.splice(0)) buf.free();
}

/** Reference output of every query head over the first n tokens of token-major K/V. */
export function referenceDecode(q: Float32Array, k: Float32Array, v: Float32Array, n: number, heads: number, kvHeads: number,
  d: number, dv: number, w: Weighting): Float64Array {
  const out = new Float64Array(heads * dv);
  const group = heads / kvHeads;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    const kh = new Float32Array(n * d), vh = new Float32Array(n * dv);
    for (let i = 0; i < n; i++) {
      kh.set(k.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d), i * d);
      vh.set(v.subarray((i * kvHeads + g) * dv, (i * kvHeads + g + 1) * dv), i * dv);
    }
    const o = referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, k: kh, n, v: vh, d, dv,
      kind: w.kind, scale: w.scale, alpha: w.alpha, bias: w.bias, causal: false });
    out.set(o, h * dv);
  }
  return out;
}


/** Weightings every accumulation test runs: softmax at two scales, ReLU^α for α = 1, 2, 3 with biases of both signs. */
export const weightings: Weighting[] = [
  { kind: 'softmax', scale: 0.125, bias: 0, alpha: 1 },
  { kind: 'softmax', scale: 1.7, bias: 0, alpha: 1 },
  { kind: 'relu', scale: 0.25, bias: 0, alpha: 1 },
  { kind: 'relu', scale: 0.5, bias: 0.3, alpha: 2 },
  { kind: 'relu', scale: 0.5, bias: -0.2, alpha: 3 },
];
