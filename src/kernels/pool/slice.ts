import { initStates } from '../state.js';
import type { KernelExports } from '../wasm/wasm-kernels.js';
import type { WasmMemory } from '../wasm/wasm-api.js';
import { decidedLogit } from '../../attention/threshold-rule.js';
import * as L from './layout.js';
import { certifiedSlice, forSegments } from './certified-slice.js';

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
function bitsToF32(bits: number): number { i32[0] = bits; return f32[0]!; }

/**
 * Runs thread `t`'s slice of the current task: empties its states ([heads, dv + 2]), then for each
 * KV head its slice of the line touches, attendRange over that position range (dense mode) or the
 * quantized index's candidate sweep and attendIds over it (sparse ReLU mode; threshold mode keeps
 * only the candidates whose float64 logit reaches the head's threshold, as ThresholdRule decides
 * them); the certified modes' rounds are certified-slice.ts's. Shared by the calling thread (slot 0) and the pool threads
 * (thread.ts), in Node and in browsers.
 */
export function runSlice(x: KernelExports, memory: WasmMemory, ctrl: Int32Array, t: number): void {
  if (ctrl[L.MODE] === L.MODE_BOUNDS || ctrl[L.MODE] === L.MODE_FOLD) { certifiedSlice(x, memory, ctrl, t); return; }
  const kvHeads = ctrl[L.KV_HEADS]!, m = ctrl[L.GROUP]!, d = ctrl[L.DIM]!, dv = ctrl[L.VDIM]!;
  const kind = ctrl[L.KIND]!, alpha = ctrl[L.ALPHA]!;
  const scale = bitsToF32(ctrl[L.SCALE]!), bias = bitsToF32(ctrl[L.BIAS]!);
  const base = L.threadBase(kvHeads, t);
  const states = ctrl[base + L.T_STATES]! >>> 0, scratch = ctrl[base + L.T_SCRATCH]! >>> 0;
  const stride = dv + 2;
  initStates(new Float32Array(memory.buffer, states, kvHeads * m * stride), kvHeads * m, dv, kind === 0 ? 'softmax' : 'relu');
  const threshold = ctrl[L.MODE] === L.MODE_THRESHOLD, sparse = threshold || ctrl[L.MODE] === L.MODE_RELU;
  const heads = kvHeads * m;
  // Threshold mode: each head's threshold and the scale in float64 (the decision must be the float64 one), and the report of kept keys.
  const limits = threshold ? new Float64Array(memory.buffer, ctrl[L.PLAN]! >>> 0, L.thresholdWords(heads)) : null;
  const report = threshold ? new Int32Array(memory.buffer, ctrl[base + L.T_CERT]! >>> 0, L.certWords(heads)) : null;
  for (let h = 0; report !== null && h < heads; h++) report[L.certTaken(h)] = 0;
  forSegments(ctrl, t, (g, a, b) => {
    const H = L.HEADS_BASE + L.HEAD_SLOTS * g;
    const keys = ctrl[H + L.H_KEYS]!, values = ctrl[H + L.H_VALUES]!, queries = ctrl[L.QUERIES]! + g * m * d * 4;
    if (!sparse) {
      x.attendRange(queries, m, keys + a * d * 4, values + a * dv * 4, b - a, d, dv, kind, scale, bias, alpha, states + g * m * stride * 4, scratch);
      return;
    }
    // Sparse ReLU rows: the candidates of keys [a, b) (every key whose certified upper bound reaches
    // the ReLU threshold) by the fused sweep, then each head's candidates folded exactly as dense
    // would fold them (attendIds gives the rest weight 0). Scratch: ids [m, chunk], counts, dots.
    const ids = scratch, counts = scratch + 4 * L.SPARSE_CHUNK * m, dots = counts + 16;
    for (let c0 = a; c0 < b; c0 += L.SPARSE_CHUNK) {
      const count = Math.min(L.SPARSE_CHUNK, b - c0);
      x.sweepCandidatesI8(ctrl[H + L.H_QUERIES16]!, m, ctrl[H + L.H_CODES]! + c0 * d, ctrl[H + L.H_SCALES]! + 4 * c0,
        ctrl[H + L.H_SLACKS]! + 4 * c0, ctrl[H + L.H_CODE_NORMS]! + 4 * c0, c0, count, d, ctrl[H + L.H_COEF]!, ids, counts);
      const found = new Int32Array(memory.buffer, counts, m);
      for (let j = 0; j < m; j++) {
        let kept = found[j]!;
        if (limits !== null && kept > 0) {
          const list = new Int32Array(memory.buffer, ids + 4 * j * count, kept), h = g * m + j;
          x.scoreIds(queries + j * d * 4, keys, ids + 4 * j * count, kept, d, dots);
          kept = keepReaching(list, new Float32Array(memory.buffer, dots, kept), new Float32Array(memory.buffer, queries + j * d * 4, d),
            new Float32Array(memory.buffer, keys, (c0 + count) * d), d, limits[2 * heads]!, limits[2 * h]!, limits[2 * h + 1]!);
          report![L.certTaken(h)]! += kept;
        }
        if (kept === 0) continue;
        x.attendIds(queries + j * d * 4, keys, values, ids + 4 * j * count, kept, d, dv, kind, scale, bias, alpha,
          states + (g * m + j) * stride * 4, dots);
      }
    }
  });
}

/**
 * Moves the candidates whose logit reaches t to the front of `ids` (ThresholdRule's decision:
 * float32 dots `dots`, the float64 logit within `margin` of t); returns how many.
 */
function keepReaching(ids: Int32Array, dots: Float32Array, q: Float32Array, keys: Float32Array, d: number, scale: number, t: number, margin: number): number {
  let kept = 0;
  for (let p = 0; p < ids.length; p++) if (decidedLogit(dots[p]!, q, keys, ids[p]!, d, scale, t, margin) >= t) ids[kept++] = ids[p]!;
  return kept;
}
