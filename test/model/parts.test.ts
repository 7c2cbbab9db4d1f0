import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { referenceAttention } from '../../src/attention/reference.js';
import { HsrError } from '../../src/errors.js';
import { createKernels } from '../../src/kernels/index.js';
import { FlashAttention, PageTopKAttention, selectTopPages, SinkWindowAttention } from '../../src/model/baselines.js';
import { attentionFactory } from '../../src/model/attention-mode.js';
import { parseModelConfig } from '../../src/model/config.js';
import type { AttentionShape, LayerAttention } from '../../src/model/layer-attention.js';
import { matmul, WeightProducts } from '../../src/model/matmul.js';
import { negLogLikelihood, rmsNorm } from '../../src/model/ops.js';
import { RopeTable } from '../../src/model/rope.js';
import { Sampler } from '../../src/model/sampler.js';
import { ByteDecoder, encodeBytes } from '../../src/model/tokenizer.js';

const isCode = (code: string) => (e: unknown) => e instanceof HsrError && e.code === code;

function rng(seed: number): () => number {
  const s = new Sampler(1, { seed });
  return () => s.random() * 2 - 1;
}

test('matmul(x, m, W) = x·Wᵀ (float64 loop) for every tile remainder; WeightProducts agrees on js and wasm', () => {
  const r = rng(1);
  const wasm = new WeightProducts(createKernels()), js = new WeightProducts(createKernels({ backend: 'js' }));
  for (const [m, outDim, inDim] of [[1, 1, 1], [3, 5, 7], [4, 4, 8], [9, 13, 33], [32, 64, 384]] as const) {
    const x = Float32Array.from({ length: m * inDim }, r), w = Float32Array.from({ length: outDim * inDim }, r);
    const y = new Float32Array(m * outDim);
    matmul(x, m, w, outDim, inDim, y);
    wasm.prepare(w);
    const y2 = new Float32Array(m * outDim), y3 = new Float32Array(m * outDim);
    wasm.run(x, m, w, outDim, inDim, y2);
    js.run(x, m, w, outDim, inDim, y3);
    for (let i = 0; i < m; i++) for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let k = 0; k < inDim; k++) s += x[i * inDim + k]! * w[o * inDim + k]!;
      const tol = 1e-6 * (1 + Math.sqrt(inDim));
      assert.ok(Math.abs(y[i * outDim + o]! - s) < tol);
      assert.ok(Math.abs(y2[i * outDim + o]! - s) < tol);
      assert.equal(y3[i * outDim + o], y[i * outDim + o]);
    }
  }
});

test('RoPE rotates each (i, i + d/2) pair by pos·θ^(−2i/d): norms kept, ⟨rope(q,p), rope(k,p′)⟩ depends on p − p′ only', () => {
  const d = 8, rope = new RopeTable(d, 64, { theta: 10000, scaling: { type: 'default' } }), r = rng(2);
  const q = Float32Array.from({ length: d }, r), k = Float32Array.from({ length: d }, r);
  const rot = (v: Float32Array, p: number) => { const x = v.slice(); rope.apply(x, 0, 1, p); return x; };
  const x = rot(q, 5);
  for (let i = 0; i < d / 2; i++) {
    const a = 5 * 10000 ** (-2 * i / d);
    assert.ok(Math.abs(x[i]! - (q[i]! * Math.cos(a) - q[i + d / 2]! * Math.sin(a))) < 1e-5);
    assert.ok(Math.abs(x[i + d / 2]! - (q[i + d / 2]! * Math.cos(a) + q[i]! * Math.sin(a))) < 1e-5);
  }
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
  assert.ok(Math.abs(dot(rot(q, 10), rot(k, 3)) - dot(rot(q, 27), rot(k, 20))) < 1e-4);
  assert.ok(Math.abs(dot(x, x) - dot(q, q)) < 1e-5);
});

test('rmsNorm and negLogLikelihood match their definitions', () => {
  const x = new Float32Array([1, -2, 3, 0, 0.5, 0.5]), w = new Float32Array([1, 2, 0.5]), out = new Float32Array(6);
  rmsNorm(x, w, 2, 3, 1e-5, out);
  const inv0 = 1 / Math.sqrt((1 + 4 + 9) / 3 + 1e-5);
  assert.ok(Math.abs(out[1]! - 2 * -2 * inv0) < 1e-6);
  const logits = new Float32Array([0, 1000, 1001, 999]);
  const p = 1 / (Math.exp(-1000) + 1 + Math.E + 1 / Math.E);     // softmax(logits)[1], with e^1000 divided out
  assert.ok(Math.abs(negLogLikelihood(logits, 0, 4, 1) + Math.log(p)) < 1e-9);
});

