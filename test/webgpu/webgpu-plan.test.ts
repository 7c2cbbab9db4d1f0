/// <reference types="@webgpu/types" />
// WebGpuDecodePlan over caller-owned GPU buffers (contiguous and paged, f32 and f16) against the
// float64 reference; nothing but the test reads anything back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, upload } from './gpu-helpers.js';
import { biasInGap, checkDenseStep, logitOf } from './dense-check.js';

test('WebGpuDecodePlan: dense softmax and ReLU² into the caller\'s encoder, contiguous and paged K/V, f32 and f16', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const heads = 4, kvHeads = 2, d = 16, dv = 8, n = 300, cap = 320, pageSize = 64, pages = Math.ceil(n / pageSize);
  const r = rng(5);
  const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 1.5).data; // k: [kvHeads, n, d]
  const order = [3, 0, 4, 1, 2]; // logical page p lives at pool page order[p]
  for (const storage of ['f32', 'f16'] as const) {
    const stored = (x: Float32Array) => asStored(x, storage);
    const asGpu = (x: Float32Array) => (storage === 'f32' ? x : Uint16Array.from(x, (y) => numberToF16Bits(y)));
    // Contiguous [kvHeads, cap, dim] and paged [pages, kvHeads, pageSize, dim] copies of the same rows.
    const lay = (x: Float32Array, dim: number, paged: boolean) => {
      const out = new Float32Array(paged ? pages * kvHeads * pageSize * dim : kvHeads * cap * dim);
      for (let g = 0; g < kvHeads; g++) {
        for (let j = 0; j < n; j++) {
          const row = paged ? (order[Math.floor(j / pageSize)]! * kvHeads + g) * pageSize + (j % pageSize) : g * cap + j;
          out.set(x.subarray((g * n + j) * dim, (g * n + j + 1) * dim), row * dim);
        }
      }
      return asGpu(out);
    };
    for (const [kind, alpha, bias] of [['softmax', 1, 0], ['relu', 2, 0.1]] as const) {
      for (const paged of [false, true]) {
        const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind, alpha, bias, maxLength: 512,
          layout: paged ? { pageSize } : 'contiguous', targetWorkgroups: 2 });
        const output = device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
        const bufs = { queries: upload(device, q), keys: upload(device, lay(k, d, paged)), values: upload(device, lay(v, dv, paged)), output,
          ...(paged ? { pageTable: upload(device, Uint32Array.from(order)) } : {}) };
        await checkDenseStep(device, plan, bufs, { heads, kvHeads, d, dv, n, q, k: stored(k), v: stored(v), kind, scale: 1 / Math.sqrt(d), alpha, bias }, n,
          { tol: 3e-5, label: `${storage} ${kind} paged=${paged}`, counts: false });
        plan.destroy();
        for (const b of Object.values(bufs)) b.destroy();
      }
    }
  }
  assert.throws(() => WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: 12, storage: 'f16', kind: 'softmax', maxLength: 8 }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
});

