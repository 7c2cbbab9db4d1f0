import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Weighting } from '../../src/kernels/types.js';
import { DecodePool as CoreDecodePool } from '../../src/kernels/pool/decode-pool.js';
import { DecodePool } from '../../src/node/worker-pool.js';
import { gaussArray, referenceDecode, rng } from './backends.js';

const softmax = (d: number): Weighting => ({ kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 });

describe('DecodePool (worker threads over a shared WebAssembly memory, split-KV merged by log-sum-exp)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });

  for (const threads of [1, 2, 3, 5]) {
    for (const w of [softmax(32), { kind: 'relu', scale: 0.2, bias: 0.05, alpha: 2 } as Weighting]) {
      it(`${threads} thread(s), ${w.kind}: matches the float64 reference for lengths 0 … 700 (slices split heads and key ranges)`, async () => {
        const heads = 6, kvHeads = 2, d = 32, dv = 24;
        const pool = await DecodePool.create({ heads, kvHeads, headDim: d, valueDim: dv, weighting: w, threads, initialCapacity: 8, minPositionsPerThread: 0 });
        pools.push(pool);
        assert.equal(pool.threads, threads);
        const allK: number[] = [], allV: number[] = [];
        const r = rng(21 + threads);
        const got = new Float32Array(heads * dv);
        for (const t of [0, 1, 2, 3, 60, 200, 434]) {
          const k = gaussArray(r, t * kvHeads * d), v = gaussArray(r, t * kvHeads * dv);
          pool.append(k, v); allK.push(...k); allV.push(...v);
          const q = gaussArray(r, heads * d, 1.5);
          pool.attend(q, got);
          const want = referenceDecode(q, Float32Array.from(allK), Float32Array.from(allV), pool.length, heads, kvHeads, d, dv, w);
          for (let i = 0; i < want.length; i++) {
            assert.ok(Math.abs(got[i]! - want[i]!) <= 2e-5 * (1 + Math.abs(want[i]!)), `length ${pool.length} element ${i}: got ${got[i]}, want ${want[i]}`);
          }
        }
      });
    }
  }
});

describe('DecodePool sparse ReLU rows (quantized index per KV head, candidate sweep split across threads)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });
  for (const threads of [1, 2]) {
    it(`${threads} thread(s): matches the float64 reference and the dense pool for lengths 0 … 700, few and many keys above the threshold`, async () => {
      const heads = 6, kvHeads = 2, d = 32, dv = 24;
      for (const bias of [0.05, 1.2]) { // bias 1.2 with scale 0.2: only keys with a large dot pass
        const w: Weighting = { kind: 'relu', scale: 0.2, bias, alpha: 2 };
        const options = { heads, kvHeads, headDim: d, valueDim: dv, weighting: w, threads, initialCapacity: 8, minPositionsPerThread: 0 };
        const pool = await DecodePool.create({ ...options, sparse: true }), dense = await DecodePool.create(options);
        pools.push(pool, dense);
        const allK: number[] = [], allV: number[] = [];
        const r = rng(41 + threads);
        const got = new Float32Array(heads * dv), base = new Float32Array(heads * dv);
        for (const t of [0, 1, 2, 3, 60, 200, 434]) {
          const k = gaussArray(r, t * kvHeads * d), v = gaussArray(r, t * kvHeads * dv);
          if (t === 3) k.fill(0, 0, d); // a zero key
          pool.append(k, v); dense.append(k, v); allK.push(...k); allV.push(...v);
          const q = gaussArray(r, heads * d, 1.5);
          if (t === 60) q.fill(0, 0, d); // a zero query
          pool.attend(q, got); dense.attend(q, base);
          const want = referenceDecode(q, Float32Array.from(allK), Float32Array.from(allV), pool.length, heads, kvHeads, d, dv, w);
          for (let i = 0; i < want.length; i++) {
            assert.ok(Math.abs(got[i]! - want[i]!) <= 2e-5 * (1 + Math.abs(want[i]!)), `bias ${bias} length ${pool.length} element ${i}: got ${got[i]}, want ${want[i]}`);
            assert.ok(Math.abs(got[i]! - base[i]!) <= 2e-5 * (1 + Math.abs(base[i]!)), `bias ${bias} length ${pool.length} element ${i}: sparse ${got[i]}, dense ${base[i]}`);
          }
        }
      }
    });
  }
  it('a slice longer than one sweep chunk (16384 keys) on 1 and 2 threads equals the dense pool', async () => {
    const heads = 4, kvHeads = 1, d = 16, dv = 8, n = 17000;
    const w: Weighting = { kind: 'relu', scale: 0.25, bias: 1, alpha: 1 };
    const r = rng(77), k = gaussArray(r, n * kvHeads * d), v = gaussArray(r, n * kvHeads * dv), q = gaussArray(r, heads * d, 1.5);
    const options = { heads, kvHeads, headDim: d, valueDim: dv, weighting: w, initialCapacity: n, minPositionsPerThread: 0 };
    const dense = await DecodePool.create({ ...options, threads: 1 });
    pools.push(dense);
    dense.append(k, v);
    const want = new Float32Array(heads * dv), got = new Float32Array(heads * dv);
    dense.attend(q, want);
    for (const threads of [1, 2]) {
      const pool = await DecodePool.create({ ...options, threads, sparse: true });
      pools.push(pool);
      pool.append(k, v);
      pool.attend(q, got);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 2e-5 * (1 + Math.abs(want[i]!)), `${threads} threads, element ${i}: ${got[i]} vs ${want[i]}`);
    }
  });
  it('rejects sparse softmax rows and more than 4 query heads per KV head', async () => {
    const base = { heads: 6, kvHeads: 2, headDim: 8, valueDim: 8, threads: 1, sparse: true };
    await assert.rejects(DecodePool.create({ ...base, weighting: softmax(8) }), { code: 'BAD_OPTION' });
    await assert.rejects(DecodePool.create({ ...base, heads: 10, weighting: { kind: 'relu', scale: 1, bias: 0, alpha: 1 } }), { code: 'BAD_OPTION' });
  });
});

describe('the package root\'s DecodePool (Web Workers) in Node', () => {
  it('runs on one thread and says why (Node has no Web Workers: hsr-attention/node\'s pool spawns worker_threads)', async () => {
    const pool = await CoreDecodePool.create({ heads: 2, kvHeads: 1, headDim: 8, threads: 2, weighting: softmax(8) });
    try {
      assert.equal(pool.threads, 1);
      assert.match(pool.fallback ?? '', /^one thread: Web Workers are not available here/);
      const node = await DecodePool.create({ heads: 2, kvHeads: 1, headDim: 8, threads: 2, weighting: softmax(8) });
      assert.equal(node.threads, 2);
      assert.equal(node.fallback, null);
      await node.close();
    } finally { await pool.close(); }
  });
});
