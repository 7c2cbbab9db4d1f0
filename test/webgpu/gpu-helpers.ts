/// <reference types="@webgpu/types" />
// What the WebGPU test files share: the adapter check, K/V as the GPU stores them, and buffers in
// and out of the device (read-back: the library's readBuffer).
import { HsrError, webGpuDevice } from '../../src/index.js';
import * as half from '../../src/tensor/half.js';
import { stored } from './conformance.js';
export { readBuffer } from '../../src/webgpu/device.js';

/** The device, or null after skipping (saying why) where no adapter exists; in CI a missing adapter fails. */
export async function deviceOrSkip(t: { skip(msg: string): void }): Promise<GPUDevice | null> {
  try {
    return await webGpuDevice();
  } catch (e) {
    if (process.env.CI || !(e instanceof HsrError) || e.code !== 'UNSUPPORTED') throw e;
    t.skip(`no WebGPU adapter here (${e.message})`);
    return null;
  }
}

/** Whether an adapter exists (see {@link deviceOrSkip}). */
export async function gpuOrSkip(t: { skip(msg: string): void }): Promise<boolean> {
  return (await deviceOrSkip(t)) !== null;
}

/** Values as the GPU stores them: float16-rounded for storage 'f16'. */
export function asStored(x: Float32Array, storage: 'f32' | 'f16'): Float32Array {
  return stored(half, x, storage);
}

/** A buffer holding `data` (size rounded up to 4 bytes, at least 16). */
export function upload(device: GPUDevice, data: ArrayBufferView, usage: number = GPUBufferUsage.STORAGE): GPUBuffer {
  const b = device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 4) * 4), usage: usage | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
  return b;
}
