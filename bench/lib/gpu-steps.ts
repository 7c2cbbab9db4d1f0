import { timeOnGpu } from '../../src/webgpu/timing.js';

/**
 * Warms the GPU up (its clocks ramp under load) with `warmMs` of 50-step samples of `first`, then
 * returns the steps a timed sample takes: at least `reps` and at least ~2 ms of `first`'s steps, so
 * timestamps quantized by Dawn (65.5 µs) stay a few % of a sample (at most 500 steps).
 */
export async function warmStepsPerSample(
  device: GPUDevice, first: (k: number) => (enc: GPUCommandEncoder) => void, warmMs: number, reps: number,
): Promise<number> {
  let stepMs = 0;
  for (const start = performance.now(); performance.now() - start < warmMs;) {
    const t = await timeOnGpu(device, first(50));
    stepMs = (t.gpuMs ?? t.submitMs) / 50;
  }
  return Math.min(500, Math.max(reps, Math.ceil(2 / Math.max(stepMs, 1e-3))));
}
