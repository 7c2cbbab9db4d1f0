/// <reference types="@webgpu/types" />
/**
 * Benchmark timing of GPU work: the commands `record` puts into one command buffer, bracketed by
 * two empty compute passes that write GPU timestamps (where the device has 'timestamp-query'), then
 * submitted and waited for. gpuMs is the GPU's own time from the first to the last command (null
 * without timestamps); submitMs is the host's time from submit to done (GPU time plus the submit's
 * latency and the host's event handling); encodeMs is the host's time recording and finishing.
 */
export interface GpuTiming { encodeMs: number; submitMs: number; gpuMs: number | null }

const now = (): number => (globalThis as unknown as { performance: { now(): number } }).performance.now();

export async function timeOnGpu(device: GPUDevice, record: (enc: GPUCommandEncoder) => void): Promise<GpuTiming> {
  const stamps = device.features.has('timestamp-query');
  const set = stamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolved = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const read = stamps ? device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  const enc = device.createCommandEncoder();
  const t0 = now();
  if (set) enc.beginComputePass({ timestampWrites: { querySet: set, beginningOfPassWriteIndex: 0 } }).end();
  record(enc);
  if (set) {
    enc.beginComputePass({ timestampWrites: { querySet: set, endOfPassWriteIndex: 1 } }).end();
    enc.resolveQuerySet(set, 0, 2, resolved!, 0);
    enc.copyBufferToBuffer(resolved!, 0, read!, 0, 16);
  }
  const cb = enc.finish();
  const t1 = now();
  device.queue.submit([cb]);
  await device.queue.onSubmittedWorkDone();
  const t2 = now();
  let gpuMs: number | null = null;
  if (read) {
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange());
    gpuMs = Number(t[1]! - t[0]!) / 1e6;
    read.unmap();
    for (const b of [read, resolved!]) b.destroy();
    set!.destroy();
  }
  return { encodeMs: t1 - t0, submitMs: t2 - t1, gpuMs };
}
