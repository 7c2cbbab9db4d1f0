/// <reference types="@webgpu/types" />
// The fused exact sparse ReLU pass (WebGpuDecodePlan sparsePass 'fused', and 'auto' — the default —
// for short contexts with the int8 codes; src/webgpu/fused-wgsl.ts):
// its output must equal the float64 answer, its keysUsed the keys of positive weight, and its
// keysScored the split path's candidates (the same bound decides: a fused pass that kept fewer or
// more keys than the rule would differ). Adversarial inputs: ties at the bias and keys 2⁻¹⁰ above
// it, a key whose bound is tight (half its width fails), every key kept (a block's list attended
// in several rounds) and none, blocks with and without
// kept keys, n = 0 and 1, n not a multiple of the block, zero and huge keys, d = 64 and 128, GQA
// groups of 1 and 4, α = 1 and 2, f32 and f16, contiguous and paged; each count of the keys of
// positive weight (plan option usedCount: per lane, or the workgroup's atomic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { LIST_CAP } from '../../src/webgpu/fused-wgsl.js';
import type { UsedCount } from '../../src/webgpu/attend-kernel.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, planStep, upload } from './gpu-helpers.js';
import { pageSize, rows } from './first-filter-check.js';

interface Case {
  label: string; heads: number; kvHeads: number; d: number; dv: number; n: number; storage: 'f32' | 'f16';
  /** Keys [kvHeads, n, d], values [kvHeads, n, dv], queries [heads, d]. */
  k: Float32Array; v: Float32Array; q: Float32Array;
  bias: number; alpha?: number; scale?: number; paged?: boolean;
  /** The plans' targetWorkgroups (sets the fused pass's blocks). */
  target?: number;
  /** The codes the rule reads: 'int8' (default), the 4-bit ones ('int4-gather') or the projections ('proj-gather'). */
  filter?: 'int8' | 'int4-gather' | 'proj-gather';
  /** The fused plan's fusedKeysPerThread. */
  kpt?: 1 | 2 | 4;
  /** The fused plan's fusedPrefetch. */
  pf?: boolean;
  /** The fused plan's fusedLeanState. */
  lean?: boolean;
  /** The fused plan's usedCount. */
  count?: UsedCount;
}

/**
 * One step of a fused and a split plan over the same buffers: the fused output against the float64
 * answer, its stats against the positive keys and the split plan's candidates. Returns keysScored a head.
 */
async function check(device: GPUDevice, c: Case): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, storage } = c, cap = Math.max(pageSize, Math.ceil(n / pageSize) * pageSize), group = heads / kvHeads;
  const scale = c.scale ?? 1 / Math.sqrt(d), alpha = c.alpha ?? 1;
  const K = rows(c.k, c, d, cap), V = rows(c.v, c, dv, cap);
  const bufs = { queries: upload(device, c.q), keys: upload(device, K.data), values: upload(device, V.data),
    ...(K.table ? { pageTable: upload(device, K.table) } : {}) };
  const run = async (sparsePass: 'fused' | 'split' | undefined) => {
    // Each run its own output (zeroed: a pass that did not run cannot pass for the other's), and no validation error.
    const step = await planStep(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: 'relu', alpha, bias: c.bias, scale,
      sparsity: 'exact', sparsePass, firstFilter: c.filter, fusedKeysPerThread: sparsePass !== 'split' ? c.kpt : undefined, fusedPrefetch: sparsePass !== 'split' ? c.pf : undefined, fusedLeanState: sparsePass !== 'split' ? c.lean : undefined,
      usedCount: sparsePass !== 'split' ? c.count : undefined, maxLength: cap, targetWorkgroups: c.target ?? 8, layout: c.paged ? { pageSize } : 'contiguous' },
      bufs, n, `${c.label} ${sparsePass}`);
    const { plan, out } = step, stats = new Uint32Array(step.stats);
    if (sparsePass !== 'split') {
      assert.equal(plan.selected, null, `${c.label}: a fused step leaves no id list`);
      assert.equal(plan.firstFilterCandidates, null, `${c.label}: nor candidate lists`);
    }
    plan.destroy();
    return { out, stats };
  };
  // (the default, 'auto', takes the fused pass for these short steps with the int8 codes and the projections)
  const split = await run('split'), fused = await run(c.filter === 'int4-gather' ? 'fused' : undefined);
  const tol = storage === 'f16' ? 1e-3 : 2e-5;
  const scored: number[] = [];
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), k = asStored(c.k.subarray(g * n * d, (g + 1) * n * d), storage), v = asStored(c.v.subarray(g * n * dv, (g + 1) * n * dv), storage);
    const q = c.q.subarray(h * d, (h + 1) * d);
    let positive = 0;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!;
      if (s * scale > c.bias) positive++;
    }
    const ref = referenceAttention({ q, m: 1, k, n, v, d, dv, kind: 'relu', scale, alpha, bias: c.bias, causal: false });
    let vMax = 0;
    for (const x of v) vMax = Math.max(vMax, Math.abs(x));
    for (let i = 0; i < dv; i++) {
      assert.ok(Math.abs(fused.out[h * dv + i]! - ref[i]!) <= tol * Math.max(vMax, 1e-30), `${c.label} head ${h} dim ${i}: ${fused.out[h * dv + i]} vs ${ref[i]}`);
    }
    assert.equal(fused.stats[4 * h + 1], positive, `${c.label} head ${h}: keysUsed`);
    assert.equal(fused.stats[4 * h], split.stats[4 * h], `${c.label} head ${h}: keysScored, fused against split (the same rule keeps the same keys)`);
    assert.ok(fused.stats[4 * h]! >= positive && fused.stats[4 * h]! <= n, `${c.label} head ${h}: keysScored ${fused.stats[4 * h]} of ${n}, ${positive} positive`);
    scored.push(fused.stats[4 * h]!);
  }
  for (const b of Object.values(bufs)) b.destroy();
  return scored;
}

