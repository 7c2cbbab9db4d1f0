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
  return (await timeEachOnGpu(device, [record]))[0]!;
}

/**
 * {@link timeOnGpu} of several recordings at once: all in one command buffer, each bracketed by its
 * own timestamps, so the GPU runs them back to back with no idle gap while the host waits and
 * reads back between them (a GPU's clocks follow its load: how fast a short step runs depends on
 * how busy the GPU was kept, bench/lib/gpu-steps.ts). The work is
 * submitted before this returns its promise: a caller may record and submit the next batch before
 * awaiting this one, keeping the queue from draining. encodeMs and submitMs are the batch's
 * (the same in every entry). Without timestamps each recording is submitted and waited for alone
 * (its submitMs is then its own).
 */
export function timeEachOnGpu(device: GPUDevice, records: ((enc: GPUCommandEncoder) => void)[]): Promise<GpuTiming[]> {
  if (!device.features.has('timestamp-query')) return timeEachAlone(device, records);
  const count = 2 * records.length, bytes = Math.max(16, 8 * count);
  const set = count > 0 ? device.createQuerySet({ type: 'timestamp', count }) : null;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const free = () => { for (const b of [read, resolved]) b.destroy(); set?.destroy(); };
  const enc = device.createCommandEncoder();
  const t0 = now();
  let cb: GPUCommandBuffer;
  try {
    records.forEach((record, i) => {
      enc.beginComputePass({ timestampWrites: { querySet: set!, beginningOfPassWriteIndex: 2 * i } }).end();
      record(enc);
      enc.beginComputePass({ timestampWrites: { querySet: set!, endOfPassWriteIndex: 2 * i + 1 } }).end();
    });
    if (set) {
      enc.resolveQuerySet(set, 0, count, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, read, 0, bytes);
    }
    cb = enc.finish();
  } catch (e) {
    free();
    return Promise.reject(e);
  }
  const t1 = now();
  device.queue.submit([cb]);
  const done = device.queue.onSubmittedWorkDone();
  return (async () => {
    try {
      await done;
      const t2 = now();
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      return records.map((_, i) => ({ encodeMs: t1 - t0, submitMs: t2 - t1, gpuMs: Number(t[2 * i + 1]! - t[2 * i]!) / 1e6 }));
    } finally {
      free();
    }
  })();
}

/** {@link timeEachOnGpu} without timestamps: each recording submitted and waited for alone. */
async function timeEachAlone(device: GPUDevice, records: ((enc: GPUCommandEncoder) => void)[]): Promise<GpuTiming[]> {
  const out: GpuTiming[] = [];
  for (const record of records) {
    const enc = device.createCommandEncoder();
    const t0 = now();
    record(enc);
    const cb = enc.finish();
    const t1 = now();
    device.queue.submit([cb]);
    await device.queue.onSubmittedWorkDone();
    out.push({ encodeMs: t1 - t0, submitMs: now() - t1, gpuMs: null });
  }
  return out;
}

/**
 * Per-pass GPU time (benchmarks): while a profile is set on a {@link Profiled} (pipelines.ts `Pipelines`),
 * every compute pass it records gets timestamps at its beginning and end, labelled by its pipeline.
 */
export class PassProfile {
  readonly labels: string[] = [];
  constructor(readonly set: GPUQuerySet, readonly capacity: number) {}

  /** The timestamp writes of the next pass, or none once the query set is full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (2 * i + 2 > this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }
}

export interface Profiled { profile: PassProfile | null }

/**
 * GPU milliseconds by pass label of what `record` puts into one command buffer (summed over the
 * passes of each label), and `between`: the step's time outside every pass (the GPU's gaps between
 * dependent passes, buffer clears and copies). Null without 'timestamp-query'.
 */
export async function timePasses(device: GPUDevice, target: Profiled, record: (enc: GPUCommandEncoder) => void,
  capacity = 1024): Promise<Record<string, number> | null> {
  if (!device.features.has('timestamp-query')) return null;
  const set = device.createQuerySet({ type: 'timestamp', count: capacity });
  const profile = new PassProfile(set, capacity);
  const enc = device.createCommandEncoder();
  target.profile = profile;
  try { record(enc); } finally { target.profile = null; }
  const count = 2 * profile.labels.length, bytes = Math.max(16, 8 * count);
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  if (count > 0) {
    enc.resolveQuerySet(set, 0, count, resolved, 0);
    enc.copyBufferToBuffer(resolved, 0, read, 0, bytes);
  }
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const b of [read, resolved]) b.destroy();
  set.destroy();
  const out: Record<string, number> = {};
  let inside = 0;
  profile.labels.forEach((label, i) => {
    const ms = Number(t[2 * i + 1]! - t[2 * i]!) / 1e6;
    out[label] = (out[label] ?? 0) + ms;
    inside += ms;
  });
  if (count > 0) out.between = Number(t[count - 1]! - t[0]!) / 1e6 - inside;
  return out;
}