test('sampler: greedy is argmax; top-p samples only the nucleus; the same seed gives the same stream', () => {
  const logits = new Float32Array([0.1, 3, -1, 2.9, 0]);
  assert.equal(new Sampler(5).sample(logits), 1);
  const s = new Sampler(5, { temperature: 1, topP: 0.5, seed: 3 });
  for (let i = 0; i < 200; i++) assert.ok([1, 3].includes(s.sample(logits)));
  const counts = new Array(5).fill(0), t = new Sampler(5, { temperature: 1, seed: 4 });
  for (let i = 0; i < 20000; i++) counts[t.sample(logits)]++;
  const z = [...logits].reduce((a, l) => a + Math.exp(l), 0);
  counts.forEach((c, j) => assert.ok(Math.abs(c / 20000 - Math.exp(logits[j]!) / z) < 0.015));
  const a = new Sampler(5, { temperature: 0.7, seed: 9 }), b = new Sampler(5, { temperature: 0.7, seed: 9 });
  for (let i = 0; i < 50; i++) assert.equal(a.sample(logits), b.sample(logits));
  assert.throws(() => new Sampler(5, { topP: 0 }), isCode('BAD_OPTION'));
  assert.throws(() => new Sampler(5, { temperature: -1 }), isCode('BAD_OPTION'));
});

test('byte tokenizer: UTF-8 bytes in, complete characters out of the streaming decoder', () => {
  const bytes = encodeBytes('añ€😀');
  assert.equal(bytes.length, 1 + 2 + 3 + 4);
  const dec = new ByteDecoder();
  const pieces = [...bytes].map((b) => dec.push(b));
  assert.deepEqual(pieces.filter((p) => p !== ''), ['a', 'ñ', '€', '😀']);
  assert.equal(dec.push(0xe2) + dec.flush(), '\ufffd');
});

test('config: HF fields, the attention kind (softmax when absent), and clear errors', () => {
  const base = { vocab_size: 256, hidden_size: 384, intermediate_size: 1024, num_hidden_layers: 6, num_attention_heads: 6,
    num_key_value_heads: 2, head_dim: 64, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000 };
  const c = parseModelConfig(base);
  assert.deepEqual(c.attention, { kind: 'softmax' });
  assert.equal(c.kvHeads, 2);
  assert.deepEqual(c.rope, { theta: 100000, scaling: { type: 'default' } });
  assert.deepEqual(parseModelConfig({ ...base, attention_kind: 'relu', relu_alpha: 2, relu_bias: 1 }).attention, { kind: 'relu', alpha: 2, bias: 1 });
  assert.equal(parseModelConfig({ ...base, head_dim: undefined }).headDim, 64);
  assert.throws(() => parseModelConfig({ ...base, num_key_value_heads: 4 }), isCode('MALFORMED_FILE'));
  assert.throws(() => parseModelConfig({ ...base, attention_kind: 'linear' }), isCode('UNSUPPORTED'));
  assert.throws(() => parseModelConfig({ ...base, rope_scaling: { rope_type: 'yarn' } }), isCode('UNSUPPORTED'));
  assert.throws(() => parseModelConfig({ ...base, hidden_size: -1 }), isCode('MALFORMED_FILE'));
});

test('attentionFactory refuses a mode the model\'s weighting does not have, before any layer is built', () => {
  const base = { vocab_size: 256, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 2,
    num_key_value_heads: 1, head_dim: 32, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000 };
  const relu = parseModelConfig({ ...base, attention_kind: 'relu', relu_alpha: 2, relu_bias: 1 }), softmax = parseModelConfig(base);
  for (const mode of [{ kind: 'certified', epsilon: 0.01 }, { kind: 'topk', topK: 4 }, { kind: 'threshold', threshold: 1 }, { kind: 'paper' }] as const) {
    assert.throws(() => attentionFactory(mode, relu, 16), isCode('BAD_OPTION'), mode.kind);
    assert.equal(typeof attentionFactory(mode, softmax, 16), 'function');
  }
  assert.throws(() => attentionFactory({ kind: 'sparse' }, softmax, 16), isCode('BAD_OPTION'));
  assert.equal(typeof attentionFactory({ kind: 'sparse' }, relu, 16), 'function');
});

/** Runs a layer attention over n random positions; returns each step's output for query head `h`. */
function runSteps(att: LayerAttention, shape: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, n: number): Float32Array {
  const { heads, kvHeads, headDim: d } = shape;
  const out = new Float32Array(n * heads * d), o = new Float32Array(heads * d);
  for (let p = 0; p < n; p++) {
    att.step(q.subarray(p * heads * d, (p + 1) * heads * d), k.subarray(p * kvHeads * d, (p + 1) * kvHeads * d), v.subarray(p * kvHeads * d, (p + 1) * kvHeads * d), o);
    out.set(o, p * heads * d);
  }
  return out;
}

