import { workerData } from 'node:worker_threads';
import { instantiateKernels } from '../kernels/wasm/wasm-kernels.js';
import type { WasmMemory } from '../kernels/wasm/wasm-api.js';
import * as L from './worker-pool-layout.js';
import { runSlice } from './worker-pool-slice.js';

/**
 * A decode pool thread: instantiates the shared-memory kernels over the pool's memory, then
 * sleeps on the control block (Atomics.wait) and runs its slice of every task generation.
 */
const { memory, control, slot, status, relaxed } = workerData as { memory: WasmMemory; control: number; slot: number; status: Int32Array; relaxed: boolean };
const x = instantiateKernels(memory, true, relaxed);
let seen = 0;
for (;;) {
  let ctrl = new Int32Array(memory.buffer, control, 64);
  Atomics.wait(ctrl, L.SEQ, seen);
  ctrl = new Int32Array(memory.buffer, control, L.controlSlots(ctrl[L.KV_HEADS]!, slot + 1));
  seen = Atomics.load(ctrl, L.SEQ);
  if (Atomics.load(ctrl, L.QUIT) === 1) break;
  try {
    runSlice(x, memory, ctrl, slot);
  } catch (e) {
    reportFailure(e);
  }
  Atomics.add(ctrl, L.DONE, 1);
  Atomics.notify(ctrl, L.DONE);
}

/** Writes this thread's slot and the error's message into the status block (first failure wins). */
function reportFailure(e: unknown): void {
  const text = new TextEncoder().encode(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  const room = 4 * (L.STATUS_INTS - L.STATUS_MESSAGE);
  if (Atomics.compareExchange(status, L.STATUS_FAILED_SLOT, 0, -1) !== 0) return;
  new Uint8Array(status.buffer, 4 * L.STATUS_MESSAGE, room).set(text.subarray(0, room));
  Atomics.store(status, L.STATUS_MESSAGE_BYTES, Math.min(text.length, room));
  Atomics.store(status, L.STATUS_FAILED_SLOT, slot);
}
