import { STATE_EXTRA } from './types.js';

/**
 * Partial attention states (layout in types.ts: `[acc_0 .. acc_{dv−1}, max, sum]` per query, stride
 * dv + 2), in float32 (the kernels' states) or float64 (`AttentionState`). Plain TypeScript: these
 * run once per query per chunk or split, never per key.
 */

/** A run of packed states: float32 in the kernels, float64 in `AttentionState`. */
export type StateArray = Float32Array | Float64Array;

/** Resets `m` states to the empty sum: acc = 0, max = −Infinity (softmax) or 0 (ReLU), sum = 0. */
export function initStates(states: StateArray, m: number, dv: number, kind: 'softmax' | 'relu'): void {
  const stride = dv + STATE_EXTRA;
  for (let j = 0; j < m; j++) {
    const o = j * stride;
    states.fill(0, o, o + dv);
    states[o + dv] = kind === 'softmax' ? -Infinity : 0;
    states[o + dv + 1] = 0;
  }
}

/**
 * The log-sum-exp merge — the one place where partial attention states are combined or rescaled
 * (AttentionState/mergeStates, the kernel rows' float32 chunks, the float64 rows' chunks, the js
 * kernels' blocks, split-KV threads): state `b` (at bOff) is merged into state `a` (at aOff), so `a`
 * becomes what one pass over the union of both (disjoint) key sets would have produced. Both are
 * brought to the larger reference logit m = max(max_a, max_b): acc and sum scale by e^{max − m}.
 * An empty side (sum 0) contributes nothing and may carry max = −∞ (no ∞ − ∞). ReLU states at
 * max = 0 (absolute weights) simply add; scaled ones (types.ts) merge like softmax's. Writing into a
 * float32 `a` rounds once per entry.
 */
export function lseMerge(a: StateArray, aOff: number, b: StateArray, bOff: number, dv: number): void {
  const sb = b[bOff + dv + 1]!;
  if (!(sb > 0)) return;
  const ma = a[aOff + dv]!, sa = a[aOff + dv + 1]!, mb = b[bOff + dv]!;
  const m = sa > 0 ? Math.max(ma, mb) : mb;
  const fa = sa > 0 ? Math.exp(ma - m) : 0, fb = Math.exp(mb - m);
  for (let c = 0; c < dv; c++) a[aOff + c] = a[aOff + c]! * fa + b[bOff + c]! * fb;
  a[aOff + dv] = m;
  a[aOff + dv + 1] = sa * fa + sb * fb;
}

/** out[outOff + c] = acc_c / sum, or zeros when no key had weight (an all-zero ReLU row). */
export function finishState(state: StateArray, off: number, dv: number, out: Float32Array, outOff: number): void {
  const sum = state[off + dv + 1]!;
  const inv = sum > 0 ? 1 / sum : 0;
  for (let c = 0; c < dv; c++) out[outOff + c] = state[off + c]! * inv;
}
