import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelRows, maxRowNorm, residentKernels } from '../../src/attention/kernel-rows.js';
import { resolveAttentionOptions, type AttentionOptions } from '../../src/attention/options.js';
import { AttentionState } from '../../src/attention/state.js';
import { RowAttention, type KeyValueView } from '../../src/attention/row-attention.js';
import { HalfSpaceIndex } from '../../src/hsr/half-space-index.js';
import { createJsKernels, createKernels, createWasmKernels } from '../../src/kernels/index.js';
import { matrix } from '../../src/tensor/matrix.js';
import { gaussian, rng } from './fixtures.js';

/** A view of k/v resident in `kernels` (quantized index: its points live there) — or plain (kernels null). */
function view(k: Float32Array, v: Float32Array, n: number, d: number, dv: number, resident: boolean): KeyValueView {
  const kernels = createKernels();
  const index = HalfSpaceIndex.build(matrix(k, n, d), { kind: 'quantized', kernels }).reporter;
  if (!resident) return { keys: index.points(), values: v, dim: d, valueDim: dv, index };
  const values = kernels.allocF32(Math.max(1, n * dv)).view();
  values.set(v);
  const keys = index.points();
  const kr = residentKernels(kernels, keys, values);
  assert.ok(kr !== null, 'quantized points and values share the kernels memory');
  return { keys, values, dim: d, valueDim: dv, index, kernels: kr, keyNormMax: maxRowNorm(k, d, 0, n) };
}

/** Runs one row both ways; returns outputs, kept counts, bounds. */
function bothWays(o: AttentionOptions, q: Float32Array, k: Float32Array, v: Float32Array, n: number, d: number, dv: number) {
  const ro = resolveAttentionOptions(o, d, 'test');
  return [false, true].map((resident) => {
    const kv = view(k, v, n, d, dv, resident);
    const rows = new RowAttention(ro, dv, 1);
    const out = new Float32Array(dv), eb = new Float64Array(1);
    rows.attendGroup(kv, [q], n, out, 0, ro.kind === 'softmax' ? eb : null, null);
    return { out, used: rows.work.keysUsed, eb: eb[0]! };
  });
}

test('kernel rows: ReLU keeps exactly the float64 path\'s keys (ties at the threshold, zero, huge and tiny keys, n = 1)', () => {
  const d = 4, dv = 3;
  const keyRows = [
    [2, 0, 0, 0], [2, 0, 0, 0], [2 + 1e-6, 0, 0, 0], [2 - 1e-6, 0, 0, 0], [0, 0, 0, 0], [0, 2, 5, 5],
    [1e18, -1e18, 3, 0], [1e-20, 1e-20, 0, 0], [-1e15, 0, 0, 0], [2, 2, 2, 2], [2 + 2 ** -22, 0, 0, 0],
  ];
  const r = rng(5);
  for (const n of [1, keyRows.length]) {
    const k = Float32Array.from(keyRows.slice(0, n).flat()), v = gaussian(r, n, dv).data;
    for (const q of [[1, 0, 0, 0], [1e3, -1e3, 1, 1], [0, 0, 0, 0], [1e-30, 0, 0, 0]]) {
      for (const alpha of [1, 2, 3]) {
        const [slow, fast] = bothWays({ kind: 'relu', alpha, bias: 1, scale: 0.5 }, Float32Array.from(q), k, v, n, d, dv);
        assert.equal(fast!.used, slow!.used, `q=${q} alpha=${alpha}: same keys with positive weight`);
        for (let c = 0; c < dv; c++) {
          assert.ok(Math.abs(fast!.out[c]! - slow!.out[c]!) <= 1e-5 * (Math.abs(slow!.out[c]!) + 1), `q=${q} alpha=${alpha}`);
        }
      }
    }
  }
});

