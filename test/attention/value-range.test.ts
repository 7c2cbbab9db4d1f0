// Huge finite values: every backend sums Σ w·v in float32 (weights ≤ about 1) before dividing by
// Σ w, so keys·max|v| past float32's range gave Infinity where the output, a convex combination of
// the values, is finite. The boundary refuses keys·max|v| ≥ 2^127 (value-range.ts) with
// UNSUPPORTED; just under it every path matches the float64 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attention, attentionAsync, HsrError, KVCache, matrix, type AttentionOptions, type Matrix } from '../../src/index.js';
import { assertValueSumFits, VALUE_SUM_LIMIT } from '../../src/attention/value-range.js';
import { referenceAttention, referenceInput, relativeError, rng } from './fixtures.js';
import { gpuOrSkip } from '../webgpu/gpu-helpers.js';
import { DecodePool } from '../../src/node/worker-pool.js';

const BACKENDS = ['js', 'wasm'] as const;
/** Softmax dense and sparse (every selection rule), ReLU^α exact and dense: all share the weighted sum. */
const MODES: AttentionOptions[] = [
  { kind: 'softmax' }, { kind: 'softmax', sparsity: { epsilon: 0.01 } }, { kind: 'softmax', sparsity: { threshold: -10 } },
  { kind: 'softmax', sparsity: { topK: 2 } }, { kind: 'softmax', sparsity: 'paper' },
  { kind: 'relu' }, { kind: 'relu', sparsity: 'dense' }, { kind: 'relu', alpha: 3 },
];
const label = (o: object) => JSON.stringify(o);

/** The case found: two keys, both values 3e38 (the output is 3e38; the sums reached 6e38 = Infinity). */
const two = { q: matrix([1, 0, 0, 0], 1, 4), k: matrix([1, 0, 0, 0, 0, 1, 0, 0], 2, 4), v: matrix([3e38, 3e38, 3e38, -3e38], 2, 2) };

function refused(e: unknown, where: string): boolean {
  assert.ok(e instanceof HsrError && e.code === 'UNSUPPORTED', `${where}: got ${String(e)}`);
  // What was expected (the limit) and what came (the key count, the values' max).
  for (const part of ['2^127', '2 keys', `max|v| ${Math.fround(3e38)}`]) assert.ok(e.message.includes(part), `${where}: "${part}" in ${e.message}`);
  return true;
}

test('two keys with values 3e38: UNSUPPORTED on js and wasm (KVCache, attention, attentionAsync), every mode', async () => {
  for (const backend of BACKENDS) {
    for (const o of MODES) {
      const where = `${backend} ${label(o)}`;
      const cache = new KVCache({ heads: 1, kvHeads: 1, headDim: 4, valueDim: 2, backend, ...o });
      cache.append(two.k.data, two.v.data);
      assert.throws(() => cache.attend(two.q.data), (e) => refused(e, `KVCache ${where}`));
      await assert.rejects(cache.attendAsync(two.q.data), (e) => refused(e, `KVCache.attendAsync ${where}`));
      assert.throws(() => attention(two.q, two.k, two.v, { ...o, backend }), (e) => refused(e, `attention ${where}`));
      await assert.rejects(attentionAsync(two.q, two.k, two.v, { ...o, backend }), (e) => refused(e, `attentionAsync ${where}`));
    }
  }
});

/**
 * n keys whose values in column 0 all equal `vmax` (the sum reaches n·vmax with weights near 1:
 * keys close together), the other column mixed; queries see every key.
 */
function nearLimit(n: number, vmax: number, kind: 'softmax' | 'relu'): { q: Matrix; k: Matrix; v: Matrix } {
  const r = rng(7), d = 8, k = new Float32Array(n * d), v = new Float32Array(n * 2);
  for (let j = 0; j < n; j++) {
    k[j * d] = 1; // ReLU: positive scores for every key
    for (let c = 1; c < d; c++) k[j * d + c] = 0.1 * r.gauss();
    v[j * 2] = vmax; v[j * 2 + 1] = vmax * (r.uniform() * 2 - 1);
  }
  const q = new Float32Array(2 * d);
  q[0] = 1; q[d] = 2; q[d + 1] = kind === 'softmax' ? -1 : 0.5;
  return { q: matrix(q, 2, d), k: matrix(k, n, d), v: matrix(v, n, 2) };
}

