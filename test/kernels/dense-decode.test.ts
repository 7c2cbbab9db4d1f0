import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DenseDecoder } from '../../src/kernels/dense-decode.js';
import type { Weighting } from '../../src/kernels/types.js';
import { backends, gaussArray, referenceDecode, rng } from './backends.js';

for (const b of backends().filter((x) => !x.label.includes('staged'))) {
  describe(`DenseDecoder on ${b.label}`, () => {
    const cases: [string, number, number, number, number, Weighting][] = [
      ['softmax, 6 heads over 2, d 64', 6, 2, 64, 64, { kind: 'softmax', scale: 1 / 8, bias: 0, alpha: 1 }],
      ['softmax, 8 heads over 2, d 128', 8, 2, 128, 128, { kind: 'softmax', scale: 1 / Math.sqrt(128), bias: 0, alpha: 1 }],
      ['ReLU², 6 heads over 2, d 64, bias 0.1', 6, 2, 64, 64, { kind: 'relu', scale: 1 / 8, bias: 0.1, alpha: 2 }],
      ['softmax, 3 heads over 3 (MHA), d 5, dv 7', 3, 3, 5, 7, { kind: 'softmax', scale: 0.7, bias: 0, alpha: 1 }],
    ];
    for (const [name, heads, kvHeads, d, dv, w] of cases) {
      it(`attend() after appends that grow storage matches the float64 reference (${name})`, () => {
        const r = rng(11);
        const dec = new DenseDecoder({ heads, kvHeads, headDim: d, valueDim: dv, weighting: w, kernels: b.kernels, initialCapacity: 3 });
        const total = 300;
        const k = gaussArray(r, total * kvHeads * d), v = gaussArray(r, total * kvHeads * dv);
        const out = new Float32Array(heads * dv);
        let n = 0;
        for (const t of [1, 2, 5, 64, 100, 128]) {
          dec.append(k.subarray(n * kvHeads * d, (n + t) * kvHeads * d), v.subarray(n * kvHeads * dv, (n + t) * kvHeads * dv));
          n += t;
          assert.equal(dec.length, n);
          const q = gaussArray(r, heads * d, 2);
          dec.attend(q, out);
          const want = referenceDecode(q, k, v, n, heads, kvHeads, d, dv, w);
          for (let i = 0; i < want.length; i++) {
            assert.ok(Math.abs(out[i]! - want[i]!) <= 3e-5 * (1 + Math.abs(want[i]!)), `n ${n} element ${i}: got ${out[i]}, want ${want[i]}`);
          }
        }
      });
    }

    it('rejects mismatched append shapes with SHAPE_MISMATCH', () => {
      const dec = new DenseDecoder({ heads: 2, kvHeads: 1, headDim: 4, weighting: { kind: 'softmax', scale: 1, bias: 0, alpha: 1 }, kernels: b.kernels });
      assert.throws(() => dec.append(new Float32Array(4), new Float32Array(3)), { code: 'SHAPE_MISMATCH' });
      assert.throws(() => new DenseDecoder({ heads: 3, kvHeads: 2, headDim: 4, weighting: { kind: 'softmax', scale: 1, bias: 0, alpha: 1 }, kernels: b.kernels }), { code: 'BAD_OPTION' });
    });
  });
}
