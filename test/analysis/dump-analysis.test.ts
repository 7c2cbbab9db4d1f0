import assert from 'node:assert/strict';
import { test } from 'node:test';
import { analyzeDump, findDumpLayers, type TensorLookup } from '../../src/analysis/dump-analysis.js';
import { HsrError } from '../../src/index.js';
import { rng } from '../../bench/lib/measure.js';

/**
 * A crafted dump: 1 layer, 4 query heads over 2 KV heads, n keys of dim d around a few clusters,
 * key 0 of KV head 0 a sink (huge component along the queries' common direction).
 */
function craftedDump(n: number, d: number, seed = 5): TensorLookup & { q: Float32Array; k: Float32Array } {
  const r = rng(seed), heads = 4, kvHeads = 2;
  const q = Float32Array.from({ length: heads * n * d }, (_, i) => r.gauss() + (i % d === 0 ? 2 : 0));
  const centres = Array.from({ length: 3 }, () => Float32Array.from({ length: d }, () => r.gauss() * 2));
  const k = new Float32Array(kvHeads * n * d);
  for (let i = 0; i < kvHeads * n; i++) {
    const c = centres[Math.floor(r.uniform() * 3)]!;
    for (let j = 0; j < d; j++) k[i * d + j] = c[j]! + r.gauss() * 0.5;
  }
  k[0] = 40;
  const v = Float32Array.from({ length: kvHeads * n * d }, () => r.gauss());
  const t = new Map([['layers.7.q', { data: q, shape: [heads, n, d] }], ['layers.7.k', { data: k, shape: [kvHeads, n, d] }], ['layers.7.v', { data: v, shape: [kvHeads, n, d] }]]);
  return { names: () => [...t.keys()], float32: (name: string) => t.get(name)!, q, k };
}

test('analyzeDump on a crafted dump: certified mode ≥ oracle, TV ≤ bound ≤ ε, output within its bound, paper count = brute force, sink found', () => {
  const n = 400, d = 16, Q = 12, eps = [1e-2, 1e-3];
  const dump = craftedDump(n, d);
  const [layer] = analyzeDump(dump, { queries: Q, epsilons: eps, certifiedIndex: 'quantized', indexKinds: ['scan', 'quantized', 'ball-tree'], reluBias: 1 });
  assert.equal(layer!.layer, '7');
  assert.equal(layer!.perHead.length, 4);
  assert.deepEqual(layer!.perHead.map((h) => h.kvHead), [0, 0, 1, 1]);
  for (const h of layer!.perHead) {
    for (const c of h.certified) {
      assert.equal(c.violations, 0);
      assert.ok(c.usedFraction >= c.oracleFraction - 1e-12, `used ${c.usedFraction} < oracle ${c.oracleFraction}`);
      assert.ok(c.tvMax <= c.boundMax && c.boundMax <= c.epsilon, `tv ${c.tvMax}, bound ${c.boundMax}, ε ${c.epsilon}`);
      assert.ok(c.outputErrorMax <= c.outputBoundMax + 1e-6);
    }
    const scan = h.pruning.find((p) => p.index === 'scan')!;
    assert.equal(scan.paperQueryScored, 1);
    assert.equal(scan.reluQueryScored, 1);
    // Independent paper threshold: mean and std of the query's own scaled scores over its visible keys.
    let kept = 0, visible = 0, active = 0;
    for (let t = 0; t < Q; t++) {
      const pos = n - Q + t, limit = pos + 1, qo = (h.head * n + pos) * d, ko = h.kvHead * n * d;
      const s = Array.from({ length: limit }, (_, j) => {
        let x = 0;
        for (let c = 0; c < d; c++) x += dump.q[qo + c]! * dump.k[ko + j * d + c]!;
        return x / Math.sqrt(d);
      });
      const mu = s.reduce((a, b) => a + b, 0) / limit;
      const sd = Math.sqrt(s.reduce((a, b) => a + (b - mu) ** 2, 0) / limit);
      const th = mu + sd * Math.sqrt(0.4 * Math.log(limit));
      kept += s.filter((x) => x >= th + 1e-9).length;
      active += s.filter((x) => x > 1).length;
      visible += limit;
    }
    assert.ok(Math.abs(h.paper.keptFraction * visible - kept) <= Q, `paper kept ${h.paper.keptFraction * visible} vs ${kept}`);
    assert.equal(Math.round(h.relu!.activeFraction * visible), active);
  }
  // Key 0 of KV head 0 dominates heads 0 and 1 (queries lean on channel 0), not heads 2 and 3.
  assert.ok(layer!.perHead[0]!.sinkMass.first > 0.5 && layer!.perHead[1]!.sinkMass.first > 0.5);
  assert.ok(layer!.perHead[2]!.sinkMass.first < 0.5);
  assert.ok(layer!.keys[0]!.outlierChannels.length <= 1);
});

test('findDumpLayers orders layers numerically and names what is missing', () => {
  const t = ['layers.10.q', 'layers.10.k', 'layers.10.v', 'layers.2.q', 'layers.2.k', 'layers.2.v', 'input_ids'];
  assert.deepEqual(findDumpLayers({ names: () => t, float32: () => { throw new Error('unused'); } }), ['2', '10']);
  assert.throws(() => findDumpLayers({ names: () => ['layers.1.q', 'layers.1.k'], float32: () => { throw new Error('unused'); } }),
    (e: unknown) => e instanceof HsrError && e.code === 'NOT_FOUND' && /layers\.1\.v/.test(e.message));
  assert.throws(() => findDumpLayers({ names: () => ['x'], float32: () => { throw new Error('unused'); } }, 'blocks.'),
    (e: unknown) => e instanceof HsrError && /blocks\.N\.q/.test(e.message));
});

test('analyzeDump rejects inconsistent shapes with SHAPE_MISMATCH', () => {
  const dump = craftedDump(50, 8);
  const bad: TensorLookup = { names: dump.names, float32: (name) => name.endsWith('.k') ? { data: new Float32Array(3 * 50 * 8), shape: [3, 50, 8] } : dump.float32(name) };
  assert.throws(() => analyzeDump(bad, { queries: 4, epsilons: [1e-2], certifiedIndex: 'scan', indexKinds: ['scan'] }),
    (e: unknown) => e instanceof HsrError && e.code === 'SHAPE_MISMATCH');
});
