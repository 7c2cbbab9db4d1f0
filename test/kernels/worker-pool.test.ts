import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Weighting } from '../../src/kernels/types.js';
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
