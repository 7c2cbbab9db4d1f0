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

test('certified causal prefill in tiles: rows crossing the dense length inside a tile, partial tiles, m ≠ n: TV ≤ errorBound ≤ ε, dense rows exact', async () => {
  const { attention } = await import('../../src/attention/attention.js');
  const { referenceAttention } = await import('../../src/attention/reference.js');
  const r = rng(45);
  // m = 37: two full tiles of 16 and a partial one; n − m + i crosses 1024 keys inside the first
  // tile (rows with ≤ 1024 keys go dense, later ones are certified), and the peaked rows every 5th
  // keep few keys while the flat ones go dense for needing ≥ half of them: both kinds share tiles.
  for (const [m, n] of [[37, 1040], [20, 20], [1, 1], [17, 1100]] as const) {
    const d = 16, dv = 3, eps = 1e-2;
    const q = gaussian(r, m, d, 1);
    for (let i = 0; i < m; i += 5) for (let c = 0; c < d; c++) q.data[i * d + c]! *= 6;
    const k = gaussian(r, n, d, 1), v = gaussian(r, n, dv);
    const { output, stats } = attention(q, k, v, { kind: 'softmax', causal: true, sparsity: { epsilon: eps }, index: 'quantized' });
    const want = referenceAttention({ q: q.data, m, k: k.data, n, v: v.data, d, dv, kind: 'softmax', scale: 1 / Math.sqrt(d), alpha: 1, bias: 0, causal: true });
    let vMax = 0;
    for (let j = 0; j < n; j++) vMax = Math.max(vMax, Math.hypot(...v.data.subarray(j * dv, (j + 1) * dv)));
    let sparse = 0;
    for (let i = 0; i < m; i++) {
      const eb = stats.errorBound![i]!, what = `m ${m} n ${n} row ${i} (bound ${eb})`;
      assert.ok(eb >= 0 && eb <= eps, what);
      if (eb > 0) sparse++;
      let err = 0;
      for (let c = 0; c < dv; c++) err += (output.data[i * dv + c]! - want[i * dv + c]!) ** 2;
      // Dense rows (bound 0) are exact up to float32 rounding; certified rows within 2·δ·max‖v‖.
      assert.ok(Math.sqrt(err) <= (2 * eb + 1e-5) * vMax, `${what}: error ${Math.sqrt(err)}`);
      if (n - m + i + 1 <= 1024) assert.equal(eb, 0, `${what}: a row over ≤ 1024 keys goes dense`);
    }
    if (n > 1024) assert.ok(sparse > 0, `m ${m} n ${n}: some rows certified sparse`);
  }
});
