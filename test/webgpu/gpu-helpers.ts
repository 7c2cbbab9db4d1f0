/// <reference types="@webgpu/types" />
// What the WebGPU test files share: the adapter check, K/V as the GPU stores them, buffers in and
// out of the device (read-back: the library's readBuffer), and one checked step of a plan.
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan, webGpuDevice, type DecodeBuffers, type DecodePlanOptions } from '../../src/index.js';
import * as half from '../../src/tensor/half.js';
import { stored } from './conformance.js';
import { readBuffer } from '../../src/webgpu/device.js';
export { readBuffer };

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

/**
 * Creates a plan and runs one step of it over the first `n` positions into a fresh output buffer,
 * under a validation error scope (a WebGPU validation error fails the test, named by `label`).
 * Returns the plan (the caller reads its lists, then destroys it), the output [heads, valueDim] and
 * the stats' bytes.
 */
export async function planStep(device: GPUDevice, options: DecodePlanOptions, bufs: Omit<DecodeBuffers, 'output'>, n: number, label: string):
  Promise<{ plan: WebGpuDecodePlan; out: Float32Array; stats: ArrayBuffer }> {
  const outBytes = options.heads * (options.valueDim ?? options.headDim) * 4;
  const output = device.createBuffer({ size: outBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  device.pushErrorScope('validation');
  const plan = WebGpuDecodePlan.create(device, options);
  const enc = device.createCommandEncoder();
  plan.encode(enc, { ...bufs, output }, n);
  device.queue.submit([enc.finish()]);
  const error = await device.popErrorScope();
  assert.equal(error, null, `${label}: ${error?.message}`);
  const out = new Float32Array(await readBuffer(device, output, outBytes));
  const stats = await readBuffer(device, plan.stats, options.heads * 16);
  output.destroy();
  return { plan, out, stats };
}
