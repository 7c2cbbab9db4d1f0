import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { HsrError, type HsrErrorCode } from '../../src/errors.js';
import type { Weighting } from '../../src/kernels/types.js';
import { DecodePool } from '../../src/node/worker-pool.js';
import { gaussArray, rng } from '../kernels/backends.js';

const heads = 4, kvHeads = 2, d = 8, dv = 8;
const weighting: Weighting = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 };

/** A pool of `threads` threads that already holds `n` random tokens; minPositionsPerThread 0 so every attend uses the threads. */
async function filledPool(threads: number, n = 40, timeoutMs?: number): Promise<DecodePool> {
  const pool = await DecodePool.create({ heads, kvHeads, headDim: d, valueDim: dv, weighting, threads, minPositionsPerThread: 0, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  const r = rng(5);
  pool.append(gaussArray(r, n * kvHeads * d), gaussArray(r, n * kvHeads * dv));
  return pool;
}

function expectHsr(fn: () => unknown, code: HsrErrorCode, message?: RegExp): HsrError {
  let caught: unknown;
  try { fn(); } catch (e) { caught = e; }
  assert.ok(caught instanceof HsrError, `expected HsrError ${code}, got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** The pool's worker threads (private: the tests below stand in for a thread dying or failing). */
const workersOf = (pool: DecodePool): Worker[] => (pool as unknown as { workers: { worker: Worker }[] }).workers.map((t) => t.worker);

describe('DecodePool rejects bad input with HsrError (table)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });
  const q = () => gaussArray(rng(1), heads * d);
  const out = () => new Float32Array(heads * dv);
  const cases: { name: string; call: (p: DecodePool) => unknown; code: HsrErrorCode; message: RegExp }[] = [
    { name: 'a short query', call: (p) => p.attend(new Float32Array(heads * d - 1), out()), code: 'DIM_MISMATCH', message: /expected length 32, got 31/ },
    { name: 'a long query', call: (p) => p.attend(new Float32Array(heads * d + 5), out()), code: 'DIM_MISMATCH', message: /expected length 32, got 37/ },
    { name: 'a number[] query', call: (p) => p.attend(Array.from(q()) as unknown as Float32Array, out()), code: 'BAD_DTYPE', message: /Float32Array/ },
    { name: 'NaN in the query', call: (p) => { const x = q(); x[3] = NaN; return p.attend(x, out()); }, code: 'NON_FINITE', message: /NaN at element 3/ },
    { name: 'a short out', call: (p) => p.attend(q(), new Float32Array(heads * dv - 8)), code: 'DIM_MISMATCH', message: /expected length 32, got 24/ },
    { name: 'a Float64Array out', call: (p) => p.attend(q(), new Float64Array(heads * dv) as unknown as Float32Array), code: 'BAD_DTYPE', message: /Float64Array/ },
    { name: 'keys not a whole number of tokens', call: (p) => p.append(new Float32Array(kvHeads * d + 1), new Float32Array(kvHeads * dv)), code: 'SHAPE_MISMATCH', message: /expected keys \[t, 2, 8\]/ },
    { name: 'values for another token count', call: (p) => p.append(new Float32Array(2 * kvHeads * d), new Float32Array(kvHeads * dv)), code: 'SHAPE_MISMATCH', message: /got 32 and 16/ },
    { name: 'NaN in a key', call: (p) => { const k = new Float32Array(kvHeads * d); k[5] = NaN; return p.append(k, new Float32Array(kvHeads * dv)); }, code: 'NON_FINITE', message: /keys.*NaN at element 5/ },
    { name: 'Infinity in a value', call: (p) => { const v = new Float32Array(kvHeads * dv); v[0] = Infinity; return p.append(new Float32Array(kvHeads * d), v); }, code: 'NON_FINITE', message: /values.*Infinity at element 0/ },
    { name: 'number[] keys', call: (p) => p.append([0, 1] as unknown as Float32Array, new Float32Array(0)), code: 'BAD_DTYPE', message: /Float32Array/ },
  ];
  for (const threads of [1, 2]) {
    let shared: Promise<DecodePool> | null = null;
    const poolFor = () => (shared ??= filledPool(threads).then((p) => { pools.push(p); return p; }));
    for (const c of cases) {
      it(`${threads} thread(s): ${c.name} → ${c.code}, and the pool still answers afterwards`, async () => {
        const pool = await poolFor();
        const before = pool.length;
        expectHsr(() => c.call(pool), c.code, c.message);
        assert.equal(pool.length, before, 'a rejected append adds nothing');
        const o = out();
        pool.attend(q(), o);
        assert.ok(o.every(Number.isFinite));
      });
    }
  }

  it('options out of range → BAD_OPTION', async () => {
    for (const bad of [{ threads: 0 }, { threads: 1.5 }, { minPositionsPerThread: -1 }, { timeoutMs: 0 }, { timeoutMs: NaN }]) {
      await assert.rejects(DecodePool.create({ heads, kvHeads, headDim: d, weighting, ...bad }),
        (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION', JSON.stringify(bad));
    }
  });
});

describe('DecodePool failures surface as HsrError within a bounded time', () => {
  for (const threads of [1, 2]) {
    it(`${threads} thread(s): after close() attend and append refuse work (CLOSED), also on short caches`, async () => {
      const pool = await filledPool(threads, 3);
      await pool.close();
      expectHsr(() => pool.attend(new Float32Array(heads * d), new Float32Array(heads * dv)), 'CLOSED', /closed/);
      expectHsr(() => pool.append(new Float32Array(kvHeads * d), new Float32Array(kvHeads * dv)), 'CLOSED', /closed/);
      await pool.close(); // closing twice is harmless
    });
  }

  it('a worker terminated between calls: the next attend throws WORKER_FAILED at once', async () => {
    const pool = await filledPool(2);
    try {
      await workersOf(pool)[0]!.terminate();
      await new Promise((r) => setImmediate(r));
      const t0 = performance.now();
      expectHsr(() => pool.attend(new Float32Array(heads * d), new Float32Array(heads * dv)), 'WORKER_FAILED', /thread 1/);
      assert.ok(performance.now() - t0 < 1000);
    } finally { await pool.close(); }
  });

  it('a worker that dies unnoticed (as mid-task): attend throws WORKER_FAILED after timeoutMs, and the pool stays failed', async () => {
    const pool = await filledPool(2, 40, 300);
    try {
      const w = workersOf(pool)[0]!;
      w.removeAllListeners('exit'); w.removeAllListeners('error'); // the pool does not hear of it, as when a thread dies mid-attend
      await w.terminate();
      const t0 = performance.now();
      expectHsr(() => pool.attend(new Float32Array(heads * d), new Float32Array(heads * dv)), 'WORKER_FAILED', /300 ms/);
      const waited = performance.now() - t0;
      assert.ok(waited >= 250 && waited < 3000, `waited ${waited} ms`);
      expectHsr(() => pool.attend(new Float32Array(heads * d), new Float32Array(heads * dv)), 'WORKER_FAILED');
    } finally { await pool.close(); }
  });

  it('a worker whose slice throws (a wasm trap): attend throws WORKER_FAILED with the worker\'s message, without waiting for the timeout', async () => {
    const pool = await filledPool(2, 40, 20_000);
    try {
      // Thread 1's slice is KV head 1; point its key block beyond the memory so the kernel traps there.
      const dec = pool.decoder as unknown as { keys(g: number): { byteOffset: number } };
      const keysOf = dec.keys.bind(dec);
      dec.keys = (g) => (g === 1 ? { byteOffset: 0x7fff0000 } : keysOf(g));
      const t0 = performance.now();
      expectHsr(() => pool.attend(new Float32Array(heads * d), new Float32Array(heads * dv)), 'WORKER_FAILED', /out of bounds/);
      assert.ok(performance.now() - t0 < 5000);
    } finally { await pool.close(); }
  });
});
