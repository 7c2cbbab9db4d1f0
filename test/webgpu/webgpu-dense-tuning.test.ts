/// <reference types="@webgpu/types" />
// The dense kernel's pair fold (densePairFold: team pairs folded by subgroup shuffles before the
// rounds through workgroup memory) against the float64 reference: the default kernel's answer and keysUsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, upload } from './gpu-helpers.js';
import { biasInGap, checkDenseStep } from './dense-check.js';

/**
 * [heads, kvHeads, storage, paged, kind] at d = 16: 2 lanes a key on SwiftShader, so the two teams
 * of a pair share its 4-lane subgroups, as the pair fold needs; f16 and f32, both layouts, both
 * weightings, GQA 1, 4 and 16.
 */
const CASES: [number, number, 'f16' | 'f32', boolean, 'softmax' | 'relu'][] = [
  [8, 2, 'f16', true, 'relu'],
  [16, 1, 'f32', false, 'softmax'],
  [2, 2, 'f16', false, 'softmax'],
  [8, 2, 'f32', true, 'softmax'],
];

test('WebGpuDecodePlan densePairFold: float64 answer and keysUsed; f16 and f32, contiguous and paged, GQA 1/4/16, huge scores, n = 0, 1, odd and several steps', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // d = 16 (2 lanes a key on SwiftShader: 512 rows a workgroup step at 4 keys a team; 2 target
  // workgroups: a split of 601 keys ends mid-step). Every 7th key is 64× larger (scores
  // in the hundreds: softmax's running max jumps, ReLU^9 far past float32 unscaled); a zero key
  // and a duplicate pair (ties). The ReLU bias sits in a gap of the logits ≥ 1e-3 wide, so
  // float32 counts the keys of positive weight as float64 does.
  const d = 16, n = 601, cap = 640, pageSize = 64, alpha = 9, scale = 1 / 4;
  const order = Array.from({ length: cap / pageSize }, (_, i) => (i * 3) % (cap / pageSize)); // a permutation of the 10 pages
  for (const [ci, [heads, kvHeads, storage, paged, kind]] of CASES.entries()) {
    const r = rng(41 + ci);
    const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 1.5).data;
    for (let j = 0; j < kvHeads * n; j += 7) for (let c = 0; c < d; c++) k[j * d + c]! *= 64;
    k.fill(0, d, 2 * d);
    for (let g = 0; g < kvHeads; g++) k.copyWithin((g * n + 9) * d, (g * n + 3) * d, (g * n + 4) * d);
    const scores = { heads, kvHeads, d, n, q, k: asStored(k, storage), scale };
    const problem = { ...scores, dv: d, v: asStored(v, storage), kind, alpha: kind === 'relu' ? alpha : 1, bias: kind === 'relu' ? biasInGap(scores, 0.8) : 0 };
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
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage, kind, alpha: problem.alpha, bias: problem.bias, maxLength: n,
      targetWorkgroups: 2, layout: paged ? { pageSize } : 'contiguous', densePairFold: true });
    for (const len of [0, 1, 77, n]) {
      await checkDenseStep(device, plan, bufs, problem, len, { tol: 1e-4, label: `${heads}/${kvHeads} ${storage} paged=${paged} ${kind} n = ${len}`, counts: true });
    }
    plan.destroy();
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('WebGpuDecodePlan densePairFold: bad values and sparse rules → BAD_OPTION; subgroups too small → UNSUPPORTED', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 2, headDim: 16, storage: 'f16', kind: 'softmax', maxLength: 8 } as const;
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, densePairFold: 1 as unknown as boolean }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /densePairFold/.test(e.message));
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', densePairFold: true }),
    (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /densePairFold/.test(e.message));
  // The pair fold needs two teams a subgroup: created where the device allows, else UNSUPPORTED.
  try {
    WebGpuDecodePlan.create(device, { ...base, headDim: 128, densePairFold: true }).destroy();
  } catch (e) {
    assert.ok(e instanceof HsrError && e.code === 'UNSUPPORTED' && /densePairFold/.test(e.message), String(e));
  }
  // Certified softmax takes them (its steps up to certifiedDenseMax run the dense kernel).
  WebGpuDecodePlan.create(device, { ...base, sparsity: { epsilon: 1e-3 }, densePairFold: true }).destroy();
});
