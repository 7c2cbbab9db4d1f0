/// <reference types="@webgpu/types" />
// Caller-owned K/V for the WebGPU plan benchmarks: f16 head-major buffers as an engine holds them.
import { numberToF16Bits, decodeF16 } from '../../src/tensor/half.js';
import type { Workload } from './keys.js';

/** Head-major f16 [kvHeads, n, dim] of w's first n positions, and their float32 values (the stored data). */
export function halves(w: Workload, n: number, which: 'keys' | 'values'): { bits: Uint16Array; stored: Float32Array[] } {
  const dim = which === 'keys' ? w.d : w.dv, heads = which === 'keys' ? w.keyHeads : w.valueHeads;
  const bits = new Uint16Array(w.kvHeads * n * dim);
  for (let g = 0; g < w.kvHeads; g++) { const src = heads[g]!; for (let i = 0; i < n * dim; i++) bits[g * n * dim + i] = numberToF16Bits(src[i]!); }
  const stored = heads.map((_, g) => { const o = new Float32Array(n * dim); decodeF16(bits.subarray(g * n * dim, (g + 1) * n * dim), o); return o; });
  return { bits, stored };
}

/** A storage buffer holding `data` (written in 64 MiB pieces: Dawn's writeBuffer limit). */
export function gpuBuffer(device: GPUDevice, data: ArrayBufferView, usage = GPUBufferUsage.STORAGE): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  for (let at = 0; at < data.byteLength; at += 1 << 26) {
    const len = Math.min(1 << 26, data.byteLength - at);
    device.queue.writeBuffer(b, at, data.buffer as ArrayBuffer, data.byteOffset + at, len);
  }
  return b;
}
