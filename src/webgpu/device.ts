/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';

/**
 * The GPUDevice of the 'webgpu' backend: from an injected `GPU` object, else `navigator.gpu` (browsers,
 * Deno), else — in Node — the optional `webgpu` package (Dawn), imported on demand so that the core
 * stays browser-safe (the specifier is a variable: bundlers leave it alone). No adapter → UNSUPPORTED.
 * One device per GPU object, shared by every cache that asks, until it is lost (then the next asks
 * open a new one; work on the lost one is DEVICE_LOST: {@link assertDeviceAlive}).
 */
const devices = new WeakMap<GPU, Promise<GPUDevice>>();
let nodeGpu: Promise<GPU | null> | null = null;

export async function webGpuDevice(gpu?: GPU): Promise<GPUDevice> {
  const g = gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu ?? await dawnGpu();
  if (!g) {
    throw new HsrError('UNSUPPORTED', "backend 'webgpu': expected navigator.gpu or the optional 'webgpu' package (Node), got neither");
  }
  let d = devices.get(g);
  if (!d) {
    const opened = d = openDevice(g);
    devices.set(g, opened);
    // A failed open is tried again by the next caller; a device once lost is replaced (the next cache gets a new one).
    const forget = () => { if (devices.get(g) === opened) devices.delete(g); };
    opened.then((device) => device.lost.then((info) => {
      lost.set(device, `${info.reason}${info.message ? `: ${info.message}` : ''}`);
      forget();
    }), forget);
  }
  return d;
}

/** Why each device this module opened was lost ('destroyed: …', 'unknown: …'), once it was. */
const lost = new WeakMap<GPUDevice, string>();

/**
 * DEVICE_LOST where the device is known lost (driver reset, `device.destroy()`, a browser tab
 * reclaimed): work recorded on it would silently do nothing, and read-backs reject.
 */
export function assertDeviceAlive(device: GPUDevice, where: string): void {
  const why = lost.get(device);
  if (why !== undefined) throw deviceLost(where, why);
}

/** The DEVICE_LOST error of `where`; `why`: the loss's reason, or the failure that revealed it. */
export function deviceLost(where: string, why: string): HsrError {
  return new HsrError('DEVICE_LOST', `${where}: expected a live GPU device, got one lost (${why}); its caches and plans are gone: create them again (KVCache.create opens a new device)`);
}

/**
 * A read-back's failure as the caller's error: DEVICE_LOST (a mapping of a live buffer fails only
 * when the device is lost, perhaps before `device.lost` has resolved), naming the loss's reason
 * where known, else the failure.
 */
export function readBackFailed(device: GPUDevice, where: string, failure: unknown): HsrError {
  const e = failure as { name?: string; message?: string } | null;
  return deviceLost(where, lost.get(device) ?? `the read-back failed: ${e?.name ?? 'Error'}${e?.message ? `: ${e.message}` : ''}`);
}

/** The most bytes a buffer of `usage` may have on `device`, and the limit's name. */
export function bufferLimit(device: GPUDevice, usage: GPUBufferUsageFlags): { bytes: number; name: string } {
  const { maxBufferSize, maxStorageBufferBindingSize } = device.limits;
  return (usage & GPUBufferUsage.STORAGE) !== 0 && maxStorageBufferBindingSize < maxBufferSize
    ? { bytes: maxStorageBufferBindingSize, name: 'maxStorageBufferBindingSize' } : { bytes: maxBufferSize, name: 'maxBufferSize' };
}

/** Buffers made by {@link gpuBuffer} during the innermost {@link allOrNone}. */
let made: GPUBuffer[] | null = null;

/**
 * A GPU buffer of `size` bytes, refused with TOO_LARGE before anything is allocated where it would
 * pass the device's maxBufferSize or, for a storage buffer (the backend binds each whole), its
 * maxStorageBufferBindingSize: WebGPU would return an invalid buffer and report the error only
 * asynchronously, to no caller. `what` names the request in the message.
 */
