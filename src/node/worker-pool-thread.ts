import { workerData } from 'node:worker_threads';
import { instantiateKernels } from '../kernels/wasm/wasm-kernels.js';
import type { WasmMemory } from '../kernels/wasm/wasm-api.js';
import * as L from './worker-pool-layout.js';
import { runSlice } from './worker-pool-slice.js';

/**
 * A decode pool thread: instantiates the shared-memory kernels over the pool's memory, then
 * sleeps on the control block (Atomics.wait) and runs its slice of every task generation.
 */
const { memory, control, slot } = workerData as { memory: WasmMemory; control: number; slot: number };
const x = instantiateKernels(memory, true);
let seen = 0;
for (;;) {
  let ctrl = new Int32Array(memory.buffer, control, 64);
  Atomics.wait(ctrl, L.SEQ, seen);
  ctrl = new Int32Array(memory.buffer, control, L.controlSlots(ctrl[L.KV_HEADS]!, slot + 1));
  seen = Atomics.load(ctrl, L.SEQ);
  if (Atomics.load(ctrl, L.QUIT) === 1) break;
  runSlice(x, memory, ctrl, slot);
  Atomics.add(ctrl, L.DONE, 1);
  Atomics.notify(ctrl, L.DONE);
}
