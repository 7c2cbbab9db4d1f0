/// <reference types="@webgpu/types" />
// The dense kernel's tuning options (denseLoads, denseStepKeys, denseLeanState, densePackedValues) against the
// float64 reference: each variant must give the default kernel's answer and keysUsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan, type DecodePlanOptions } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, upload, readBuffer } from './gpu-helpers.js';

type Tuning = Pick<DecodePlanOptions, 'denseLoads' | 'denseStepKeys' | 'denseLeanState' | 'densePackedValues' | 'denseMergeQuads' | 'densePairFold'>;
/**
 * Each variant in a shape or two (SwiftShader compiles a pipeline in seconds): [heads, kvHeads,
 * storage, paged, kind, tuning, d (default 64: 4 lanes a key on SwiftShader; 16: 2 lanes, so two
 * teams share SwiftShader's 4-lane subgroups, as the pair fold needs)]; together every variant
 * meets f16 and f32, both layouts, both weightings and GQA 1, 4 and 16.
 */
const CASES: [number, number, 'f16' | 'f32', boolean, 'softmax' | 'relu', Tuning, number?][] = [
  [8, 2, 'f16', true, 'relu', { densePairFold: true }, 16],
  [16, 1, 'f32', false, 'softmax', { densePairFold: true, denseLoads: 'pipelined', densePackedValues: true }, 16],
  [8, 2, 'f16', true, 'relu', { denseLoads: 'pipelined', densePackedValues: true }],
  [2, 2, 'f32', false, 'softmax', { denseLoads: 'pipelined', densePackedValues: true }],
  [16, 1, 'f16', false, 'softmax', { denseLoads: 'pipelined', denseStepKeys: 2 }],
  [8, 2, 'f32', true, 'relu', { denseLoads: 'batched', densePackedValues: true, denseLeanState: true, denseStepKeys: 8 }],
  [2, 2, 'f16', true, 'softmax', { denseLoads: 'batched' }],
  [2, 2, 'f16', false, 'relu', { denseLeanState: true, denseMergeQuads: 2 }],
  [16, 1, 'f32', true, 'softmax', { denseStepKeys: 1, denseMergeQuads: 8 }],
  [8, 2, 'f16', true, 'relu', { denseMergeQuads: 1 }],
  [8, 2, 'f16', false, 'softmax', { denseStepKeys: 8 }],
];