/** Dense and exact ReLU rows are the reference's; the other selections keep a subset of the keys. */
const exact = (o: AttentionOptions) => o.sparsity === undefined ? o.kind === 'relu' : o.sparsity === 'dense' || o.sparsity === 'exact';

/**
 * Column 0 (every value vmax) is vmax whatever keys a row keeps: the column the overflow hit. Rows
 * of exact modes match the float64 reference; every output lies within the values' range.
 */
function matches(out: Float32Array, ref: Float64Array, exactMode: boolean, vmax: number): boolean {
  for (let i = 0; i < out.length; i++) if (!(Math.abs(out[i]!) <= vmax * (1 + 1e-6))) return false;
  for (let i = 0; i < out.length; i += 2) if (!(Math.abs(out[i]! / vmax - 1) <= 1e-6)) return false;
  return !exactMode || relativeError(out, ref) <= 1e-5;
}

test('keys·max|v| just under 2^127 matches float64 on js and wasm, every mode; at 2^127 refused', async () => {
  for (const n of [2, 16]) {
    const atLimit = VALUE_SUM_LIMIT / n; // a float32 (n a power of two)
    const under = Math.fround(atLimit * (1 - 2 ** -23)); // the float32 just below
    for (const backend of BACKENDS) {
      for (const o of MODES) {
        const where = `n ${n} ${backend} ${label(o)}`;
        const p = nearLimit(n, under, o.kind);
        const ref = referenceAttention(referenceInput(p, o.kind, { alpha: o.alpha }));
        const cache = new KVCache({ heads: 2, kvHeads: 1, headDim: 8, valueDim: 2, backend, ...o });
        cache.append(p.k.data, p.v.data);
        for (const [path, out] of [['attention', attention(p.q, p.k, p.v, { ...o, backend }).output.data], ['KVCache', cache.attend(p.q.data).output]] as const) {
          assert.ok(matches(out, ref, exact(o), under), `${path} ${where}: output ${out}, reference ${ref}`);
        }
        // One more key at the same max: keys·max|v| = (n + 1)·under ≥ 2^127.
        cache.append(p.k.data.subarray(0, 8), p.v.data.subarray(0, 2));
        assert.throws(() => cache.attend(p.q.data), { code: 'UNSUPPORTED' }, where);
      }
      const p = nearLimit(n, atLimit, 'softmax');
      assert.throws(() => attention(p.q, p.k, p.v, { kind: 'softmax', backend }), { code: 'UNSUPPORTED' }, `n·max|v| = 2^127, ${backend}`);
    }
  }
});

test('DecodePool (dense softmax on worker threads): two values 3e38 refused; just under 2^127 matches float64', async () => {
  for (const threads of [1, 2]) {
    const open = (headDim: number) => DecodePool.create({ heads: 2, kvHeads: 1, headDim, valueDim: 2, threads, minPositionsPerThread: 0,
      weighting: { kind: 'softmax', scale: 1 / Math.sqrt(headDim), bias: 0, alpha: 1 } });
    const pool = await open(4), out = new Float32Array(4);
    pool.append(two.k.data, two.v.data);
    assert.throws(() => pool.attend(new Float32Array([...two.q.data, ...two.q.data]), out), (e) => refused(e, `DecodePool threads ${threads}`));
    await pool.close();
    const n = 16, vmax = Math.fround(VALUE_SUM_LIMIT / n * (1 - 2 ** -23)), p = nearLimit(n, vmax, 'softmax');
    const near = await open(8);
    near.append(p.k.data, p.v.data);
    near.attend(p.q.data, out);
    await near.close();
    assert.ok(matches(out, referenceAttention(referenceInput(p, 'softmax')), true, vmax), `DecodePool threads ${threads}: output ${out}`);
  }
});

