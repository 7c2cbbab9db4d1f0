import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { attention, HalfSpaceIndex, indexKinds, matrix, type AttentionOptions, type Matrix } from '../../src/index.js';
import { KeyMoments } from '../../src/attention/moments.js';
import { resolveAttentionOptions } from '../../src/attention/options.js';
import { referenceScores } from '../../src/attention/reference.js';
import { RowAttention } from '../../src/attention/row-attention.js';
import { row } from '../../src/tensor/matrix.js';
import { clustered, gaussian, referenceInput, referenceWeights, rng, visibleKeys, type Problem, type Rand } from './fixtures.js';
import { createKernels } from '../../src/kernels/index.js';
import { maxRowNorm, residentKernels } from '../../src/attention/kernel-rows.js';

/**
 * Ties in top-k are broken by position: among equal logits the earlier key wins. A threshold row
 * where no key reaches t keeps its single best key (softmax needs at least one).
 */

type Generator = (r: Rand, m: number, n: number, d: number) => Problem;
const generators: Record<string, Generator> = {
  gaussian: (r, m, n, d) => ({ q: gaussian(r, m, d, 1.5), k: gaussian(r, n, d, 1.5), v: gaussian(r, n, 3) }),
  clustered: (r, m, n, d) => ({ q: gaussian(r, m, d, 2), k: clustered(r, n, d, 4, 0.1, 2), v: gaussian(r, n, 3) }),
  // Logits up to about ±1e4.
  extreme: (r, m, n, d) => ({ q: gaussian(r, m, d, 40), k: gaussian(r, n, d, 40), v: gaussian(r, n, 3) }),
  // Small integer keys: many exact ties among the logits, plus duplicated rows.
  ties: (r, m, n, d) => {
    const k = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) k[i * d + j] = i % 3 === 0 && i > 0 ? k[(i - 1) * d + j]! : Math.round(r.uniform() * 2 - 1);
    const q = new Float32Array(m * d);
    for (let i = 0; i < q.length; i++) q[i] = Math.round(r.uniform() * 4 - 2);
    return { q: matrix(q, m, d), k: matrix(k, n, d), v: gaussian(r, n, 3) };
  },
  // All keys equal (uniform scores: certified mode must degrade to dense), zero queries included.
  uniform: (r, m, n, d) => {
    const one = gaussian(r, 1, d).data, k = new Float32Array(n * d);
    for (let i = 0; i < n; i++) k.set(one, i * d);
    const q = gaussian(r, m, d).data;
    q.fill(0, 0, d);
    return { q: matrix(q, m, d), k: matrix(k, n, d), v: gaussian(r, n, 3) };
  },
  // One dominant key, and keys whose norms span 1e-20 … 1e20.
  dominant: (r, m, n, d) => {
    const p = generators.gaussian!(r, m, n, d);
    const k = p.k.data;
    for (let i = 0; i < n; i++) {
      const f = i === n >> 1 ? 1e3 : 10 ** Math.round(r.uniform() * 40 - 20);
      for (let j = 0; j < d; j++) k[i * d + j]! *= i % 2 === 0 ? f : 1;
    }
    return { ...p, k: matrix(k, n, d) };
  },
};

interface RowResult { out: Float32Array; errorBound: Float64Array; kept: number[][] }

/** attention()'s loop, row by row through the engine, recording each row's kept ids. */
function runRows(p: Problem, o: AttentionOptions): RowResult {
  const ro = resolveAttentionOptions(o, p.q.cols, 'test');
  const m = p.q.rows, n = p.k.rows, dv = p.v.cols;
  // The same resident layout as attention(): index and values in one kernels memory.
  const kernels = createKernels();
  const index = HalfSpaceIndex.build(p.k, { kind: ro.index, kernels }).reporter;
  const values = kernels.allocF32(Math.max(1, n * dv)).view();
  values.set(p.v.data);
  const keys = index.points();
  const kv = { keys, values, dim: p.k.cols, valueDim: dv, index, kernels: residentKernels(kernels, keys, values), keyNormMax: maxRowNorm(p.k.data, p.k.cols, 0, n) };
  const rows = new RowAttention(ro, dv, 1);
  const moments = new KeyMoments(p.k.cols);
  const out = new Float32Array(m * dv), errorBound = new Float64Array(m), kept: number[][] = [];
  for (let i = 0; i < m; i++) {
    const limit = visibleKeys(m, n, i, ro.causal);
    while (moments.count < limit) moments.add(p.k.data, moments.count);
    rows.attendGroup(kv, [row(p.q, i)], limit, out, i, errorBound, moments);
    kept.push(limit === 0 ? [] : [...rows.keptIds()]);
  }
  return { out, errorBound, kept };
}

