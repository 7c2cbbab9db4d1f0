import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Weighting } from '../../src/kernels/types.js';
import { DecodePool } from '../../src/node/worker-pool.js';
import { gaussArray, rng } from './backends.js';

/**
 * Certified softmax rows split across DecodePool threads: with one-hot values (value row of key i
 * = e_i, so dv = n), the output of a row IS its weights, so the true total-variation distance from
 * the exact softmax (float64, brute force) is measured directly and must not exceed the reported
 * bound, which must not exceed ε.
 */
describe('DecodePool certified rows (sparse: { epsilon }, one ε budget over all threads\' key ranges)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });
  const heads = 6, kvHeads = 2, group = 3, d = 32, n = 1600;
  const w: Weighting = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 };

  /** Keys Gaussian, a few "needles" in the first 200 positions of each KV head; values one-hot. */
  function cache(seed: number): { k: Float32Array; v: Float32Array } {
    const r = rng(seed), k = gaussArray(r, n * kvHeads * d), v = new Float32Array(n * kvHeads * n);
    for (let i = 0; i < n; i++) for (let g = 0; g < kvHeads; g++) v[(i * kvHeads + g) * n + i] = 1;
    return { k, v };
  }

  /** Exact softmax weights (float64) of head h's query over its KV head's keys. */
  function exact(q: Float32Array, k: Float32Array, h: number): Float64Array {
    const g = Math.floor(h / group), s = new Float64Array(n);
    let mx = -Infinity;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[h * d + c]! * k[(i * kvHeads + g) * d + c]!;
      s[i] = dot * w.scale;
      mx = Math.max(mx, s[i]!);
    }
    let sum = 0;
    for (let i = 0; i < n; i++) { s[i] = Math.exp(s[i]! - mx); sum += s[i]!; }
    for (let i = 0; i < n; i++) s[i]! /= sum;
    return s;
  }

  for (const threads of [1, 2, 3]) {
    it(`${threads} thread(s): the measured TV error ≤ the reported bound ≤ ε, peaked and flat rows`, async () => {
      const { k, v } = cache(5 + threads);
      for (const epsilon of [1e-2, 1e-3]) {
        const pool = await DecodePool.create({ heads, kvHeads, headDim: d, valueDim: n, weighting: w, threads, minPositionsPerThread: 0, sparse: { epsilon } });
        pools.push(pool);
        pool.append(k, v);
        const r = rng(100 + threads), out = new Float32Array(heads * n);
        let sparseRows = 0, skipped = 0;
        for (const sharp of [2, 4, 8, 0]) { // the flat step (0) last: its back-off would make later steps dense
          // Query h aims at key (37·h + 11·sharp) of its KV head with strength `sharp` (0: flat row):
          // its top lies in one thread's range, so ranges' tops differ by many buckets.
          const q = gaussArray(r, heads * d, 0.5);
          for (let h = 0; h < heads; h++) {
            const g = Math.floor(h / group), target = (37 * h + 11 * sharp) % 200 + (h % 2 === 0 ? 0 : n - 300);
            for (let c = 0; c < d; c++) q[h * d + c]! += sharp * k[(target * kvHeads + g) * d + c]!;
          }
          pool.attend(q, out);
          const cert = pool.lastCertified!;
          for (let h = 0; h < heads; h++) {
            const p = exact(q, k, h);
            let tv = 0;
            for (let i = 0; i < n; i++) tv += Math.abs(out[h * n + i]! - p[i]!);
            tv /= 2;
            const bound = cert.errorBound[h]!;
            assert.ok(bound <= epsilon, `ε ${epsilon} sharp ${sharp} head ${h}: bound ${bound} > ε`);
            // 1e-5: the float32 weights' own rounding (≤ ~1e-6 relative each).
            assert.ok(tv <= bound + 1e-5, `ε ${epsilon} sharp ${sharp} head ${h}: TV ${tv} > bound ${bound} (${cert.keysUsed[h]} keys)`);
            if (cert.keysUsed[h]! < n) { sparseRows++; skipped += tv; }
          }
        }
        assert.ok(sparseRows >= heads, `ε ${epsilon}: expected sparse rows, got ${sparseRows}`);
        assert.ok(skipped > 0, `ε ${epsilon}: expected some skipped mass`);
      }
    });
  }

  it('equals the one-thread pool on the same cache within float32 rounding, and reports the same bound order', async () => {
    const { k, v } = cache(9);
    const options = { heads, kvHeads, headDim: d, valueDim: n, weighting: w, minPositionsPerThread: 0, sparse: { epsilon: 1e-2 } };
    const one = await DecodePool.create({ ...options, threads: 1 }), two = await DecodePool.create({ ...options, threads: 2 });
    pools.push(one, two);
    one.append(k, v); two.append(k, v);
    const q = gaussArray(rng(3), heads * d, 2), a = new Float32Array(heads * n), b = new Float32Array(heads * n);
    one.attend(q, a); two.attend(q, b);
    // Same buckets (the merged histogram of two ranges can only shift keys to later buckets by < 1):
    // the taken sets may differ by a bucket edge, so compare rows by their bounds.
    for (let h = 0; h < heads; h++) {
      let diff = 0;
      for (let i = 0; i < n; i++) diff += Math.abs(a[h * n + i]! - b[h * n + i]!);
      const bounds = one.lastCertified!.errorBound[h]! + two.lastCertified!.errorBound[h]!;
      assert.ok(diff / 2 <= bounds + 1e-5, `head ${h}: rows differ by ${diff / 2} in TV, bounds ${bounds}`);
    }
  });

  it('flat rows back off: after a step whose every group went dense the bound pass is skipped 4, 8, … steps, output = dense', async () => {
    const r = rng(31), k = gaussArray(r, n * kvHeads * d), v = gaussArray(r, n * kvHeads * 4);
    const options = { heads, kvHeads, headDim: d, valueDim: 4, weighting: w, threads: 2, minPositionsPerThread: 0 };
    const pool = await DecodePool.create({ ...options, sparse: { epsilon: 1e-3 } }), dense = await DecodePool.create(options);
    pools.push(pool, dense);
    pool.append(k, v); dense.append(k, v);
    const got = new Float32Array(heads * 4), want = new Float32Array(heads * 4), bounded: number[] = [];
    for (let step = 0; step < 16; step++) {
      const q = gaussArray(r, heads * d, 0.05); // near-zero queries: flat rows, every group dense
      pool.attend(q, got); dense.attend(q, want);
      const c = pool.lastCertified!;
      if (c.work.rounds > 0) bounded.push(step);
      assert.deepEqual([...c.errorBound], new Array(heads).fill(0));
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 2e-5 * (1 + Math.abs(want[i]!)), `step ${step} element ${i}`);
    }
    assert.deepEqual(bounded, [0, 5, 14]); // bound passes, then 4 and 8 skipped steps
  });

  it('short caches (≤ 1024 keys) and bad options', async () => {
    const pool = await DecodePool.create({ heads, kvHeads, headDim: d, valueDim: 4, weighting: w, threads: 2, minPositionsPerThread: 0, sparse: { epsilon: 0.1 } });
    pools.push(pool);
    pool.append(gaussArray(rng(1), 10 * kvHeads * d), gaussArray(rng(2), 10 * kvHeads * 4));
    const out = new Float32Array(heads * 4);
    pool.attend(gaussArray(rng(3), heads * d), out);
    assert.deepEqual([...pool.lastCertified!.errorBound], new Array(heads).fill(0));
    const relu: Weighting = { kind: 'relu', scale: 0.2, bias: 0, alpha: 1 };
    const base = { heads, kvHeads, headDim: d, valueDim: 4, threads: 2 };
    for (const [weighting, sparse] of [[relu, { epsilon: 0.1 }], [w, true], [w, { epsilon: 0 }], [w, { epsilon: 1 }], [w, { epsilon: 0.1, x: 1 }], [w, 'yes']] as const) {
      await assert.rejects(DecodePool.create({ ...base, weighting, sparse: sparse as never }), (e: { code?: string }) => e.code === 'BAD_OPTION', JSON.stringify(sparse));
    }
  });
});
