import { initStates } from '../kernels/state.js';
import type { KernelExports } from '../kernels/wasm/wasm-kernels.js';
import type { WasmMemory } from '../kernels/wasm/wasm-api.js';
import * as L from './worker-pool-layout.js';

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
function bitsToF32(bits: number): number { i32[0] = bits; return f32[0]!; }

/**
 * Runs thread `t`'s slice of the current task: empties its states ([heads, dv + 2]), then for each
 * KV head its slice of the line touches, attendRange over that position range. Shared by the
 * main thread (slot 0) and the pool threads.
 */
export function runSlice(x: KernelExports, memory: WasmMemory, ctrl: Int32Array, t: number): void {
  const kvHeads = ctrl[L.KV_HEADS]!, m = ctrl[L.GROUP]!, d = ctrl[L.DIM]!, dv = ctrl[L.VDIM]!;
  const kind = ctrl[L.KIND]!, alpha = ctrl[L.ALPHA]!, n = ctrl[L.LENGTH]!;
  const scale = bitsToF32(ctrl[L.SCALE]!), bias = bitsToF32(ctrl[L.BIAS]!);
  const base = L.threadBase(kvHeads, t);
  const start = ctrl[base + L.T_START]!, end = ctrl[base + L.T_END]!;
  const states = ctrl[base + L.T_STATES]!, scratch = ctrl[base + L.T_SCRATCH]!;
  const stride = dv + 2;
  initStates(new Float32Array(memory.buffer, states, kvHeads * m * stride), kvHeads * m, dv, kind === 0 ? 'softmax' : 'relu');
  if (n === 0) return;
  for (let g = Math.floor(start / n); g < kvHeads && g * n < end; g++) {
    const a = Math.max(start, g * n) - g * n, b = Math.min(end, (g + 1) * n) - g * n;
    if (b <= a) continue;
    const keys = ctrl[L.HEADS_BASE + 2 * g]!, values = ctrl[L.HEADS_BASE + 2 * g + 1]!;
    x.attendRange(ctrl[L.QUERIES]! + g * m * d * 4, m, keys + a * d * 4, values + a * dv * 4, b - a, d, dv,
      kind, scale, bias, alpha, states + g * m * stride * 4, scratch);
  }
}