test('DecodePool ReLU: its kernels weigh by t^α (≤ 2^64) before dividing, so the bound counts the weights', async () => {
  const kn = 2 ** 20, n = 4, k = new Float32Array(n * 4), q = new Float32Array([1, 0, 0, 0, 0.5, 0, 0, 0]);
  for (let j = 0; j < n; j++) { k[j * 4] = kn; k[j * 4 + 1] = j; }
  const vmax = Math.fround(VALUE_SUM_LIMIT / (n * kn) * 0.99); // weights t ≈ 2^20 and 2^19 (scale 1)
  for (const threads of [1, 2]) {
    const open = () => DecodePool.create({ heads: 2, kvHeads: 1, headDim: 4, valueDim: 1, threads, minPositionsPerThread: 0,
      weighting: { kind: 'relu', scale: 1, bias: 0, alpha: 1 } });
    const under = await open(), out = new Float32Array(2);
    under.append(k, new Float32Array(n).fill(vmax));
    under.attend(q, out);
    await under.close();
    assert.ok(Math.abs(out[0]! / vmax - 1) <= 1e-6 && Math.abs(out[1]! / vmax - 1) <= 1e-6, `threads ${threads}: output ${out}, want ${vmax}`);
    // Values 1e33 (fine for softmax) with scores 2^20: the sum before the division would be 4·2^20·1e33 = Infinity.
    const over = await open();
    over.append(k, new Float32Array(n).fill(1e33));
    assert.throws(() => over.attend(q, out), (e) => e instanceof HsrError && e.code === 'UNSUPPORTED' && e.message.includes('ReLU^α weights up to'), `threads ${threads}`);
    await over.close();
  }
});

test('ordinary values pass: |v| ≤ 1e30 with up to 1e8 keys; a cache of 1e30 values answers', () => {
  assert.doesNotThrow(() => assertValueSumFits(1e8, 1e30, 'test'));
  assert.doesNotThrow(() => assertValueSumFits(0, 3.4e38, 'test')); // an empty cache sums nothing
  const p = nearLimit(4, 1e30, 'softmax');
  const cache = new KVCache({ heads: 2, kvHeads: 1, headDim: 8, valueDim: 2, kind: 'softmax' });
  cache.append(p.k.data, p.v.data);
  const ref = referenceAttention(referenceInput(p, 'softmax'));
  assert.ok(relativeError(cache.attend(p.q.data).output, ref) <= 1e-5);
});

test('NaN and Infinity in values are still NON_FINITE (checked before the range)', () => {
  for (const bad of [NaN, Infinity]) {
    const cache = new KVCache({ heads: 1, kvHeads: 1, headDim: 4, valueDim: 2, kind: 'softmax' });
    assert.throws(() => cache.append(two.k.data, new Float32Array([1, bad, 1, 1])), { code: 'NON_FINITE' });
    assert.throws(() => attention(two.q, two.k, { data: new Float32Array([1, bad, 1, 1]), rows: 2, cols: 2 }, { kind: 'softmax' }), { code: 'NON_FINITE' });
  }
});

test("'webgpu': two values 3e38 refused (KVCache, attentionAsync); just under 2^127 matches float64", async (t) => {
  if (!(await gpuOrSkip(t))) return;
  for (const o of [{ kind: 'softmax' }, { kind: 'relu', sparsity: 'dense' }] as AttentionOptions[]) {
    const where = `webgpu ${label(o)}`;
    const cache = await KVCache.create({ heads: 1, kvHeads: 1, headDim: 4, valueDim: 2, backend: 'webgpu', ...o });
    cache.append(two.k.data, two.v.data);
    await assert.rejects(cache.attendAsync(two.q.data), (e) => refused(e, `KVCache ${where}`));
    cache.destroy();
    await assert.rejects(attentionAsync(two.q, two.k, two.v, { ...o, backend: 'webgpu' }), (e) => refused(e, `attentionAsync ${where}`));
    const n = 16, vmax = Math.fround(VALUE_SUM_LIMIT / n * (1 - 2 ** -23)), p = nearLimit(n, vmax, o.kind);
    const ref = referenceAttention(referenceInput(p, o.kind));
    const gpu = await KVCache.create({ heads: 2, kvHeads: 1, headDim: 8, valueDim: 2, backend: 'webgpu', ...o });
    gpu.append(p.k.data, p.v.data);
    const out = (await gpu.attendAsync(p.q.data)).output;
    assert.ok(matches(out, ref, true, vmax), `KVCache ${where}: output ${out}, reference ${ref}`);
    gpu.destroy();
    const one = (await attentionAsync(p.q, p.k, p.v, { ...o, backend: 'webgpu' })).output.data;
    assert.ok(matches(one, ref, true, vmax), `attentionAsync ${where}: output ${one}, reference ${ref}`);
  }
});
