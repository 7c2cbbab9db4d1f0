import { createKernelMemory, createWasmKernels } from '../../src/kernels/wasm/wasm-kernels.js';
import { spawnWorker } from '../../src/node/spawn-worker.js';
import { median } from './measure.js';

export interface Bandwidth {
  /** GB/s (1e9 bytes per second), median over rounds. */
  wasm1: number;
  wasm2: number;
  js1: number;
  bytes: number;
}

/**
 * Memory read bandwidth of this machine as WebAssembly SIMD sees it: one thread streaming a
 * buffer far larger than the caches, two threads each streaming half of it (main + one worker,
 * started together through Atomics), and a plain-JS Float32Array loop for reference.
 */
export async function measureBandwidth(bytes = 256 * 2 ** 20, rounds = 9): Promise<Bandwidth> {
  const memory = createKernelMemory(true);
  const kernels = createWasmKernels({ memory, shared: true });
  const x = kernels.exports;
  const buf = kernels.allocF32(bytes / 4);
  const view = buf.view();
  for (let i = 0; i < view.length; i += 1024) view[i] = 1; // touch every page
  const ptr = buf.view().byteOffset;
  const control = kernels.heap.alloc(16);
  const worker = spawnWorker(import.meta.url, './bandwidth-worker.js', { memory, control });
  await new Promise<void>((resolve, reject) => { worker.once('online', () => resolve()); worker.once('error', reject); });
  const ctrl = new Int32Array(memory.buffer, control, 4);
  const half = bytes / 2;
  const one: number[] = [], two: number[] = [], js: number[] = [];
  const jsView = buf.view();
  const jsRead = () => {
    let a = 0, b = 0, c = 0, d = 0;
    for (let i = 0; i < jsView.length; i += 4) { a += jsView[i]!; b += jsView[i + 1]!; c += jsView[i + 2]!; d += jsView[i + 3]!; }
    return a + b + c + d;
  };
  x.readSum(ptr, bytes); jsRead();
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    x.readSum(ptr, bytes);
    one.push(bytes / ((performance.now() - t0) * 1e6));
    t0 = performance.now();
    ctrl[2] = ptr + half; ctrl[3] = half;
    Atomics.store(ctrl, 1, 0);
    Atomics.add(ctrl, 0, 1);
    Atomics.notify(ctrl, 0);
    x.readSum(ptr, half);
    while (Atomics.load(ctrl, 1) < 1) Atomics.wait(ctrl, 1, 0);
    two.push(bytes / ((performance.now() - t0) * 1e6));
    t0 = performance.now();
    jsRead();
    js.push(bytes / ((performance.now() - t0) * 1e6));
  }
  ctrl[2] = -1;
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  await worker.terminate();
  buf.free();
  return { wasm1: median(one), wasm2: median(two), js1: median(js), bytes };
}
