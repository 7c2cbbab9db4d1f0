// ReLU^α on the float32 kernel paths with weights far outside float32's range: α = 300 with scores
// 50 … 100 (t^α overflows from 100^20 on), α = 40 with scores 1e-4 … 1e-3 (t^α underflows to 0), and
// a first block of tiny scores followed by large ones (the state's reference rises by 1000 nats).
// The normalised answer is finite and well conditioned; every backend's kernels, DenseDecoder and
// DecodePool (dense and sparse rows, 1 and 2 threads) must give it, checked against float64.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DenseDecoder } from '../../src/kernels/dense-decode.js';
import { finishState, initStates } from '../../src/kernels/state.js';
import type { Weighting } from '../../src/kernels/types.js';
import { DecodePool } from '../../src/node/worker-pool.js';
import { backends, gaussArray, place, referenceDecode, rng, unplace } from './backends.js';

const n = 300, d = 8, dv = 5;

interface Case { name: string; alpha: number; bias: number; score: (i: number, u: number) => number }
const cases: Case[] = [
  { name: 'α = 300, scores rising 50 → 100', alpha: 300, bias: 0, score: (i) => 50 + (50 * i) / n },
  { name: 'α = 300, scores falling 100 → 50', alpha: 300, bias: 0, score: (i) => 100 - (50 * i) / n },
  { name: 'α = 40, scores 1e-4 … 1e-3 (t^α underflows)', alpha: 40, bias: 0, score: (_, u) => 1e-4 + 9e-4 * u },
  { name: 'α = 20, tiny block then large scores, bias 0.5', alpha: 20, bias: 0.5, score: (i, u) => (i < 64 ? 0.5 + 1e-3 * u : 40 + 60 * u) },
];

/** Keys whose dot with the query e₀ is exactly the case's score (other coordinates meet a 0). */
function data(c: Case, seed: number): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const r = rng(seed);
  const k = gaussArray(r, n * d), v = gaussArray(r, n * dv);
  for (let i = 0; i < n; i++) k[i * d] = c.score(i, r.uniform());
  const q = new Float32Array(d);
  q[0] = 1;
  return { q, k, v };
}

const weighting = (c: Case): Weighting => ({ kind: 'relu', scale: 1, bias: c.bias, alpha: c.alpha });

function assertNear(got: Float32Array, want: Float64Array, alpha: number, what: string): void {
  // Each weight's float32 error is a few ulps per multiplication of t^α: relative α·2⁻²¹ at most.
  const tol = alpha * 2 ** -21 * 4;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]!) && Math.abs(got[i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)),
      `${what} element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

for (const b of backends()) {
  describe(`ReLU^α beyond float32's range on ${b.label}`, () => {
    for (const c of cases) {
      it(`attendRange, attendIds and accumulateIds give the float64 answer (${c.name})`, () => {
        const { q, k, v } = data(c, 5);
        const w = weighting(c), want = referenceDecode(q, k, v, n, 1, 1, d, dv, w);
        const keys = place(b, k), values = place(b, v), qp = place(b, q);
        const st = new Float32Array(dv + 2), out = new Float32Array(dv);
        initStates(st, 1, dv, 'relu');
        b.kernels.attendRange(qp, 1, keys, values, 0, n, d, dv, w, st);
        finishState(st, 0, dv, out, 0);
        assertNear(out, want, c.alpha, 'attendRange');
        // Ids in two calls, each shuffled: the second call's reference differs from the first's.
        const r = rng(9), ids = Uint32Array.from({ length: n }, (_, i) => i);
        for (let i = n - 1; i > 0; i--) { const j = r.int(i + 1); [ids[i], ids[j]] = [ids[j]!, ids[i]!]; }
        initStates(st, 1, dv, 'relu');
        b.kernels.attendIds(qp, keys, values, ids.slice(0, 100), 100, d, dv, w, st);
        b.kernels.attendIds(qp, keys, values, ids.slice(100), n - 100, d, dv, w, st);
        finishState(st, 0, dv, out, 0);
        assertNear(out, want, c.alpha, 'attendIds');
        const dots = new Float32Array(n);
        b.kernels.scoreIds(qp, keys, ids, n, d, dots);
        initStates(st, 1, dv, 'relu');
        b.kernels.accumulateIds(st, dots, n, w, values, ids, dv);
        finishState(st, 0, dv, out, 0);
        assertNear(out, want, c.alpha, 'accumulateIds');
        unplace(b);
      });
    }
    if (!b.label.includes('staged')) {
      it('DenseDecoder gives the float64 answer for every case', () => {
        for (const c of cases) {
          const { q, k, v } = data(c, 6);
          const w = weighting(c);
          const dec = new DenseDecoder({ heads: 1, kvHeads: 1, headDim: d, valueDim: dv, weighting: w, kernels: b.kernels, initialCapacity: 8 });
          dec.append(k, v);
          const out = new Float32Array(dv);
          dec.attend(q, out);
          assertNear(out, referenceDecode(q, k, v, n, 1, 1, d, dv, w), c.alpha, `${c.name}`);
        }
      });
    }
  });
}

describe('DecodePool ReLU^α beyond float32 range (dense and sparse rows, split-KV merged by log-sum-exp)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });
  for (const sparse of [false, true]) {
    for (const threads of [1, 2]) {
      it(`${sparse ? 'sparse' : 'dense'} rows, ${threads} thread(s): the float64 answer for every case`, async () => {
        for (const c of cases) {
          const { q, k, v } = data(c, 7);
          const w = weighting(c);
          // Two query heads on one KV head: the first e₀, the second its negation (every t ≤ 0: zeros).
          const qs = new Float32Array(2 * d);
          qs.set(q);
          qs[d] = -1;
          const pool = await DecodePool.create({ heads: 2, kvHeads: 1, headDim: d, valueDim: dv, weighting: w, threads, sparse, minPositionsPerThread: 0 });
          pools.push(pool);
          pool.append(k, v);
          const out = new Float32Array(2 * dv);
          pool.attend(qs, out);
          assertNear(out, referenceDecode(qs, k, v, n, 2, 1, d, dv, w), c.alpha, c.name);
        }
      });
    }
  }
});