/**
 * A bias leaving about the share `frac` of all heads' scores above it: midway between the scores at
 * that quantile from the top (not one of them: float32 may round a score equal to it either way).
 */
function biasAt(c: Omit<Case, 'bias' | 'label'>, frac: number): number {
  const s: number[] = [], group = c.heads / c.kvHeads, scale = c.scale ?? 1 / Math.sqrt(c.d);
  for (let h = 0; h < c.heads; h++) for (let j = 0; j < c.n; j++) {
    let x = 0;
    for (let i = 0; i < c.d; i++) x += c.q[h * c.d + i]! * c.k[(Math.floor(h / group) * c.n + j) * c.d + i]!;
    s.push(x * scale);
  }
  s.sort((a, b) => b - a);
  const i = Math.floor(frac * s.length);
  return (s[i]! + s[i + 1]!) / 2;
}

test('fused exact ReLU: LLM-like keys, int8 and 4-bit codes and projections, GQA 8/2 d = 128 and 4/4 d = 64, α 1 and 2, f32/f16, contiguous/paged, n not a multiple of the block — the float64 answer, the split path\'s candidates, most keys dropped', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(61);
  for (const [heads, kvHeads, d, storage, paged, alpha, n, filter, kpt, pf, lean, count] of [[8, 2, 128, 'f16', false, 1, 1500, 'int8', undefined, true, undefined, 'workgroup'],
    [8, 2, 128, 'f16', true, 1, 1500, 'int8', undefined, undefined, true, undefined], [4, 4, 64, 'f32', true, 2, 1000, 'int8', 2, undefined, true, 'workgroup'],
    [4, 4, 64, 'f32', false, 1, 1000, 'int8', 2, true, undefined, 'lanes'],
    [8, 2, 128, 'f16', false, 1, 1500, 'int4-gather', 2, undefined, undefined, undefined], [4, 4, 64, 'f32', true, 2, 1000, 'int4-gather', undefined, undefined, true, 'workgroup'],
    [8, 2, 128, 'f16', false, 1, 1500, 'proj-gather', 4, undefined, true, 'workgroup'], [4, 4, 64, 'f32', true, 2, 1000, 'proj-gather', undefined, undefined, undefined, undefined],
    [8, 2, 128, 'f32', true, 2, 1500, 'proj-gather', 2, true, undefined, undefined], [4, 4, 64, 'f16', false, 1, 1000, 'proj-gather', undefined, true, true, 'workgroup']] as const) {
    const dv = d, k = gaussian(r, kvHeads * n, d, 0.6).data, v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 1.5).data;
    for (let i = 0; i < k.length; i += d) k[i]! += 2; // a shared offset direction, as LLM keys have
    const shape = { heads, kvHeads, d, dv, n, storage, k, v, q, alpha, paged, filter, kpt, pf, lean, count };
    const scored = await check(device, { ...shape, label: `${heads}/${kvHeads} d ${d} ${storage}${paged ? ' paged' : ''} α ${alpha} ${filter}${kpt ? `, ${kpt} keys a thread` : ''}${pf ? ', prefetch' : ''}${lean ? ', lean state' : ''}${count ? `, count ${count}` : ''}`, bias: biasAt(shape, 0.02) });
    // (The 4-bit bound is wider: on these keys it keeps about 70 %; the projections on rank 8 keep
    // nearly all of these full-rank keys — their filtering is webgpu-proj-filter.test.ts's.)
    if (filter !== 'proj-gather') for (const s of scored) assert.ok(s < (filter === 'int8' ? 0.5 : 0.85) * n, `${heads}/${kvHeads} ${filter}: the bound kept ${s} of ${n} keys`);
  }
});