function byScore(s: Float64Array): number[] {
  return [...s.keys()].sort((a, b) => s[b]! - s[a]! || a - b);
}

/** Brute-force kept set of a row for threshold / topK / paper (null: no exact oracle → skip). */
function bruteForce(s: Float64Array, dots: Float64Array, o: AttentionOptions, scale: number): { set: Set<number>; band: number; t: number } | null {
  const sp = o.sparsity!;
  if (s.length === 0) return { set: new Set(), band: 0, t: 0 };
  let t: number, band = 0;
  if (sp === 'paper') {
    let mean = 0, varc = 0;
    for (const x of dots) mean += x / dots.length;
    for (const x of dots) varc += (x - mean) ** 2 / dots.length;
    t = (mean + Math.sqrt(varc) * Math.sqrt(0.4 * Math.log(dots.length))) * scale;
    band = 1e-6 * (Math.abs(t) + 1);                  // moments are accumulated differently
  } else if (typeof sp === 'object' && 'threshold' in sp) t = sp.threshold;
  else if (typeof sp === 'object' && 'topK' in sp) return { set: new Set(byScore(s).slice(0, sp.topK)), band: 0, t: 0 };
  else return null;
  const set = new Set([...s.keys()].filter((j) => s[j]! >= t));
  if (set.size === 0) return { set: new Set(byScore(s).slice(0, 1)), band, t };
  return { set, band, t };
}

/** Checks every row of one case: selection, output, TV ≤ errorBound, output error ≤ 2·δ·max‖v‖. */
function checkCase(p: Problem, o: AttentionOptions): void {
  const ro = resolveAttentionOptions(o, p.q.cols, 'test');
  const x = referenceInput(p, 'softmax', { causal: ro.causal, scale: ro.scale });
  const res = runRows(p, o);
  const pub = attention(p.q, p.k, p.v, o);
  assert.deepEqual(pub.stats.errorBound, res.errorBound, 'attention() runs the same rows');
  const dv = p.v.cols;
  // attention() computes a tile's dense rows in one pass over their common prefix (float32 online
  // softmax in other chunks than one row alone): the same rows up to float32 rounding.
  let vMax = 0;
  for (const x of p.v.data) vMax = Math.max(vMax, Math.abs(x));
  for (let c = 0; c < res.out.length; c++) {
    assert.ok(Math.abs(pub.output.data[c]! - res.out[c]!) <= 2e-6 * vMax, `attention() runs the same rows: element ${c}, ${pub.output.data[c]} vs ${res.out[c]}`);
  }
  for (let i = 0; i < p.q.rows; i++) {
    const s = referenceScores(x, i), w = referenceWeights(x, i);
    const kept = new Set(res.kept[i]);
    const eb = res.errorBound[i]!;
    const what = `${JSON.stringify(o)} row ${i}`;
    assert.ok(eb >= 0 && eb <= 1, what);
    if (s.length === 0) continue;
    assert.ok(kept.size >= 1, `${what}: a softmax row keeps at least one key`);
    // True total-variation distance between exact and used weights = exact mass of the skipped keys.
    let total = 0, skipped = 0, maxV = 0;
    for (let j = 0; j < w.length; j++) {
      total += w[j]!;
      if (!kept.has(j)) skipped += w[j]!;
      let nv = 0;
      for (let c = 0; c < dv; c++) nv += p.v.data[j * dv + c]! ** 2;
      maxV = Math.max(maxV, Math.sqrt(nv));
    }
    const tv = skipped / total;
    assert.ok(tv <= eb * (1 + 1e-9) + 1e-15, `${what}: TV ${tv} > bound ${eb}`);
    if (typeof o.sparsity === 'object' && 'epsilon' in o.sparsity) assert.ok(eb <= o.sparsity.epsilon, `${what}: bound ${eb} > ε`);
    // Output = softmax over the kept keys; and within 2·δ·max‖v‖ of the exact output.
    let keptSum = 0;
    const restricted = new Float64Array(dv), exact = new Float64Array(dv);
    for (let j = 0; j < w.length; j++) {
      for (let c = 0; c < dv; c++) exact[c]! += (w[j]! / total) * p.v.data[j * dv + c]!;
      if (kept.has(j)) { keptSum += w[j]!; for (let c = 0; c < dv; c++) restricted[c]! += w[j]! * p.v.data[j * dv + c]!; }
    }
    let errKept = 0, errExact = 0;
    for (let c = 0; c < dv; c++) {
      const out = res.out[i * dv + c]!;
      errKept = Math.max(errKept, Math.abs(out - restricted[c]! / keptSum));
      errExact += (out - exact[c]!) ** 2;
    }
    assert.ok(errKept <= 1e-5 * (maxV + 1e-30), `${what}: output is not the softmax over the kept keys (${errKept})`);
    assert.ok(Math.sqrt(errExact) <= (2 * eb + 1e-5) * maxV + 1e-30, `${what}: output error ${Math.sqrt(errExact)} > 2·δ·max‖v‖`);
    // Threshold / topK / paper: the kept set is the brute-force selection.
    const dots = s.map((v) => v / ro.scale);
    const brute = bruteForce(s, dots, o, ro.scale);
    if (brute) {
      for (let j = 0; j < s.length; j++) {
        if (brute.band > 0 && Math.abs(s[j]! - brute.t) <= brute.band) continue;
        assert.equal(kept.has(j), brute.set.has(j), `${what}: key ${j} (logit ${s[j]}) selection differs from brute force`);
      }
    }
  }
}

