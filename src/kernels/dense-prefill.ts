import { finishState, initStates } from './state.js';
import { STATE_EXTRA, type F32Buffer, type Kernels, type Weighting } from './types.js';

/** Positions per query tile: the tile's rows share each streamed key block. */
const TILE = 16;

/**
 * A row array: a plain array, or a block of the kernels' memory — passed as the buffer so that it is
 * re-viewed before every kernel call (a call that stages its scratch may grow the memory, which
 * detaches views taken earlier).
 */
export type RowSource = Float32Array | F32Buffer;

const rowsOf = (x: RowSource): Float32Array => (x instanceof Float32Array ? x : x.view());

/**
 * Dense causal attention for one KV head and its `group` query heads (prefill): query row
 * (i, j) — position i, head j of the group — sees keys 0..i. Layouts: queries [n, group, d] and
 * out [n, group, dv] (position-major), keys [n, d] and values [n, dv] (pass blocks of the backend's
 * memory for speed: see RowSource). The square case of {@link denseAttentionRows}.
 */
export function denseCausalAttention(kernels: Kernels, queries: RowSource, keys: RowSource, values: RowSource,
  n: number, group: number, d: number, dv: number, w: Weighting, out: Float32Array): void {
  denseAttentionRows(kernels, queries, n, keys, values, n, group, d, dv, w, true, out);
}

/**
 * Dense attention of m query positions (each with `group` heads sharing one KV head) over n keys:
 * position i sees keys [0, n) or, when `causal`, [0, i + n − m] (the m queries are the last m
 * positions, as in attention()). Layouts as in {@link denseCausalAttention}: queries [m, group, d],
 * out [m, group, dv]. Each tile of TILE positions streams the keys all its rows see once for all its
 * TILE·group rows (attendRange), then, when causal, finishes its own triangle position by position.
 */
export function denseAttentionRows(kernels: Kernels, queries: RowSource, m: number, keys: RowSource, values: RowSource,
  n: number, group: number, d: number, dv: number, w: Weighting, causal: boolean, out: Float32Array): void {
  const stride = dv + STATE_EXTRA;
  const states = new Float32Array(TILE * group * stride);
  const shift = n - m; // causal: position i sees keys [0, i + shift]
  for (let i0 = 0; i0 < m; i0 += TILE) {
    const t = Math.min(TILE, m - i0), rows = t * group;
    initStates(states, rows, dv, w.kind);
    const tile = (): Float32Array => rowsOf(queries).subarray(i0 * group * d, (i0 + t) * group * d);
    const shared = causal ? Math.max(0, i0 + shift) : n; // keys every row of the tile sees
    kernels.attendRange(tile(), rows, rowsOf(keys), rowsOf(values), 0, shared, d, dv, w, states);
    if (causal) {
      for (let i = 0; i < t; i++) {
        const end = Math.max(0, i0 + i + shift + 1);
        kernels.attendRange(tile().subarray(i * group * d, (i + 1) * group * d), group, rowsOf(keys), rowsOf(values), shared,
          end - shared, d, dv, w, states.subarray(i * group * stride, (i + 1) * group * stride));
      }
    }
    for (let r = 0; r < rows; r++) finishState(states, r * stride, dv, out, (i0 * group + r) * dv);
  }
}