export function gpuBuffer(device: GPUDevice, size: number, usage: GPUBufferUsageFlags, what: string): GPUBuffer {
  const { bytes, name } = bufferLimit(device, usage);
  if (size > bytes) throw new HsrError('TOO_LARGE', `${what}: expected GPU buffers of at most the device's ${name} = ${bytes} bytes, got one of ${size}`);
  const b = device.createBuffer({ size, usage });
  made?.push(b);
  return b;
}

/**
 * Runs `make` (which creates buffers with {@link gpuBuffer}); if it throws, the buffers it created
 * are destroyed before the error goes on — an object is built whole or not at all.
 */
export function allOrNone<T>(make: () => T): T {
  const outer = made, mine: GPUBuffer[] = [];
  made = mine;
  try {
    const out = make();
    outer?.push(...mine);
    return out;
  } catch (e) {
    for (const b of mine) b.destroy();
    throw e;
  } finally {
    made = outer;
  }
}

async function openDevice(gpu: GPU): Promise<GPUDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new HsrError('UNSUPPORTED', "backend 'webgpu': expected a GPU adapter, got none (without a GPU, VK_ICD_FILENAMES may point Vulkan at SwiftShader: docs/webgpu.md)");
  }
  if (!navigatorHasDot4(gpu)) {
    throw new HsrError('UNSUPPORTED', "backend 'webgpu': expected the WGSL feature packed_4x8_integer_dot_product, got an implementation without it");
  }
  const L = adapter.limits;
  // Subgroups let the attention kernel's lanes share a key row without barriers (attend-kernel.ts);
  // timestamps serve the benchmarks (timing.ts).
  const subgroups = adapter.features.has('subgroups');
  const features = (['subgroups', 'timestamp-query'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    // The adapter's workgroup memory, not WebGPU's default 16 KiB: prefill's 64-key tiles need 32 KiB (prefill-kernel.ts).
    requiredLimits: {
      maxBufferSize: L.maxBufferSize, maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      // The fused sparse pass with the 4-bit codes over paged K/V binds 9 (fused-kernel.ts).
      maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    },
  });
  const min = (adapter.info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize;
  if (subgroups && min) subgroupSizes.set(device, min);
  return device;
}

const subgroupSizes = new WeakMap<GPUDevice, number>();

/**
 * The smallest subgroup size the device's shaders may run with: 0 without the `subgroups` feature;
 * the adapter's subgroupMinSize where known; else 4 (WebGPU's lower bound).
 */
export function subgroupSize(device: GPUDevice): number {
  if (!device.features.has('subgroups')) return 0;
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { subgroupMinSize?: number } }).adapterInfo;
  return subgroupSizes.get(device) ?? info?.subgroupMinSize ?? 4;
}

/** WGSL language features, where the implementation lists them (older ones do not: assume present). */
function navigatorHasDot4(gpu: GPU): boolean {
  const features = (gpu as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
  return !features || features.has('packed_4x8_integer_dot_product');
}

async function dawnGpu(): Promise<GPU | null> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!proc?.versions?.node) return null;
  nodeGpu ??= (async () => {
    const name = 'webgpu';
    try {
      const dawn = await import(/* @vite-ignore */ name) as { create(flags: string[]): GPU; globals: object };
      // Dawn's constants (GPUBufferUsage, …) are globals in browsers; the package exports them.
      for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      return dawn.create([]);
    } catch {
      return null;
    }
  })();
  return nodeGpu;
}

/** The first `bytes` of `src` (a COPY_SRC buffer), read back through a staging buffer: for checks and benchmarks. */
export async function readBuffer(device: GPUDevice, src: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const rb = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, rb, 0, bytes);
  device.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const out = rb.getMappedRange().slice(0);
  rb.unmap(); rb.destroy();
  return out;
}
