import { BUCKETS_PER_NAT } from '../../attention/buckets.js';
import { initStates } from '../state.js';
import type { KernelExports } from '../wasm/wasm-kernels.js';
import type { WasmMemory } from '../wasm/wasm-api.js';
import * as L from './layout.js';

/**
 * The threads' side of the decode pool's certified softmax rows (the plan and the proof are in
 * certified.ts). Each thread works on the key ranges its slice of the line covers:
 * round 1 (MODE_BOUNDS) writes the fused sweep's float32 upper bounds and estimates of the range
 * and each query head's gap histogram of them, relative to the range's own top; later rounds
 * (MODE_FOLD) fold the keys of the buckets the main thread chose from the merged histograms (or
 * every key of the range, for rows that went dense) into the thread's own states.
 */

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
function bitsToF32(bits: number): number { i32[0] = bits; return f32[0]!; }
function f32Bits(x: number): number { f32[0] = x; return i32[0]!; }

/**
 * The shift k of a range's buckets in the merged histogram: a key of the range's bucket b lies at
 * least (b + k)·Δ below the row's top `top` (the range's top is `rangeTop` ≤ top), since
 * gapBucket guarantees b ≤ W·(rangeTop − U) and k ≤ W·(top − rangeTop). Both tops are float32,
 * so their float64 difference is exact; the factor below the floor only guards the product.
 * Shared by the main thread (merging) and the threads (selecting), so both bucket a key alike.
 */
export function bucketShift(top: number, rangeTop: number): number {
  return Math.max(0, Math.floor((top - rangeTop) * BUCKETS_PER_NAT * (1 - 1e-12)));
}

/** Calls f(g, a, b) for each KV head g whose keys [a, b) thread t's slice of the line covers. */
export function forSegments(ctrl: Int32Array, t: number, f: (g: number, a: number, b: number) => void): void {
  const kvHeads = ctrl[L.KV_HEADS]!, n = ctrl[L.LENGTH]!, base = L.threadBase(kvHeads, t);
  const start = ctrl[base + L.T_START]!, end = ctrl[base + L.T_END]!;
  if (n === 0) return;
  for (let g = Math.floor(start / n); g < kvHeads && g * n < end; g++) {
    const a = Math.max(start, g * n) - g * n, b = Math.min(end, (g + 1) * n) - g * n;
    if (b > a) f(g, a, b);
  }
}

export function certifiedSlice(x: KernelExports, memory: WasmMemory, ctrl: Int32Array, t: number): void {
  const kvHeads = ctrl[L.KV_HEADS]!, m = ctrl[L.GROUP]!, d = ctrl[L.DIM]!, dv = ctrl[L.VDIM]!;
  const scale = bitsToF32(ctrl[L.SCALE]!), heads = kvHeads * m, B = ctrl[L.BUCKET_COUNT]!;
  const base = L.threadBase(kvHeads, t), stride = dv + 2;
  const states = ctrl[base + L.T_STATES]! >>> 0, scratch = ctrl[base + L.T_SCRATCH]! >>> 0, cert = ctrl[base + L.T_CERT]! >>> 0;
  const report = new Int32Array(memory.buffer, cert, L.certWords(heads));
  const W = BUCKETS_PER_NAT;
  if (ctrl[L.MODE] === L.MODE_BOUNDS) {
    initStates(new Float32Array(memory.buffer, states, heads * stride), heads, dv, 'softmax');
    for (let h = 0; h < heads; h++) {
      report[L.certTop(h)] = f32Bits(-Infinity); report[L.certTaken(h)] = 0; report[L.certCalls(h)] = 0;
    }
    forSegments(ctrl, t, (g, a, b) => {
      const H = L.HEADS_BASE + L.HEAD_SLOTS * g, count = b - a;
      const upper = ctrl[H + L.H_UPPER]! + 4 * m * a;
      x.sweepBoundsI8(ctrl[H + L.H_QUERIES16]!, m, ctrl[H + L.H_CODES]! + a * d, ctrl[H + L.H_SCALES]! + 4 * a,
        ctrl[H + L.H_SLACKS]! + 4 * a, ctrl[H + L.H_CODE_NORMS]! + 4 * a, count, d, ctrl[H + L.H_COEF]!,
        upper, ctrl[H + L.H_CENTRE]! + 4 * m * a);
      // Heads in increasing order: head h's histogram scratch (4·B words) overwrites only the
      // counts of heads after it, which are computed later.
      for (let j = 0; j < m; j++) {
        const h = g * m + j;
        const top = x.gapHistogram(upper + 4 * j * count, count, W, B, cert + 4 * L.certCounts(heads, h));
        report[L.certTop(h)] = f32Bits(top);
      }
    });
    return;
  }
  const plan = new Int32Array(memory.buffer, ctrl[L.PLAN]! >>> 0, heads * L.PLAN_SLOTS);
  const ids = scratch, dots = scratch + 4 * (L.SPARSE_CHUNK + 4);
  forSegments(ctrl, t, (g, a, b) => {
    const H = L.HEADS_BASE + L.HEAD_SLOTS * g, count = b - a;
    const keys = ctrl[H + L.H_KEYS]!, values = ctrl[H + L.H_VALUES]!, queries = ctrl[L.QUERIES]! + g * m * d * 4;
    let dense = 0;
    for (let j = 0; j < m; j++) if (plan[(g * m + j) * L.PLAN_SLOTS + L.P_ACTION] === L.P_DENSE) dense++;
    if (dense === m) { // the whole group dense: one pass reads each key and value row once for all heads
      x.attendRange(queries, m, keys + a * d * 4, values + a * dv * 4, count, d, dv, 0, scale, 0, 1, states + g * m * stride * 4, scratch);
      return;
    }
    for (let j = 0; j < m; j++) {
      const h = g * m + j, p = h * L.PLAN_SLOTS, action = plan[p + L.P_ACTION]!;
      const q = queries + j * d * 4, state = states + h * stride * 4;
      if (action === L.P_DENSE) {
        x.attendRange(q, 1, keys + a * d * 4, values + a * dv * 4, count, d, dv, 0, scale, 0, 1, state, scratch);
        continue;
      }
      if (action !== L.P_BUCKETS) continue;
      const rangeTop = bitsToF32(report[L.certTop(h)]!);
      if (rangeTop === -Infinity) continue;
      // Merged bucket of the range's bucket s: min(s + k, B − 1) (bucketShift); the range's buckets
      // whose merged bucket lies in [from, to]:
      const k = bucketShift(bitsToF32(plan[p + L.P_TOP]!), rangeTop), from = plan[p + L.P_FROM]!, to = plan[p + L.P_TO]!;
      const sFrom = Math.max(0, from - k), sTo = to >= B - 1 ? B - 1 : to - k;
      if (sTo < sFrom) continue;
      const upper = ctrl[H + L.H_UPPER]! + 4 * (m * a + j * count);
      for (let c0 = 0; c0 < count; c0 += L.SPARSE_CHUNK) {
        const c = Math.min(L.SPARSE_CHUNK, count - c0);
        const found = x.selectBuckets(upper + 4 * c0, c, rangeTop, W, B, sFrom, sTo, a + c0, ids);
        if (found === 0) continue;
        x.attendIds(q, keys, values, ids, found, d, dv, 0, scale, 0, 1, state, dots);
        report[L.certTaken(h)]! += found;
        report[L.certCalls(h)]!++;
      }
    }
  });
}
