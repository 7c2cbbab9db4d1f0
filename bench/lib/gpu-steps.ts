import { timeOnGpu } from '../../src/webgpu/timing.js';

/** Per-step times of a warm-up's samples (ms), first and last: whether the GPU's clocks had to ramp. */
export interface Warmup { steps: number; firstStepMs: number; lastStepMs: number; samples: number }

/**
 * Warms the GPU up (its clocks ramp under sustained load, and drop while the host works: H100 runs
 * 9 and 11 timed the sparse-plan bench's first synthetic row, after seconds of host setup and a
 * 500 ms warm-up of 1–2 ms samples, at half the speed the same kernel had minutes apart) with
 * samples of `first`'s steps of ≥ ~4 ms of GPU work each, for at least `warmMs` and until two
 * successive samples' per-step times agree within 3 % (at most 4·warmMs); then returns the steps
 * a timed sample takes: at least `reps` and at least ~2 ms of `first`'s steps, so timestamps
 * quantized by Dawn (65.5 µs) stay a few % of a sample (at most 500 steps).
 */
export async function warmStepsPerSample(
  device: GPUDevice, first: (k: number) => (enc: GPUCommandEncoder) => void, warmMs: number, reps: number,
): Promise<number> {
  return (await warmUp(device, first, warmMs, reps)).steps;
}

/** {@link warmStepsPerSample}, with the warm-up's first and last per-step times. */
export async function warmUp(
  device: GPUDevice, first: (k: number) => (enc: GPUCommandEncoder) => void, warmMs: number, reps: number,
): Promise<Warmup> {
  let stepMs = 0, previous = Infinity, firstStepMs = 0, samples = 0, k = 50;
  for (const start = performance.now(); ;) {
    const t = await timeOnGpu(device, first(k));
    stepMs = (t.gpuMs ?? t.submitMs) / k;
    if (samples++ === 0) firstStepMs = stepMs;
    const elapsed = performance.now() - start;
    if ((elapsed >= warmMs && Math.abs(stepMs - previous) <= 0.03 * previous) || elapsed >= 4 * warmMs) break;
    previous = stepMs;
    k = Math.min(2000, Math.max(50, Math.ceil(4 / Math.max(stepMs, 1e-3))));
  }
  return { steps: Math.min(500, Math.max(reps, Math.ceil(2 / Math.max(stepMs, 1e-3)))), firstStepMs, lastStepMs: stepMs, samples };
}
