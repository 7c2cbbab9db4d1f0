/// <reference types="@webgpu/types" />
// Dawn for the WebGPU benchmarks: timestamps unquantized (Dawn rounds them to 65.5 µs by default,
// coarser than a short pass), where the `webgpu` package takes the toggle.
import { webGpuDevice } from '../../src/index.js';

/** Dawn's GPU object, held for the process's life (Dawn's instance dies with it, under its device). */
let held: GPU | null = null;

/**
 * Dawn's GPU with exact timestamps (null where the package is missing or refuses the toggle: the
 * library's default GPU then serves, quantized).
 */
export async function exactTimestampGpu(): Promise<GPU | null> {
  if (held) return held;
  try {
    const name = 'webgpu';
    const dawn = await import(name) as { create(flags: string[]): GPU; globals: object };
    for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    const gpu = dawn.create(['disable-dawn-features=timestamp_quantization']);
    await webGpuDevice(gpu);
    return (held = gpu);
  } catch {
    return null;
  }
}
