import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceAttention } from '../../src/attention/reference.js';
import { denseCausalAttention } from '../../src/kernels/dense-prefill.js';
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