test('WebGpuDecodePlan: lanes sharing a key (subgroups), several key-loop steps a split, one and many splits', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // d = 64: D/8 = 8 allows 4 lanes a key on SwiftShader (subgroups of 4), 8+ on GPUs; 1100 keys
  // are several steps of the key loop (256 keys a step with 4 lanes) and end mid-step.
  const heads = 8, kvHeads = 2, d = 64, n = 1100;
  const r = rng(9);
  const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 1.5).data;
  for (const storage of ['f32', 'f16'] as const) {
    const half = (x: Float32Array) => Uint16Array.from(x, (y) => numberToF16Bits(y));
    const stored = (x: Float32Array) => asStored(x, storage);
    const bufs = { queries: upload(device, q), keys: upload(device, storage === 'f32' ? k : half(k)), values: upload(device, storage === 'f32' ? v : half(v)),
      output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    for (const targetWorkgroups of [2, 40]) {
      const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage, kind: 'softmax', maxLength: n, targetWorkgroups });
      await checkDenseStep(device, plan, bufs, { heads, kvHeads, d, dv: d, n, q, k: stored(k), v: stored(v), kind: 'softmax', scale: 1 / Math.sqrt(d), alpha: 1, bias: 0 }, n,
        { tol: 3e-5, label: `${storage} targets ${targetWorkgroups}`, counts: false });
      plan.destroy();
    }
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('WebGpuDecodePlan: dense ReLU^α — outputs and keys of positive weight (counted in the splits\' states, summed by the merge) over many splits, the largest t rising key after key', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // d = 64 (4 lanes a key on SwiftShader), 1100 keys: several key-loop steps a split, ending
  // mid-step. Keys scaled up along the positions, so each team's largest t rises step after step
  // (the state rescaled again and again), and a bias in a gap of the logits ≥ 1e-3 wide, so the
  // float32 scores count the keys of positive weight as float64 does.
  const heads = 8, kvHeads = 2, d = 64, n = 1100, scale = 1 / Math.sqrt(d);
  const r = rng(13);
  const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 1.5).data;
  for (let g = 0; g < kvHeads; g++) for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) k[(g * n + j) * d + c]! *= 0.2 + j / n;
  const problem = { heads, kvHeads, d, dv: d, n, q, k: asStored(k, 'f16'), v: asStored(v, 'f16'), kind: 'relu', scale } as const;
  const bias = biasInGap(problem, 0.7);
  const half = (x: Float32Array) => Uint16Array.from(x, (y) => numberToF16Bits(y));
  const bufs = { queries: upload(device, q), keys: upload(device, half(k)), values: upload(device, half(v)),
    output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  for (const [alpha, targetWorkgroups] of [[1, 2], [2, 40], [9, 40]] as const) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f16', kind: 'relu', alpha, bias, maxLength: n, targetWorkgroups });
    const enc = device.createCommandEncoder();
    plan.encode(enc, bufs, n);
    device.queue.submit([enc.finish()]);
    // The second step: nothing left from the first.
    await checkDenseStep(device, plan, bufs, { ...problem, alpha, bias }, n, { tol: 3e-5, label: `α = ${alpha}, ${targetWorkgroups} workgroups`, counts: true });
    plan.destroy();
  }
  for (const b of Object.values(bufs)) b.destroy();
});