test('fused exact ReLU: every key kept (a block\'s list attended in several rounds) and none; blocks with and without kept keys; n = 0 and 1', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(62), heads = 4, kvHeads = 1, d = 64, dv = 16;
  // One block of n > 2·LIST_CAP keys (targetWorkgroups 1): head 0's zero query scores every key 0
  // > bias −1, so all are kept and the list fills up and is attended several times; head 1 keeps
  // none (its query scores every key far below the bias), heads 2–3 most.
  const n = 2 * LIST_CAP + 300;
  const k = gaussian(r, n, d).data, v = gaussian(r, n, dv).data, q = gaussian(r, heads, d, 0.3).data;
  q.fill(0, 0, d);
  for (let i = 0; i < d; i++) q[d + i] = 0;
  q[d] = -50; for (let j = 0; j < n; j++) k[j * d] = Math.abs(k[j * d]!) + 1; // head 1: every score ≤ −50/8
  for (const [kpt, pf, lean, count] of [[1, false, false, 'lanes'], [2, false, false, 'workgroup'], [1, true, true, 'workgroup'], [2, true, false, 'lanes'], [4, true, true, 'workgroup']] as const) {
    const scored = await check(device, { label: `one block, all kept, ${kpt} keys a thread${pf ? ', prefetch' : ''}${lean ? ', lean state' : ''}, count ${count}`, heads, kvHeads, d, dv, n, storage: 'f32', k, v, q, bias: -1, target: 1, kpt, pf, lean, count });
    assert.equal(scored[0], n, 'head 0 (zero query) keeps every key');
  }
  // Kept keys only in some blocks: keys 0..299 strongly aligned with head 2's query, the rest opposed.
  const k2 = gaussian(r, n, d, 0.1).data, q2 = new Float32Array(heads * d);
  for (let h = 0; h < heads; h++) q2[h * d + 1] = 4;
  for (let j = 0; j < n; j++) k2[j * d + 1] = j < 300 ? 3 : -3;
  for (const pf of [false, true]) await check(device, { label: `kept keys in the first block only${pf ? ', prefetch, count workgroup' : ''}`, heads, kvHeads, d, dv, n, storage: 'f16', k: k2, v, q: q2, bias: 0, target: 8, pf, count: pf ? 'workgroup' : undefined });
  // n = 1 and 0.
  for (const pf of [false, true]) await check(device, { label: `n = 1${pf ? ', prefetch, count workgroup' : ''}`, heads, kvHeads, d, dv, n: 1, storage: 'f32', k: k.subarray(0, d), v: v.subarray(0, dv), q, bias: -1, pf, count: pf ? 'workgroup' : undefined });
  for (const count of ['lanes', 'workgroup'] as const) await check(device, { label: `n = 0, count ${count}`, heads, kvHeads, d, dv, n: 0, storage: 'f32', k: new Float32Array(0), v: new Float32Array(0), q, bias: 0, count });
});

