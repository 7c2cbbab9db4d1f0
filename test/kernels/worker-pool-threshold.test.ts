import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KVCache } from '../../src/index.js';
import type { Weighting } from '../../src/kernels/types.js';
import { DecodePool } from '../../src/node/worker-pool.js';
import { gaussArray, rng } from './backends.js';

/**
 * Threshold and paper softmax rows split across DecodePool threads keep exactly the keys KVCache's
 * one-thread rows keep (same count per step), and their outputs are the float64 softmax over those
 * keys within float32 rounding. Ties: every key is stored twice (positions i and i + n/2 share a key,
 * not a value), and fixed thresholds are set to a key's own float64 logit, so a key lies exactly on
 * the ≥ edge; a threshold above every key takes the one-thread rule's top-1 fallback (the smaller
 * id of the tied pair).
 */
describe('DecodePool threshold and paper rows (sparse: { threshold } / \'paper\', split across threads)', () => {
  const pools: DecodePool[] = [];
  after(async () => { await Promise.all(pools.map((p) => p.close())); });
  const heads = 4, kvHeads = 2, group = 2, d = 16, dv = 3;
  const w: Weighting = { kind: 'softmax', scale: 1 / Math.sqrt(d), bias: 0, alpha: 1 };

  function cache(n: number, seed: number): { k: Float32Array; v: Float32Array } {
    const r = rng(seed), k = gaussArray(r, n * kvHeads * d), v = gaussArray(r, n * kvHeads * dv);
    const half = Math.floor(n / 2);
    for (let i = 0; i < half; i++) k.copyWithin((i + half) * kvHeads * d, i * kvHeads * d, (i + 1) * kvHeads * d);
    return { k, v };
  }

  /** Float64 logits of head h over its KV head's n keys, as ThresholdRule scores them. */
  function logits(q: Float32Array, k: Float32Array, h: number, n: number): Float64Array {
    const g = Math.floor(h / group), s = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[h * d + c]! * k[(i * kvHeads + g) * d + c]!;
      s[i] = dot * w.scale;
    }
    return s;
  }

  /** Float64 softmax over the keys with logit ≥ t (or the first best key when none) of head h; and the count. */
  function reference(q: Float32Array, k: Float32Array, v: Float32Array, h: number, n: number, t: number): { row: Float64Array; kept: number } {
    const s = logits(q, k, h, n), g = Math.floor(h / group), row = new Float64Array(dv);
    let ids = [...s.keys()].filter((i) => s[i]! >= t);
    if (ids.length === 0) ids = [s.indexOf(Math.max(...s))];
    const mx = Math.max(...ids.map((i) => s[i]!));
    let sum = 0;
    for (const i of ids) {
      const e = Math.exp(s[i]! - mx);
      sum += e;
      for (let c = 0; c < dv; c++) row[c]! += e * v[(i * kvHeads + g) * dv + c]!;
    }
    return { row: row.map((x) => x / sum), kept: ids.length };
  }

  async function check(sparse: { threshold: number } | 'paper', n: number, seed: number, threads: number, thresholdOf?: (s: Float64Array[]) => number): Promise<void> {
    const { k, v } = cache(n, seed);
    const q = gaussArray(rng(seed + 1), heads * d, 1.5);
    // Fixed thresholds chosen from the data: a key's own logit (on the edge) or above every key.
    const sel = thresholdOf ? { threshold: thresholdOf(Array.from({ length: heads }, (_, h) => logits(q, k, h, n))) } : sparse;
    const pool = await DecodePool.create({ heads, kvHeads, headDim: d, valueDim: dv, weighting: w, threads, minPositionsPerThread: 0, sparse: sel });
    pools.push(pool);
    pool.append(k, v);
    const kv = new KVCache({ heads, kvHeads, headDim: d, valueDim: dv, kind: 'softmax', scale: w.scale, sparsity: sel });
    kv.append(k, v);
    const out = new Float32Array(heads * dv);
    pool.attend(q, out);
    const one = kv.attend(q);
    const used = pool.lastKeysUsed!;
    assert.equal(used.reduce((a, b) => a + b, 0), one.stats.keysUsed, `${threads} threads n ${n}: keys used`);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      const t = sel === 'paper' ? paperT(q, k, h, n, g) : sel.threshold;
      const ref = reference(q, k, v, h, n, t);
      assert.equal(used[h], ref.kept, `${threads} threads n ${n} head ${h}: keys used`);
      for (let c = 0; c < dv; c++) {
        const x = out[h * dv + c]!;
        assert.ok(Math.abs(x - ref.row[c]!) <= 1e-5 * (1 + Math.abs(ref.row[c]!)), `${threads} threads n ${n} head ${h}: ${x} vs float64 ${ref.row[c]}`);
        assert.ok(Math.abs(x - one.output[h * dv + c]!) <= 1e-5 * (1 + Math.abs(x)), `${threads} threads n ${n} head ${h}: ${x} vs KVCache ${one.output[h * dv + c]}`);
      }
    }
  }

  /** The paper's threshold over all n keys of KV head g: μ + σ·√(0.4·ln n) (population moments, float64). */
  function paperT(q: Float32Array, k: Float32Array, h: number, n: number, g: number): number {
    void g;
    const s = logits(q, k, h, n);
    const mu = s.reduce((a, b) => a + b, 0) / n;
    const varc = s.reduce((a, b) => a + (b - mu) ** 2, 0) / n;
    return mu + Math.sqrt(varc) * Math.sqrt(0.4 * Math.log(n));
  }

  for (const threads of [1, 2, 3]) {
    it(`${threads} thread(s): fixed threshold on a key's own logit, above every key, and paper rows equal KVCache`, async () => {
      for (const n of [2, 400]) {
        // Head 0's 5th-largest logit: ties put its twin on the edge too.
        await check({ threshold: 0 }, n, 10 + threads, threads, (s) => [...s[0]!].sort((a, b) => b - a)[Math.min(4, n - 1)]!);
        await check({ threshold: 0 }, n, 20 + threads, threads, (s) => Math.max(...s.map((r) => Math.max(...r))) + 1);
        await check('paper', n, 30 + threads, threads);
      }
    });
  }

  it('keys beyond 2⁶⁴ (the quantized index\'s wide keys) are kept or dropped as KVCache keeps them', async () => {
    const n = 50, dim = 8, k = new Float32Array(n * kvHeads * dim).map((_, i) => Math.sin(i)), v = new Float32Array(n * kvHeads * dv).map((_, i) => i % 7);
    k[7 * kvHeads * dim] = -1e20; k[9 * kvHeads * dim] = 1e20; k[9 * kvHeads * dim + 1] = 3; k[(20 * kvHeads + 1) * dim + 2] = 1e20;
    const q = new Float32Array(heads * dim).map((_, i) => Math.cos(i) + 0.5);
    q[0] = 0; // head 0: key 9's wide coordinate meets a zero, so its logit is moderate
    for (const sparse of [{ threshold: 0.5 }, 'paper'] as const) {
      const pool = await DecodePool.create({ heads, kvHeads, headDim: dim, valueDim: dv, weighting: { ...w, scale: 0.25 }, threads: 2, minPositionsPerThread: 0, sparse });
      pools.push(pool);
      pool.append(k, v);
      const kv = new KVCache({ heads, kvHeads, headDim: dim, valueDim: dv, kind: 'softmax', scale: 0.25, sparsity: sparse });
      kv.append(k, v);
      const out = new Float32Array(heads * dv), one = kv.attend(q);
      pool.attend(q, out);
      assert.equal(pool.lastKeysUsed!.reduce((a, b) => a + b, 0), one.stats.keysUsed, JSON.stringify(sparse));
      for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - one.output[i]!) <= 1e-5 * (1 + Math.abs(out[i]!)), `${JSON.stringify(sparse)} element ${i}`);
    }
  });

  it('bad options give HsrError BAD_OPTION', async () => {
    const relu: Weighting = { kind: 'relu', scale: 0.2, bias: 0, alpha: 1 };
    const base = { heads, kvHeads, headDim: d, valueDim: dv, threads: 2 };
    for (const [weighting, sparse] of [[relu, 'paper'], [relu, { threshold: 1 }], [w, { threshold: Infinity }], [w, { threshold: NaN }],
      [w, { threshold: '1' }], [w, { threshold: 1, epsilon: 0.1 }], [w, 'Paper']] as const) {
      await assert.rejects(DecodePool.create({ ...base, weighting, sparse: sparse as never }), (e: { code?: string }) => e.code === 'BAD_OPTION', JSON.stringify(sparse));
    }
  });
});
