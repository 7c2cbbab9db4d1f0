import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finishState, initStates } from '../../src/kernels/state.js';
import type { Kernels, Weighting } from '../../src/kernels/types.js';
import { backends, gaussArray, place, rng, unplace, weightings } from './backends.js';

// attendIds (scoreIds + accumulateIds fused) on every backend against float64 math over the
// gathered rows: random shapes, repeated ids, odd counts, several calls continuing one state,
// ±1e4 logits rising from block to block, zero values, ReLU^α.

/** float64 attention of one query over rows ids[0..count) (repeats count as often as they occur). */
function gathered64(q: Float32Array, keys: Float32Array, values: Float32Array, ids: Uint32Array, count: number, dim: number,
  dv: number, w: Weighting): { out: Float64Array; weightSum: number; max: number } {
  const logits = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += q[c]! * keys[ids[i]! * dim + c]!;
    logits[i] = s * w.scale;
  }
  const max = w.kind === 'softmax' ? Math.max(-Infinity, ...logits) : 0;
  const out = new Float64Array(dv);
  let weightSum = 0;
  for (let i = 0; i < count; i++) {
    const t = logits[i]! - w.bias;
    const p = w.kind === 'softmax' ? Math.exp(logits[i]! - max) : t > 0 ? t ** w.alpha : 0;
    weightSum += p;
    for (let c = 0; c < dv; c++) out[c]! += p * values[ids[i]! * dv + c]!;
  }
  if (weightSum > 0) for (let c = 0; c < dv; c++) out[c]! /= weightSum;
  return { out, weightSum, max };
}

/** Runs attendIds over ids split into `calls` consecutive chunks on one fresh state; returns the state. */
function attendInChunks(k: Kernels, q: Float32Array, keys: Float32Array, values: Float32Array, ids: Uint32Array, count: number,
  dim: number, dv: number, w: Weighting, calls: number): Float32Array {
  const st = new Float32Array(dv + 2);
  initStates(st, 1, dv, w.kind);
  let from = 0;
  for (let c = 1; c <= calls; c++) {
    const to = c === calls ? count : Math.floor((count * c) / calls);
    k.attendIds(q, keys, values, ids.slice(from, to), to - from, dim, dv, w, st);
    from = to;
  }
  return st;
}