test('WebGpuDecodePlan dense tuning: pipelined and batched loads, packed values, lean state, keys a step — float64 answer and keysUsed; f16 and f32, contiguous and paged, GQA 1/4/16, huge scores, n = 0, 1, odd and several steps', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // d = 64 (4 lanes a key on SwiftShader: 64 rows a workgroup step at 4 keys a team; 4 target
  // workgroups: several steps a split, the last one partial). Every 7th key is 64× larger (scores
  // in the hundreds: softmax's running max jumps, ReLU^9 far past float32 unscaled); a zero key
  // and a duplicate pair (ties). The ReLU bias sits in a gap of the logits ≥ 1e-3 wide, so
  // float32 counts the keys of positive weight as float64 does.
  const n = 601, cap = 640, pageSize = 64, alpha = 9;
  const order = Array.from({ length: cap / pageSize }, (_, i) => (i * 3) % (cap / pageSize)); // a permutation of the 10 pages
  for (const [ci, [heads, kvHeads, storage, paged, kind, tuning, d = 64]] of CASES.entries()) {
    const r = rng(41 + ci), scale = 1 / Math.sqrt(d);
    const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 1.5).data;
    for (let j = 0; j < kvHeads * n; j += 7) for (let c = 0; c < d; c++) k[j * d + c]! *= 64;
    k.fill(0, d, 2 * d);
    for (let g = 0; g < kvHeads; g++) k.copyWithin((g * n + 9) * d, (g * n + 3) * d, (g * n + 4) * d);
    const storedK = asStored(k, storage), storedV = asStored(v, storage);
    const logit = (h: number, j: number) => {
      const g = Math.floor(h / (heads / kvHeads));
      let s = 0;
      for (let c = 0; c < d; c++) s += q[h * d + c]! * storedK[(g * n + j) * d + c]!;
      return s * scale;
    };
    let bias = 0;
    if (kind === 'relu') {
      const all = Array.from({ length: heads * n }, (_, i) => logit(Math.floor(i / n), i % n)).sort((x, y) => x - y);
      let at = Math.floor(0.8 * all.length);
      while (all[at + 1]! - all[at]! < 1e-3) at++;
      bias = (all[at]! + all[at + 1]!) / 2;
    }
    // Contiguous [kvHeads, cap, d] or a paged pool [pages, kvHeads, pageSize, d].
    const lay = (x: Float32Array) => {
      const out = new Float32Array(kvHeads * cap * d);
      for (let g = 0; g < kvHeads; g++) {
        for (let j = 0; j < n; j++) {
          const row = paged ? (order[Math.floor(j / pageSize)]! * kvHeads + g) * pageSize + (j % pageSize) : g * cap + j;
          out.set(x.subarray((g * n + j) * d, (g * n + j + 1) * d), row * d);
        }
      }
      return storage === 'f32' ? out : Uint16Array.from(out, (y) => numberToF16Bits(y));
    };
    const bufs = { queries: upload(device, q), keys: upload(device, lay(k)), values: upload(device, lay(v)),
      output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
      ...(paged ? { pageTable: upload(device, Uint32Array.from(order)) } : {}) };
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage, kind, alpha: kind === 'relu' ? alpha : 1, bias, maxLength: n,
      targetWorkgroups: 4, layout: paged ? { pageSize } : 'contiguous', ...tuning });
    for (const len of [0, 1, 77, n]) {
      const enc = device.createCommandEncoder();
      plan.encode(enc, bufs, len);
      device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(device, bufs.output, heads * d * 4));
      const stats: Uint32Array = new Uint32Array(await readBuffer(device, plan.stats, heads * 16));
      const label = `${heads}/${kvHeads} ${storage} paged=${paged} ${JSON.stringify(tuning)} ${kind} n = ${len}`;
      for (let h = 0; h < heads; h++) {
        const g = Math.floor(h / (heads / kvHeads));
        const ref = len === 0 ? new Float64Array(d) : referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, k: storedK.subarray(g * n * d, (g * n + len) * d), n: len,
          v: storedV.subarray(g * n * d, (g * n + len) * d), d, dv: d, kind, scale, alpha: kind === 'relu' ? alpha : 1, bias, causal: false });
        for (let c = 0; c < d; c++) assert.ok(Math.abs(got[h * d + c]! - ref[c]!) <= 1e-4 * (1 + Math.abs(ref[c]!)), `${label} head ${h}: ${got[h * d + c]} vs ${ref[c]}`);
        let used = len;
        if (kind === 'relu') { used = 0; for (let j = 0; j < len; j++) if (logit(h, j) > bias) used++; }
        assert.deepEqual([stats[4 * h], stats[4 * h + 1]], [len, used], `${label} head ${h}: keys scored, used`);
      }
    }
    plan.destroy();
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('WebGpuDecodePlan dense tuning: bad values and sparse rules → BAD_OPTION', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 2, headDim: 16, storage: 'f16', kind: 'softmax', maxLength: 8 } as const;
  for (const bad of [{ denseStepKeys: 3 }, { denseStepKeys: '4' }, { denseLeanState: 1 }, { denseLoads: 'ahead' }, { densePackedValues: 'yes' }, { densePackedValues: true }, { denseMergeQuads: 3 }]) {
    assert.throws(() => WebGpuDecodePlan.create(device, { ...base, ...bad } as unknown as DecodePlanOptions),
      (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /denseStepKeys/.test(e.message), JSON.stringify(bad));
  }
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', denseLoads: 'pipelined' }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /denseLoads/.test(e.message));
  // The pair fold needs two teams a subgroup: created where the device allows, else UNSUPPORTED.
  try {
    WebGpuDecodePlan.create(device, { ...base, headDim: 128, densePairFold: true }).destroy();
  } catch (e) {
    assert.ok(e instanceof HsrError && e.code === 'UNSUPPORTED' && /densePairFold/.test(e.message), String(e));
  }
  // Certified softmax takes them (its steps up to certifiedDenseMax run the dense kernel).
  WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, denseLoads: 'pipelined', densePackedValues: true }).destroy();
});
