import { workerData } from 'node:worker_threads';
import { instantiateKernels } from '../../src/kernels/wasm/wasm-kernels.js';
import type { WasmMemory } from '../../src/kernels/wasm/wasm-api.js';

/** Bandwidth helper thread: on each generation of ctrl[0], streams [ctrl[2], +ctrl[3]) bytes, then bumps ctrl[1]. */
const { memory, control } = workerData as { memory: WasmMemory; control: number };
const x = instantiateKernels(memory, true);
const ctrl = new Int32Array(memory.buffer, control, 4);
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, 0, seen);
  seen = Atomics.load(ctrl, 0);
  if (ctrl[2] === -1) break;
  x.readSum(ctrl[2]!, ctrl[3]!);
  Atomics.add(ctrl, 1, 1);
  Atomics.notify(ctrl, 1);
}