test('kernel rows: certified softmax keeps TV ≤ errorBound ≤ ε and matches the float64 path within its bounds', () => {
  const r = rng(9);
  for (const [n, d, scale] of [[1, 8, 1], [300, 16, 1], [500, 32, 3], [200, 8, 1e-3]] as const) {
    const k = gaussian(r, n, d, scale).data, v = gaussian(r, n, 5).data;
    const q = gaussian(r, 1, d, scale).data;
    for (const epsilon of [1e-2, 1e-4]) {
      const [slow, fast] = bothWays({ kind: 'softmax', sparsity: { epsilon } }, q, k, v, n, d, 5);
      assert.ok(fast!.eb <= epsilon && slow!.eb <= epsilon);
      // Both outputs lie within 2·δ·max‖v‖ of the exact one, hence within the sum of each other.
      let maxV = 0;
      for (let j = 0; j < n; j++) maxV = Math.max(maxV, Math.hypot(...v.subarray(j * 5, j * 5 + 5)));
      for (let c = 0; c < 5; c++) {
        assert.ok(Math.abs(fast!.out[c]! - slow!.out[c]!) <= 2 * (fast!.eb + slow!.eb) * maxV + 1e-5 * maxV, `n=${n} ε=${epsilon}`);
      }
    }
  }
});

test('KernelRows.accumulate: weights beyond float32 range, zeros, offsets; margin covers float32 dots; foldSoftmax = float64 softmax', () => {
  for (const kernels of [createJsKernels(), createWasmKernels()]) {
    const d = 8, dv = 4, n = 50, r = rng(2);
    const keys = kernels.allocF32(n * d).view(), values = kernels.allocF32(n * dv).view();
    keys.set(gaussian(r, n, d, 100).data);
    values.set(gaussian(r, n, dv).data);
    const kr = new KernelRows(kernels, d, dv);
    const ids = Uint32Array.from({ length: n }, (_, i) => (i * 7) % n);
    const w = Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : 1e40 * (i + 1)));
    const acc = new Float64Array(dv), want = new Float64Array(dv);
    kr.accumulate(acc, w, ids, 3, n, values);
    for (let p = 3; p < n; p++) for (let c = 0; c < dv; c++) want[c]! += w[p]! * values[ids[p]! * dv + c]!;
    for (let c = 0; c < dv; c++) assert.ok(Math.abs(acc[c]! - want[c]!) <= 1e-5 * 1e40 * n * n, `${kernels.name}: acc ${acc[c]} vs ${want[c]}`);
    kr.accumulate(acc.fill(0), new Float64Array(n), ids, 0, n, values);
    assert.deepEqual([...acc], [0, 0, 0, 0]);
    const q = gaussian(r, 1, d, 100).data;
    const qn = kr.queryNorm(q), knMax = maxRowNorm(keys, d, 0, n), margin = kr.margin(qn, knMax, 1);
    const dots = kr.dotsOf(q, keys, ids, n);
    for (let p = 0; p < n; p++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += q[j]! * keys[ids[p]! * d + j]!;
      assert.ok(Math.abs(dots[p]! - s) <= margin, `${kernels.name}: dot within the margin`);
    }
    // foldSoftmax in two chunks (the second raising the max) = float64 softmax over the ids; the sum
    // within the slack the bound assumes.
    const scale = 0.01, st = new AttentionState(dv).reset('softmax');
    kr.foldSoftmax(q, keys, ids, 0, 20, { kind: 'softmax', scale, bias: 0, alpha: 1 }, values, st);
    kr.foldSoftmax(q, keys, ids, 20, n, { kind: 'softmax', scale, bias: 0, alpha: 1 }, values, st);
    const logits = Array.from(ids, (id) => { let s = 0; for (let j = 0; j < d; j++) s += q[j]! * keys[id * d + j]!; return s * scale; });
    const mx = Math.max(...logits);
    let sum = 0;
    const out = new Float64Array(dv);
    logits.forEach((l, p) => { const e = Math.exp(l - mx); sum += e; for (let c = 0; c < dv; c++) out[c]! += e * values[ids[p]! * dv + c]!; });
    const slack = Math.exp(kr.margin(qn, knMax, scale) + kr.logitRounding(qn, knMax, scale)) / (1 - kr.sumSlack(n - 20));
    const ratio = (st.sum * Math.exp(st.max)) / (sum * Math.exp(mx));
    assert.ok(ratio <= slack && ratio >= 1 / slack, `${kernels.name}: W within the certified slack (${ratio})`);
    for (let c = 0; c < dv; c++) assert.ok(Math.abs(st.acc[c]! / st.sum - out[c]! / sum) <= 1e-5, `${kernels.name}: output`);
  }
});