test('WebGpuDecodePlan: dense heads of a KV group over several workgroups (16 a group: two of 8), GQA 1 and 4, d = 64 and 128, n = 0, 1 and several splits', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(21), n = 1100, scale = (d: number) => 1 / Math.sqrt(d);
  for (const [heads, kvHeads, d] of [[32, 2, 64], [2, 2, 128], [8, 2, 128]] as const) {
    const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 1.5).data;
    k.fill(0, 0, d); // a zero key first: score 0, below the ReLU bias
    k.set(k.subarray(2 * d, 3 * d), d); // a duplicate: keys 1 and 2 tie
    const half = (x: Float32Array) => Uint16Array.from(x, (y) => numberToF16Bits(y));
    const bufs = { queries: upload(device, q), keys: upload(device, half(k)), values: upload(device, half(v)),
      output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    for (const [kind, alpha, bias] of [['softmax', 1, 0], ['relu', 2, 0.3]] as const) {
      const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f16', kind, alpha, bias, maxLength: n, targetWorkgroups: 40 });
      const problem = { heads, kvHeads, d, dv: d, n, q, k: asStored(k, 'f16'), v: asStored(v, 'f16'), kind, scale: scale(d), alpha, bias };
      for (const len of [0, 1, n]) await checkDenseStep(device, plan, bufs, problem, len, { tol: 3e-5, label: `${heads}/${kvHeads} d = ${d} ${kind} n = ${len}`, counts: false });
      plan.destroy();
    }
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('WebGpuDecodePlan: dense ReLU^α, usedCount \'lanes\' and \'workgroup\' — huge scores at α = 64, ties at the bias, a zero key, n = 0, 1 and several splits, GQA 1, 4 and 16; keysUsed = float64\'s count', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // Integer components (exact in f16) and d = 64 (scale 1/8): every score is exact in float32,
  // so ties at the bias are ties on the GPU too (t = 0: weight 0, not counted). Every 7th key is
  // 256× larger: scores in the thousands, whose t^64 no float holds unscaled.
  const d = 64, n = 700, scale = 1 / 8, r = rng(31);
  const ints = (rows: number, span: number) => Float32Array.from({ length: rows * d }, () => Math.floor(r.uniform() * (2 * span + 1)) - span);
  for (const [heads, kvHeads, alphas] of [[2, 2, [64]], [8, 2, [1, 64]], [16, 1, [64]]] as const) {
    const k = ints(kvHeads * n, 3), v = gaussian(r, kvHeads * n, d).data, q = ints(heads, 3);
    for (let j = 0; j < kvHeads * n; j += 7) for (let c = 0; c < d; c++) k[j * d + c]! *= 256;
    k.fill(0, 0, d); // a zero key: score 0
    for (let g = 0; g < kvHeads; g++) for (const j of [300, 301, 577]) k.copyWithin((g * n + j) * d, (g * n + 5) * d, (g * n + 6) * d); // key 5 four times
    const problem = { heads, kvHeads, d, dv: d, n, q, k, v: asStored(v, 'f16'), kind: 'relu', scale } as const; // k: exact in f16
    // The bias at head 0's score of key 5 (ties four keys of the group's first head at t = 0).
    const bias = logitOf(problem, 0, 5);
    const half = (x: Float32Array) => Uint16Array.from(x, (y) => numberToF16Bits(y));
    const bufs = { queries: upload(device, q), keys: upload(device, half(k)), values: upload(device, half(v)),
      output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    for (const usedCount of ['lanes', 'workgroup'] as const) {
      for (const alpha of alphas) {
        const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f16', kind: 'relu', alpha, bias, maxLength: n, targetWorkgroups: 40, usedCount });
        for (const len of [0, 1, n]) {
          await checkDenseStep(device, plan, bufs, { ...problem, alpha, bias }, len, { tol: 1e-4, label: `${heads}/${kvHeads} ${usedCount} α = ${alpha} n = ${len}`, counts: true });
        }
        plan.destroy();
      }
    }
    for (const b of Object.values(bufs)) b.destroy();
  }
  for (const bad of ['lane', 1]) {
    assert.throws(() => WebGpuDecodePlan.create(device, { heads: 2, kvHeads: 2, headDim: d, storage: 'f16', kind: 'relu', maxLength: 8, usedCount: bad as 'lanes' }),
      (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /usedCount/.test(e.message));
  }
  // (exact sparse ReLU's fused pass takes it too: webgpu-fused.test.ts; the split path does not)
  for (const [kind, sparsity, sparsePass] of [['softmax', 'dense', undefined], ['relu', 'exact', 'split']] as const) {
    assert.throws(() => WebGpuDecodePlan.create(device, { heads: 2, kvHeads: 2, headDim: d, storage: 'f16', kind, sparsity, sparsePass, maxLength: 8, usedCount: 'workgroup' }),
      (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /usedCount/.test(e.message));
  }
});

test('WebGpuDecodePlan.encode: buffers short of the plan\'s shape (values, queries, output, a page table) are BAD_OPTION, before anything is recorded', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const heads = 4, kvHeads = 2, d = 16, dv = 8, cap = 64, n = 40, pageSize = 16;
  const buffer = (bytes: number) => device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const refused = (what: RegExp) => (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && what.test(e.message);
  const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f16', kind: 'softmax', maxLength: cap });
  const good = { queries: buffer(heads * d * 4), keys: buffer(kvHeads * cap * d * 2), values: buffer(kvHeads * cap * dv * 2), output: buffer(heads * dv * 4) };
  const step = (b: typeof good) => {
    const enc = device.createCommandEncoder();
    plan.encode(enc, b, n);
    return enc.finish();
  };
  step(good);
  // V one row short of the keys' capacity: its rows would be found at the keys' stride.
  assert.throws(() => step({ ...good, values: buffer(kvHeads * cap * dv * 2 - 16) }), refused(/values of at least 2048 bytes \(64 rows per KV head, as keys\), got 2032/));
  assert.throws(() => step({ ...good, queries: buffer(heads * d * 4 - 4) }), refused(/queries of at least 256 bytes/));
  assert.throws(() => step({ ...good, output: buffer(heads * dv * 4 - 4) }), refused(/output of at least 128 bytes/));
  // Paged: a page table of 2 pages for 40 positions (3 pages of 16), in encode and in encodeQuantize.
  const paged = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f16', kind: 'relu', sparsity: 'exact', maxLength: cap, layout: { pageSize } });
  const pool = { ...good, pageTable: buffer(8) };
  assert.throws(() => paged.encode(device.createCommandEncoder(), pool, n), refused(/pageTable of 3 page numbers \(40 positions\), got 8 bytes/));
  assert.throws(() => paged.encodeQuantize(device.createCommandEncoder(), pool, 0, n), refused(/encodeQuantize: expected a pageTable of 3 page numbers/));
  paged.encode(device.createCommandEncoder(), { ...pool, pageTable: buffer(12) }, n);
  for (const p of [plan, paged]) p.destroy();
});
