import { instantiateKernels } from '../wasm/wasm-kernels.js';
import type { WasmMemory } from '../wasm/wasm-api.js';
import * as L from './layout.js';
import { runSlice } from './slice.js';

const { TextEncoder } = globalThis as unknown as { TextEncoder: new () => { encode(s: string): Uint8Array } };

/** What a pool thread is started with (structured-cloneable: the memory and status block are shared). */
export interface PoolThreadData { memory: WasmMemory; control: number; slot: number; status: Int32Array; relaxed: boolean }

/**
 * A decode pool thread's whole life, the same in a Node worker thread and a Web Worker (only the
 * entry files differ: node/worker-pool-thread.ts, web-thread.ts): instantiates the shared-memory
 * kernels over the pool's memory, calls `ready`, then sleeps on the control block (Atomics.wait)
 * and runs its slice of every task generation until the pool sets QUIT.
 */
export function runPoolThread(data: PoolThreadData, ready: () => void = () => {}): void {
  const { memory, control, slot, status, relaxed } = data;
  const x = instantiateKernels(memory, true, relaxed);
  ready();
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
      reportFailure(status, slot, e);
    }
    Atomics.add(ctrl, L.DONE, 1);
    Atomics.notify(ctrl, L.DONE);
  }
}

/** Writes this thread's slot and the error's message into the status block (first failure wins). */
function reportFailure(status: Int32Array, slot: number, e: unknown): void {
  const text = new TextEncoder().encode(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  const room = 4 * (L.STATUS_INTS - L.STATUS_MESSAGE);
  if (Atomics.compareExchange(status, L.STATUS_FAILED_SLOT, 0, -1) !== 0) return;
  new Uint8Array(status.buffer, 4 * L.STATUS_MESSAGE, room).set(text.subarray(0, room));
  Atomics.store(status, L.STATUS_MESSAGE_BYTES, Math.min(text.length, room));
  Atomics.store(status, L.STATUS_FAILED_SLOT, slot);
}
