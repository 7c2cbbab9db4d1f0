import { finishState, initStates } from './state.js';
import { STATE_EXTRA, type Kernels, type Weighting } from './types.js';

/** Positions per query tile: the tile's rows share each streamed key block. */
const TILE = 16;

/**
 * Dense causal attention for one KV head and its `group` query heads (prefill): query row
 * (i, j) — position i, head j of the group — sees keys 0..i. Layouts: queries [n, group, d] and
 * out [n, group, dv] (position-major), keys [n, d] and values [n, dv] (pass backend-resident
 * arrays for speed). Each tile of TILE positions streams the keys before it once for all its
 * TILE·group rows (attendRange), then finishes its own triangle position by position.
 */
export function denseCausalAttention(kernels: Kernels, queries: Float32Array, keys: Float32Array, values: Float32Array,
  n: number, group: number, d: number, dv: number, w: Weighting, out: Float32Array): void {
  const stride = dv + STATE_EXTRA;
  const states = new Float32Array(TILE * group * stride);
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const t = Math.min(TILE, n - i0), rows = t * group;
    initStates(states, rows, dv, w.kind);
    const q = queries.subarray(i0 * group * d, (i0 + t) * group * d);
    kernels.attendRange(q, rows, keys, values, 0, i0, d, dv, w, states);
    for (let i = 0; i < t; i++) {
      kernels.attendRange(q.subarray(i * group * d, (i + 1) * group * d), group, keys, values, i0, i + 1, d, dv, w,
        states.subarray(i * group * stride, (i + 1) * group * stride));
    }
    for (let r = 0; r < rows; r++) finishState(states, r * stride, dv, out, (i0 * group + r) * dv);
  }
}