/** Float64 reference for query head h at position p over the chosen key positions. */
function referenceOver(shape: AttentionShape, q: Float32Array, k: Float32Array, v: Float32Array, p: number, h: number, positions: number[]): Float64Array {
  const { heads, kvHeads, headDim: d } = shape, g = Math.floor(h / (heads / kvHeads));
  const pick = (a: Float32Array) => Float32Array.from(positions.flatMap((j) => [...a.subarray((j * kvHeads + g) * d, (j * kvHeads + g + 1) * d)]));
  return referenceAttention({ q: q.subarray((p * heads + h) * d, (p * heads + h + 1) * d), m: 1, k: pick(k), n: positions.length, v: pick(v), d, dv: d,
    kind: shape.kind, scale: shape.scale, alpha: shape.alpha, bias: shape.bias, causal: false });
}

test('sink+window (and flash = every position) attend exactly to their positions, on js and wasm kernels (float64 reference)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom<'softmax' | 'relu'>('softmax', 'relu'),
    fc.constantFrom<'js' | 'wasm'>('js', 'wasm'), fc.boolean(), fc.integer(),
    (n, sinks, window, kind, backend, flash, seed) => {
      const shape: AttentionShape = { heads: 4, kvHeads: 2, headDim: 8, capacity: n, kind, alpha: 2, bias: 0.1, scale: 0.5 };
      const r = rng(seed);
      const q = Float32Array.from({ length: n * 4 * 8 }, r), k = Float32Array.from({ length: n * 2 * 8 }, r), v = Float32Array.from({ length: n * 2 * 8 }, r);
      const kernels = createKernels({ backend });
      const att = flash ? new FlashAttention(shape, kernels) : new SinkWindowAttention(shape, kernels, sinks, window);
      const out = runSteps(att, shape, q, k, v, n);
      for (let p = 0; p < n; p++) for (let h = 0; h < 4; h++) {
        const positions = [...Array(p + 1).keys()].filter((j) => flash || j < sinks || j > p - window);
        const ref = referenceOver(shape, q, k, v, p, h, positions);
        for (let c = 0; c < 8; c++) assert.ok(Math.abs(out[(p * 4 + h) * 8 + c]! - ref[c]!) < 1e-5);
      }
    }), { numRuns: 60 });
});

test('page top-k: the page bound is ≥ every score in the page, and the chosen pages are the top-bound ones', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (n, pagesKept, seed) => {
    const size = 4, shape: AttentionShape = { heads: 2, kvHeads: 1, headDim: 8, capacity: n, kind: 'softmax', alpha: 1, bias: 0, scale: 0.4 };
    const r = rng(seed);
    const q = Float32Array.from({ length: n * 2 * 8 }, r), k = Float32Array.from({ length: n * 8 }, r), v = Float32Array.from({ length: n * 8 }, r);
    const out = runSteps(new PageTopKAttention(shape, createKernels({ backend: 'js' }), size, pagesKept * size), shape, q, k, v, n);
    for (let p = 0; p < n; p++) for (let h = 0; h < 2; h++) {
      const qh = q.subarray((p * 2 + h) * 8, (p * 2 + h + 1) * 8);
      const pages = Math.ceil((p + 1) / size), current = pages - 1;
      const bound = (pg: number) => {
        let s = 0;
        for (let c = 0; c < 8; c++) {
          let lo = Infinity, hi = -Infinity;
          for (let j = pg * size; j < (pg + 1) * size; j++) { lo = Math.min(lo, k[j * 8 + c]!); hi = Math.max(hi, k[j * 8 + c]!); }
          s += Math.max(qh[c]! * lo, qh[c]! * hi);
        }
        return s;
      };
      for (let pg = 0; pg < current; pg++) for (let j = pg * size; j < (pg + 1) * size; j++) {
        assert.ok(qh.reduce((s, x, c) => s + x * k[j * 8 + c]!, 0) <= bound(pg) + 1e-5);
      }
      const chosen = pages <= pagesKept ? [...Array(pages).keys()]
        : [...[...Array(current).keys()].sort((a, b) => bound(b) - bound(a)).slice(0, pagesKept - 1), current];
      const positions = chosen.flatMap((pg) => [...Array(size).keys()].map((i) => pg * size + i)).filter((j) => j <= p).sort((a, b) => a - b);
      const ref = referenceOver(shape, q, k, v, p, h, positions);
      for (let c = 0; c < 8; c++) assert.ok(Math.abs(out[(p * 2 + h) * 8 + c]! - ref[c]!) < 1e-4, `p=${p} h=${h}`);
    }
  }), { numRuns: 40 });
});

test('selectTopPages moves exactly the k largest keys to the front', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 60 }), fc.nat(), (vals, kk) => {
    const n = vals.length, k = kk % (n + 1);
    const key = Float32Array.from(vals), ids = Uint32Array.from(vals.keys());
    selectTopPages(ids, n, k, key);
    assert.deepEqual([...ids].sort((a, b) => a - b), [...vals.keys()]);
    const front = [...ids.subarray(0, k)].map((i) => key[i]!), back = [...ids.subarray(k)].map((i) => key[i]!);
    if (k > 0 && k < n) assert.ok(Math.min(...front) >= Math.max(...back));
  }), { numRuns: 500 });
});
