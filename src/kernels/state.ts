import { STATE_EXTRA } from './types.js';

/**
 * Online-softmax states (layout in types.ts: `[acc_0 .. acc_{dv−1}, max, sum]` per query, stride
 * dv + 2). Plain TypeScript: these run once per query per split, never per key.
 */

/** Resets `m` states to the empty sum: acc = 0, max = −Infinity (softmax) or 0 (ReLU), sum = 0. */
export function initStates(states: Float32Array, m: number, dv: number, kind: 'softmax' | 'relu'): void {
  const stride = dv + STATE_EXTRA;
  for (let j = 0; j < m; j++) {
    const o = j * stride;
    states.fill(0, o, o + dv);
    states[o + dv] = kind === 'softmax' ? -Infinity : 0;
    states[o + dv + 1] = 0;
  }
}

/**
 * Merges state `b` (at bOff) into state `a` (at aOff) by log-sum-exp: the merged state is what one
 * pass over the union of both key sets would have produced. ReLU states (max = 0) simply add.
 */
export function mergeState(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dv: number): void {
  const ma = a[aOff + dv]!, mb = b[bOff + dv]!;
  const sb = b[bOff + dv + 1]!;
  if (sb === 0) return;
  const m = Math.max(ma, mb);
  const fa = ma === -Infinity ? 0 : Math.exp(ma - m);
  const fb = Math.exp(mb - m);
  for (let c = 0; c < dv; c++) a[aOff + c] = a[aOff + c]! * fa + b[bOff + c]! * fb;
  a[aOff + dv] = m;
  a[aOff + dv + 1] = a[aOff + dv + 1]! * fa + sb * fb;
}

/** out[outOff + c] = acc_c / sum, or zeros when no key had weight (an all-zero ReLU row). */
export function finishState(state: Float32Array, off: number, dv: number, out: Float32Array, outOff: number): void {
  const sum = state[off + dv + 1]!;
  const inv = sum > 0 ? 1 / sum : 0;
  for (let c = 0; c < dv; c++) out[outOff + c] = state[off + c]! * inv;
}
