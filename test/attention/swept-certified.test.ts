import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRowNorm } from '../../src/attention/kernel-rows.js';
import { resolveAttentionOptions } from '../../src/attention/options.js';
import { RowAttention, type KeyValueView } from '../../src/attention/row-attention.js';
import { HalfSpaceIndex } from '../../src/hsr/half-space-index.js';
import { createJsKernels, createWasmKernels, simdSupported, type Kernels } from '../../src/kernels/index.js';
import { matrix } from '../../src/tensor/matrix.js';
import { gaussian, rng, type Rand } from './fixtures.js';

// Certified softmax on the quantized index's fused float32 sweep (swept-bounds.ts): the rows must
// take that path, and whatever the keys, the reported bound must cover the true TV distance, stay
// ≤ ε, and the output must be the softmax over the kept keys.

const backends = (): Kernels[] => (simdSupported() ? [createJsKernels(), createWasmKernels()] : [createJsKernels()]);

/** Keys families that stress the bucket walk: ties, one dominant key, > 48 nats of spread, tiny and huge norms. */
function keyFamilies(r: Rand, n: number, d: number): Record<string, Float32Array> {
  const dup = gaussian(r, 1, d).data;
  const spread = gaussian(r, n, d).data.map((x, i) => x * (1 + (Math.floor(i / d) % 7) * 3));
  const mixed = gaussian(r, n, d).data.map((x, i) => x * 10 ** ((Math.floor(i / d) % 5) - 2));
  const dominant = gaussian(r, n, d, 0.3).data;
  dominant.fill(4, 0, d);
  return {
    gaussian: gaussian(r, n, d).data,
    duplicates: Float32Array.from({ length: n * d }, (_, i) => dup[i % d]!),
    spread,
    mixed,
    dominant,
    zeros: new Float32Array(n * d),
  };
}

test('swept certified rows: TV ≤ errorBound ≤ ε, output = softmax over the kept keys, on both backends', () => {
  const r = rng(41);
  for (const kernels of backends()) {
    for (const [n, d] of [[1, 4], [257, 16], [1100, 8], [1500, 64]] as const) {
      for (const [family, k] of Object.entries(keyFamilies(r, n, d))) {
        const dv = 3, v = gaussian(r, n, dv).data;
        const index = HalfSpaceIndex.build(matrix(k, n, d), { kind: 'quantized', kernels }).reporter;
        const values = kernels.allocF32(n * dv);
        values.view().set(v);
        let sweeps = 0;
        const sweep = index.logitBoundsBatch!.bind(index);
        index.logitBoundsBatch = (...args) => { sweeps++; return sweep(...args); };
        const kv: KeyValueView = {
          get keys() { return index.points(); }, get values() { return values.view(); },
          index, dim: d, valueDim: dv, kernels, keyNormMax: maxRowNorm(k, d, 0, n),
        };
        for (const [epsilon, qScale] of [[1e-2, 1], [1e-4, 3], [0.5, 1], [1e-3, 30]] as const) {
          const o = resolveAttentionOptions({ kind: 'softmax', sparsity: { epsilon } }, d, 'test');
          const qs = [0, 1, 2].map(() => gaussian(r, 1, d, qScale).data);
          const out = new Float32Array(3 * dv), eb = new Float64Array(3);
          // Head by head (keptIds holds the last head's keys), and once as a group, each on a fresh
          // engine: an engine that saw a flat group skips the next groups' bounds (row-plan.ts).
          for (let h = 0; h < 3; h++) {
            const rows = new RowAttention(o, dv, 3);
            rows.attendGroup(kv, [qs[h]!], n, out, h, eb, null);
            check(qs[h]!, k, v, n, d, dv, o.scale, rows.keptIds(), out.subarray(h * dv, (h + 1) * dv), eb[h]!, epsilon,
              `${kernels.name} ${family} n=${n} d=${d} ε=${epsilon} head ${h}`);
          }
          const group = new Float32Array(3 * dv), ebGroup = new Float64Array(3);
          new RowAttention(o, dv, 3).attendGroup(kv, qs, n, group, 0, ebGroup, null);
          for (let h = 0; h < 3; h++) {
            for (let c = 0; c < dv; c++) assert.ok(Math.abs(group[h * dv + c]! - out[h * dv + c]!) <= 1e-5 * (1 + Math.abs(out[h * dv + c]!)));
          }
        }
        // Moderate logits take the fused sweep; rows whose logits could exceed 2⁸ take float64 (float32SoftmaxSafe).
        // (Rows over ≤ 1024 keys are computed densely, without bounds: RowAttention's DENSE_BELOW.)
        if (family === 'gaussian' && n > 1024) assert.ok(sweeps > 0, 'certified rows on the quantized index use the fused sweep');
      }
    }
  }
});

/** Checks one row against float64 exact weights. */
function check(q: Float32Array, k: Float32Array, v: Float32Array, n: number, d: number, dv: number, scale: number,
  kept: Uint32Array, out: Float32Array, eb: number, epsilon: number, what: string): void {
  const s = Array.from({ length: n }, (_, j) => { let x = 0; for (let c = 0; c < d; c++) x += q[c]! * k[j * d + c]!; return x * scale; });
  const m = Math.max(...s), w = s.map((x) => Math.exp(x - m));
  const keptSet = new Set(kept);
  assert.equal(keptSet.size, kept.length, `${what}: kept ids are distinct`);
  let total = 0, skipped = 0, keptSum = 0;
  const restricted = new Float64Array(dv);
  for (let j = 0; j < n; j++) {
    total += w[j]!;
    if (!keptSet.has(j)) { skipped += w[j]!; continue; }
    keptSum += w[j]!;
    for (let c = 0; c < dv; c++) restricted[c]! += w[j]! * v[j * dv + c]!;
  }
  assert.ok(eb <= epsilon, `${what}: bound ${eb} > ε`);
  assert.ok(skipped / total <= eb * (1 + 1e-9) + 1e-15, `${what}: TV ${skipped / total} > bound ${eb}`);
  for (let c = 0; c < dv; c++) {
    assert.ok(Math.abs(out[c]! - restricted[c]! / keptSum) <= 1e-4 * (1 + Math.abs(restricted[c]! / keptSum)), `${what}: output`);
  }
}

test('certified rows over ≤ 1024 keys are computed densely (exact, bound 0, no index work); longer ones are not', async () => {
  const { attention } = await import('../../src/attention/attention.js');
  const r = rng(44);
  for (const [n, dense] of [[600, true], [1024, true], [1500, false]] as const) {
    const d = 16, m = 3;
    const q = gaussian(r, m, d, 3), k = gaussian(r, n, d, 3), v = gaussian(r, n, 2);
    const { stats } = attention(q, k, v, { kind: 'softmax', sparsity: { epsilon: 1e-2 }, index: 'quantized' });
    if (dense) {
      assert.equal(stats.denseQueries, m, `n ${n}`);
      assert.equal(stats.boundsEvaluated, 0, `n ${n}: no index pass`);
      assert.deepEqual([...stats.errorBound!], [0, 0, 0]);
    } else {
      assert.ok(stats.boundsEvaluated! > 0 && stats.keysUsed < m * n, `n ${n}: sparse (${stats.keysUsed} keys)`);
    }
  }
});