test('fused exact ReLU: ties at the bias, keys 2⁻¹⁰ above it, zero and huge keys, duplicates, a key whose bound is tight', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(63), heads = 4, kvHeads = 1, d = 64, dv = 8, n = 600;
  // Integer keys and query, scale 1: scores exact, many equal to the bias (weight 0), some 2⁻¹⁰
  // above it (q[2] = 1); zero keys, keys of ±3e4 (f16's range) and exact duplicates.
  const k = new Float32Array(n * d), v = gaussian(r, n, dv).data, q = new Float32Array(heads * d);
  for (let h = 0; h < heads; h++) for (let i = 0; i < d; i++) q[h * d + i] = h === 3 ? 0 : ((i + h) % 3) - 1;
  q[2] = 1;
  for (let j = 0; j < n; j++) for (let i = 0; i < d; i++) k[j * d + i] = Math.floor(r.uniform() * 7) - 3;
  for (let j = 0; j < n; j += 50) k.fill(0, j * d, (j + 1) * d);
  for (let j = 7; j < n; j += 97) for (let i = 0; i < d; i++) k[j * d + i] = i % 2 ? 3e4 : -3e4;
  for (let j = 20; j < n; j += 40) k.copyWithin(j * d, (j - 1) * d, j * d);
  const score = (j: number) => { let s = 0; for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!; return s; };
  const bias = score(1);
  let nudged = 0;
  for (let j = 0; j < n; j++) if (score(j) === bias && nudged++ % 2 === 1) k[j * d + 2]! += 2 ** -10;
  const ties = Array.from({ length: n }, (_, j) => score(j)).filter((s) => s === bias).length;
  assert.ok(ties >= 2 && nudged >= 4, `${ties} keys tie at the bias, ${nudged} nudged`);
  for (const variant of [false, true]) {
    await check(device, { label: `edges f32${variant ? ', prefetch, lean state, count workgroup' : ', count lanes'}`, heads, kvHeads, d, dv, n, storage: 'f32', k, v, q, bias, scale: 1, pf: variant, lean: variant, count: variant ? 'workgroup' : 'lanes' });
  }
  // A key whose int8 residual the query is parallel to, so the bound is tight for it: k_0 = 127
  // sets the step s = 1, k_i = c_i ± 0.49 (c_i integer, residual 0.49 in the sign of c_i), the
  // query sign(c_i) (exact codes, r = 0): the score exceeds the codes' estimate by E1·R almost
  // exactly, and a bias 2⁻⁶ below the score leaves the key a positive weight that a bound of half
  // the width would drop.
  const nt = 40, kt = gaussian(r, nt, d, 0.5).data, qt = new Float32Array(heads * d);
  for (let i = 1; i < d; i++) {
    const c = (1 + Math.floor(r.uniform() * 60)) * (r.uniform() < 0.5 ? -1 : 1);
    kt[17 * d + i] = c + 0.49 * Math.sign(c);
    for (let h = 0; h < heads; h++) qt[h * d + i] = Math.sign(c);
  }
  kt[17 * d] = 127;
  let tight = 0;
  for (let i = 0; i < d; i++) tight += qt[i]! * Math.fround(kt[17 * d + i]!);
  for (const count of ['lanes', 'workgroup'] as const) await check(device, { label: `tight bound, count ${count}`, heads, kvHeads, d, dv, n: nt, storage: 'f32', k: kt, v: v.subarray(0, nt * dv), q: qt, bias: tight - 2 ** -6, scale: 1, count });
});

test('fused exact ReLU: the option is checked', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const base = { heads: 2, kvHeads: 1, headDim: 16, storage: 'f32', maxLength: 16 } as const;
  for (const bad of [{ kind: 'softmax', sparsePass: 'fused' }, { kind: 'softmax', sparsity: { threshold: 1 }, sparsePass: 'fused' }, { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', firstFilter: 'int4' },
    { kind: 'relu', sparsePass: 'fused' }, { kind: 'relu', sparsity: 'exact', sparsePass: 'one' },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', fusedKeysPerThread: 3 }, { kind: 'relu', sparsity: 'exact', sparsePass: 'split', fusedKeysPerThread: 2 },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'split', fusedPrefetch: true }, { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', fusedPrefetch: 1 },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', firstFilter: 'int4-gather', fusedPrefetch: true },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'split', fusedLeanState: true }, { kind: 'relu', sparsity: 'exact', firstFilter: 'proj', fusedLeanState: true },
    { kind: 'relu', sparsity: 'exact', firstFilter: 'int4-gather', fusedKeysPerThread: 2 }, { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', fusedKeysPerThread: 8 },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', gatheredLeanState: true }, { kind: 'relu', gatheredLeanState: true },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'split', usedCount: 'workgroup' }, { kind: 'relu', sparsity: 'exact', firstFilter: 'proj', usedCount: 'workgroup' },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', usedCount: 'team' }, { kind: 'softmax', sparsity: { epsilon: 1e-3 }, sparsePass: 'fused', usedCount: 'workgroup' }] as const) {
    assert.throws(() => WebGpuDecodePlan.create(device, { ...base, ...bad } as never), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /sparsePass/.test(e.message), JSON.stringify(bad));
  }
});