function assertClose(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (tolerance ${tol})`);
}


for (const b of backends()) {
  const k: Kernels = b.kernels;
  describe(`attendIds: ${b.label}`, () => {
    for (const w of weightings) {
      it(`= float64 attention over the gathered rows, repeats and any order, state continued over 1–3 calls (${w.kind}, scale ${w.scale}, bias ${w.bias}, α ${w.alpha})`, () => {
        const r = rng(41);
        for (const [dim, dv] of [[16, 16], [5, 7], [64, 64], [128, 128], [3, 130], [63, 1]] as const) {
          for (const count of [0, 1, 2, 3, 5, 7, 64, 65, 131, dim === 64 ? 1200 : 9]) {
            unplace(b);
            const n = 1 + r.int(2 * count + 1);
            const keys = place(b, gaussArray(r, n * dim)), values = place(b, gaussArray(r, n * dv));
            const q = gaussArray(r, dim);
            const ids = Uint32Array.from({ length: count }, () => r.int(n)); // any order, repeats likely
            const want = gathered64(q, keys, values, ids, count, dim, dv, w);
            const tol = 3e-5 * (w.alpha === 3 ? 10 : 1);
            for (const calls of [1, 2, 3]) {
              const st = attendInChunks(k, q, keys, values, ids, count, dim, dv, w, calls);
              const what = `dim ${dim} dv ${dv} count ${count} calls ${calls}`;
              if (count === 0) {
                assert.equal(st[dv + 1], 0, `empty: ${what}`);
                continue;
              }
              const sum = st[dv + 1]! * Math.exp(st[dv]! - want.max); // the state's Σ weights, relative to the float64 max
              assertClose(sum, want.weightSum, tol * want.weightSum + 1e-30, `sum ${what}`);
              const out = new Float32Array(dv);
              finishState(st, 0, dv, out, 0);
              for (let c = 0; c < dv; c++) assertClose(out[c]!, want.out[c]!, tol, `${what} col ${c}`);
            }
          }
        }
      });
    }

    it('logits of ±1e4 rising block after block, ties with an early max, exact integer dots', () => {
      const r = rng(42);
      const dim = 5, dv = 6, n = 300;
      const keysRaw = new Float32Array(n * dim), q = new Float32Array(dim);
      q[0] = 1; // key j's first coordinate is its logit
      for (let j = 0; j < n; j++) keysRaw[j * dim] = Math.round(-1e4 + (2e4 * j) / n + r.uniform() * 30);
      keysRaw[7 * dim] = 1e4;
      const keys = place(b, keysRaw), values = place(b, gaussArray(r, n * dv));
      const w: Weighting = { kind: 'softmax', scale: 1, bias: 0, alpha: 1 };
      const ids = Uint32Array.from({ length: n }, (_, i) => i);
      for (const calls of [1, 5]) {
        const st = attendInChunks(k, q, keys, values, ids, n, dim, dv, w, calls);
        const want = gathered64(q, keys, values, ids, n, dim, dv, w);
        const out = new Float32Array(dv);
        finishState(st, 0, dv, out, 0);
        for (let c = 0; c < dv; c++) assertClose(out[c]!, want.out[c]!, 1e-5, `calls ${calls} col ${c}`);
        assert.equal(st[dv], 1e4);
        // Rising the other way: the descending list puts the max in the first call.
        const down = ids.slice().reverse();
        const st2 = attendInChunks(k, q, keys, values, down, n, dim, dv, w, calls);
        finishState(st2, 0, dv, out, 0);
        for (let c = 0; c < dv; c++) assertClose(out[c]!, want.out[c]!, 1e-5, `descending calls ${calls} col ${c}`);
      }
    });

    it('zero values give zeros; all-zero ReLU weights leave the state empty; huge logit gaps underflow to 0 weight', () => {
      const r = rng(43);
      const dim = 9, dv = 10, n = 70;
      const keys = place(b, gaussArray(r, n * dim)), zeros = place(b, new Float32Array(n * dv));
      const q = gaussArray(r, dim);
      const ids = Uint32Array.from({ length: 67 }, (_, i) => (i * 13) % n);
      const soft: Weighting = { kind: 'softmax', scale: 1, bias: 0, alpha: 1 };
      const st = attendInChunks(k, q, keys, zeros, ids, ids.length, dim, dv, soft, 1);
      assert.deepEqual([...st.subarray(0, dv)], new Array(dv).fill(0));
      assert.ok(st[dv + 1]! >= 1, 'the max key has weight 1');
      const never: Weighting = { kind: 'relu', scale: 1, bias: 1e6, alpha: 2 };
      const st2 = attendInChunks(k, q, keys, place(b, gaussArray(r, n * dv)), ids, ids.length, dim, dv, never, 2);
      assert.deepEqual([...st2], [...new Array(dv).fill(0), 0, 0]);
      // One key far above the rest: every other weight is e^(−huge) = 0, the output is its value row.
      const vRaw = gaussArray(r, n * dv), big = Float32Array.from(keys);
      const spike = place(b, big.map((x, i) => (i === 3 * dim ? 1e4 : i % dim === 0 ? x : 0)));
      const e0 = new Float32Array(dim); e0[0] = 1;
      const st3 = attendInChunks(k, e0, spike, place(b, vRaw), ids, ids.length, dim, dv, soft, 3);
      const out = new Float32Array(dv);
      finishState(st3, 0, dv, out, 0);
      for (let c = 0; c < dv; c++) assertClose(out[c]!, vRaw[3 * dv + c]!, 1e-6 * Math.abs(vRaw[3 * dv + c]!), `spike col ${c}`);
    });
  });
}