const modes: AttentionOptions['sparsity'][] = [{ epsilon: 1e-2 }, { epsilon: 1e-4 }, { topK: 1 }, { topK: 5 }, { threshold: 0.5 }, 'paper'];

test('sparse softmax on every index kind and input family: TV ≤ errorBound, errorBound ≤ ε, output within 2·δ·max‖v‖, selections equal brute force', () => {
  const r = rng(11);
  for (const index of indexKinds()) {
    for (const [name, gen] of Object.entries(generators)) {
      for (const [m, n, d] of [[6, 60, 8], [12, 12, 4], [3, 1, 5], [20, 9, 16]] as const) {
        const p = gen(r, m, n, d);
        for (const sparsity of modes) for (const causal of [false, true]) {
          try { checkCase(p, { kind: 'softmax', sparsity, causal, index }); }
          catch (e) { throw new Error(`${index} / ${name} / m=${m} n=${n} d=${d}: ${(e as Error).message}`); }
        }
      }
    }
  }
});

test('certified mode with uniform scores degrades to dense and says so', () => {
  const r = rng(12);
  const p = generators.uniform!(r, 4, 50, 8);
  for (const index of indexKinds()) {
    const { stats } = attention(p.q, p.k, p.v, { kind: 'softmax', sparsity: { epsilon: 1e-3 }, index });
    assert.equal(stats.denseQueries, 4, index);
    assert.equal(stats.keysUsed, 4 * 50);
    assert.deepEqual([...stats.errorBound!], [0, 0, 0, 0]);
  }
});

test('certified mode on peaked scores uses few keys and scores few keys with the quantized index', () => {
  const r = rng(13);
  const d = 32, n = 2000;
  const k = gaussian(r, n, d, 1);
  const q = new Float32Array(d);
  q.set(k.data.subarray(7 * d, 8 * d));                    // the query matches key 7 strongly
  for (let j = 0; j < d; j++) q[j]! *= 4;
  const v = gaussian(r, n, 4);
  const { stats } = attention(matrix(q, 1, d), k, v, { kind: 'softmax', scale: 1, sparsity: { epsilon: 1e-3 }, index: 'quantized' });
  assert.ok(stats.keysUsed < n / 10, `used ${stats.keysUsed}`);
  assert.ok(stats.keysScored < n / 10, `scored ${stats.keysScored}`);
  assert.ok(stats.errorBound![0]! <= 1e-3);
});

test('property: random shapes, scales and modes keep TV ≤ errorBound (fast-check)', () => {
  const kinds = indexKinds();
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 80 }),
    fc.integer({ min: 1, max: 12 }), fc.constantFrom(...Object.keys(generators)), fc.constantFrom(...modes),
    fc.boolean(), fc.constantFrom(...kinds),
    (seed, m, n, d, gen, sparsity, causal, index) => {
      const p = generators[gen]!(rng(seed), m, n, d);
      checkCase(p, { kind: 'softmax', sparsity, causal, index });
    }), { numRuns: 150 });
});

export type { Matrix };
