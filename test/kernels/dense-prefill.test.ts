import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceAttention } from '../../src/attention/reference.js';
import { denseAttentionRows, denseCausalAttention } from '../../src/kernels/dense-prefill.js';
import { createWasmKernels } from '../../src/kernels/wasm/wasm-kernels.js';
import { simdSupported } from '../../src/kernels/wasm/wasm-api.js';
import type { Weighting } from '../../src/kernels/types.js';
import { backends, gaussArray, place, rng, unplace } from './backends.js';

for (const b of backends()) {
  describe(`denseCausalAttention on ${b.label}`, () => {
    for (const w of [{ kind: 'softmax', scale: 0.3, bias: 0, alpha: 1 }, { kind: 'relu', scale: 0.3, bias: 0.2, alpha: 2 }] as Weighting[]) {
      it(`every (position, head) row equals the causal float64 reference (${w.kind}; n not a multiple of the tile)`, () => {
        unplace(b);
        const r = rng(31);
        for (const [n, group, d, dv] of [[1, 1, 4, 4], [37, 3, 16, 8], [70, 2, 9, 5]] as const) {
          const q = gaussArray(r, n * group * d), k = place(b, gaussArray(r, n * d)), v = place(b, gaussArray(r, n * dv));
          const out = new Float32Array(n * group * dv);
          denseCausalAttention(b.kernels, q, k, v, n, group, d, dv, w, out);
          for (let j = 0; j < group; j++) {
            const qj = new Float32Array(n * d);
            for (let i = 0; i < n; i++) qj.set(q.subarray((i * group + j) * d, (i * group + j + 1) * d), i * d);
            const want = referenceAttention({ q: qj, m: n, k, n, v, d, dv, kind: w.kind, scale: w.scale, alpha: w.alpha, bias: w.bias, causal: true });
            for (let i = 0; i < n; i++) for (let c = 0; c < dv; c++) {
              const got = out[(i * group + j) * dv + c]!, ref = want[i * dv + c]!;
              assert.ok(Math.abs(got - ref) <= 3e-5 * (1 + Math.abs(ref)), `n ${n} pos ${i} head ${j} col ${c}: got ${got}, want ${ref}`);
            }
          }
        }
      });
    }
  });
}

for (const b of backends()) {
  describe(`denseAttentionRows on ${b.label}`, () => {
    it('m query positions over n keys, causal (the last m positions; m > n leaves early rows empty) and not', () => {
      unplace(b);
      const r = rng(32);
      const w: Weighting = { kind: 'softmax', scale: 0.4, bias: 0, alpha: 1 };
      for (const [m, n, d, dv] of [[5, 40, 8, 3], [40, 40, 6, 2], [1, 1, 4, 4], [9, 3, 5, 2], [33, 17, 16, 4], [3, 0, 4, 2]] as const) {
        for (const causal of [true, false]) {
          const q = gaussArray(r, m * d), k = place(b, gaussArray(r, Math.max(1, n * d))), v = place(b, gaussArray(r, Math.max(1, n * dv)));
          const out = new Float32Array(m * dv).fill(NaN);
          denseAttentionRows(b.kernels, q, m, k, v, n, 1, d, dv, w, causal, out);
          const want = referenceAttention({ q, m, k, n, v, d, dv, kind: 'softmax', scale: w.scale, alpha: 1, bias: 0, causal });
          for (let i = 0; i < m * dv; i++) {
            assert.ok(Math.abs(out[i]! - want[i]!) <= 3e-5 * (1 + Math.abs(want[i]!)), `m ${m} n ${n} causal ${causal} at ${i}: ${out[i]} vs ${want[i]}`);
          }
        }
      }
    });
  });
}

it('denseAttentionRows re-views buffers of the kernels memory when a call grows it', { skip: !simdSupported() }, () => {
  // A fresh 1-page memory: the kernels' first staging area has to grow it mid-run, which detaches
  // earlier views; passing the F32Buffers (not views) must still give the reference answer.
  const kernels = createWasmKernels({ initialPages: 1 });
  const r = rng(33);
  const m = 70, n = 90, d = 16, dv = 8;
  const host = { q: gaussArray(r, m * d), k: gaussArray(r, n * d), v: gaussArray(r, n * dv) };
  const qb = kernels.allocF32(m * d), kb = kernels.allocF32(n * d), vb = kernels.allocF32(n * dv);
  qb.view().set(host.q); kb.view().set(host.k); vb.view().set(host.v);
  const out = new Float32Array(m * dv);
  denseAttentionRows(kernels, qb, m, kb, vb, n, 1, d, dv, { kind: 'softmax', scale: 0.25, bias: 0, alpha: 1 }, true, out);
  const want = referenceAttention({ q: host.q, m, k: host.k, n, v: host.v, d, dv, kind: 'softmax', scale: 0.25, alpha: 1, bias: 0, causal: true });
  for (let i = 0; i < m * dv; i++) assert.ok(Math.abs(out[i]! - want[i]!) <= 3e-5 * (1 + Math.abs(want[i]!)), `at ${i}`);
});
