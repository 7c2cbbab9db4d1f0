/// <reference types="@webgpu/types" />
// What the first-filter tests share (webgpu-nibble-filter.test.ts, webgpu-proj-filter.test.ts): one
// exact sparse ReLU step of a WebGpuDecodePlan with a first filter, checked on the filter's candidate
// lists (every key whose float64 score exceeds the bias must be there) and on the output (the float64
// answer), over contiguous or paged, f32 or f16 K/V.
import assert from 'node:assert/strict';
import { WebGpuDecodePlan } from '../../src/index.js';
import type { DecodePlanOptions } from '../../src/webgpu/plan-options.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { asStored, upload, readBuffer } from './gpu-helpers.js';

export interface Case {
  label: string; heads: number; kvHeads: number; d: number; dv: number; n: number; storage: 'f32' | 'f16';
  /** Keys [kvHeads, n, d], values [kvHeads, n, dv], queries [heads, d]. */
  k: Float32Array; v: Float32Array; q: Float32Array;
  bias: number; alpha?: number; scale?: number; paged?: boolean;
  /** Default 'int4'. */
  filter?: DecodePlanOptions['firstFilter'];
  projectionRank?: number;
  /** The projection filter's tuning option (default the plan's). */
  projection?: Pick<DecodePlanOptions, 'projectionKeysPerThread'>;
  /**
   * A step over the first `firstStep` positions before the checked one: the filter's centre or basis
   * is made from those keys, and the rest are coded after it, as appended keys are.
   */
  firstStep?: number;
}

export const pageSize = 16;

/** Rows [kvHeads, n, dim] as a contiguous [kvHeads, cap, dim] buffer or a paged pool (pages in reverse order). */
export function rows(x: Float32Array, c: Pick<Case, 'kvHeads' | 'n' | 'storage' | 'paged'>, dim: number, cap: number): { data: Float32Array | Uint16Array; table?: Uint32Array } {
  const pages = Math.ceil(cap / pageSize), out = new Float32Array(c.kvHeads * cap * dim);
  for (let g = 0; g < c.kvHeads; g++) for (let j = 0; j < c.n; j++) {
    const row = c.paged ? ((pages - 1 - Math.floor(j / pageSize)) * c.kvHeads + g) * pageSize + (j % pageSize) : g * cap + j;
    out.set(x.subarray((g * c.n + j) * dim, (g * c.n + j + 1) * dim), row * dim);
  }
  const data = c.storage === 'f32' ? out : Uint16Array.from(out, (y) => numberToF16Bits(y));
  return c.paged ? { data, table: Uint32Array.from({ length: pages }, (_, p) => pages - 1 - p) } : { data };
}

/** Runs one split step of a first-filter plan (its candidate lists) and checks candidates ⊇ positive keys and the output; returns candidates a list. */
export async function check(device: GPUDevice, c: Case): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, storage } = c, cap = Math.max(pageSize, Math.ceil(n / pageSize) * pageSize), group = heads / kvHeads;
  const scale = c.scale ?? 1 / Math.sqrt(d), alpha = c.alpha ?? 1;
  const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: 'relu', alpha, bias: c.bias, scale,
    sparsity: 'exact', firstFilter: c.filter ?? 'int4', sparsePass: 'split', maxLength: cap, targetWorkgroups: 8, layout: c.paged ? { pageSize } : 'contiguous',
    ...(c.projectionRank === undefined ? {} : { projectionRank: c.projectionRank }), ...c.projection });
  const K = rows(c.k, c, d, cap), V = rows(c.v, c, dv, cap);
  const bufs = { queries: upload(device, c.q), keys: upload(device, K.data), values: upload(device, V.data),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
    ...(K.table ? { pageTable: upload(device, K.table) } : {}) };
  if (c.firstStep !== undefined) {
    const first = device.createCommandEncoder();
    plan.encode(first, bufs, c.firstStep);
    device.queue.submit([first.finish()]);
  }
  const enc = device.createCommandEncoder();
  plan.encode(enc, bufs, n);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const cand = plan.firstFilterCandidates!, lists = heads / cand.headsPerList;
  const ids = new Uint32Array(await readBuffer(device, cand.ids, lists * cap * 4));
  const counts = new Uint32Array(await readBuffer(device, cand.counts, 16 * Math.ceil(lists / 4)));
  const sizes: number[] = [];
  for (let l = 0; l < lists; l++) {
    const list = ids.slice(l * cap, l * cap + counts[l]!);
    assert.equal(new Set(list).size, list.length, `${c.label} list ${l}: ids repeat`);
    assert.ok(list.every((j) => j < n), `${c.label} list ${l}: an id beyond n`);
    sizes.push(list.length);
  }
  const tol = storage === 'f16' ? 1e-3 : 2e-5;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group), k = asStored(c.k.subarray(g * n * d, (g + 1) * n * d), storage), v = asStored(c.v.subarray(g * n * dv, (g + 1) * n * dv), storage);
    const q = c.q.subarray(h * d, (h + 1) * d);
    const inList = new Set(ids.slice(Math.floor(h / cand.headsPerList) * cap, Math.floor(h / cand.headsPerList) * cap + counts[Math.floor(h / cand.headsPerList)]!));
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!;
      if (s * scale > c.bias) assert.ok(inList.has(j), `${c.label} head ${h}: key ${j} (score ${s * scale} > bias ${c.bias}) dropped by the first filter`);
    }
    const ref = referenceAttention({ q, m: 1, k, n, v, d, dv, kind: 'relu', scale, alpha, bias: c.bias, causal: false });
    let vMax = 0;
    for (const x of v) vMax = Math.max(vMax, Math.abs(x));
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= tol * Math.max(vMax, 1e-30), `${c.label} head ${h} dim ${i}: ${got[h * dv + i]} vs ${ref[i]}`);
  }
  plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
  return sizes;
}

/** LLM-like keys: a low-rank part, noise, and four outlier channels offset by +6 (as bench/lib/keys.ts 'llm'). */
export function llmKeys(r: ReturnType<typeof rng>, kvHeads: number, n: number, d: number): Float32Array {
  const rank = 4, U = gaussian(r, d, rank, 1 / Math.sqrt(rank)).data, k = new Float32Array(kvHeads * n * d);
  for (let j = 0; j < kvHeads * n; j++) {
    const z = gaussian(r, 1, rank).data;
    for (let c = 0; c < d; c++) {
      let x = 0.3 * r.gauss();
      for (let a = 0; a < rank; a++) x += U[c * rank + a]! * z[a]!;
      k[j * d + c] = x + (c % 11 === 3 ? 6 : 0);
    }
  }
  return k;
}


/**
 * Keys in ± pairs (every key's negation follows it), so a centre or basis mean is exactly 0 and codes
 * see the values as given: dims at k + ½ (halfway between 4-bit levels of scale 1: max |y| = 7) and
 * at (m + ½)/127·7 (halfway between int8 levels). Query 0 is integer: scores exact, many equal to the
 * bias (weight 0) and some 2⁻¹⁰ above it; query 1 is zero (every score 0 = bias: none kept). Scale 1.
 */
export function edgeKeys(r: ReturnType<typeof rng>, heads: number, d: number, dv: number): { n: number; k: Float32Array; v: Float32Array; q: Float32Array; bias: number } {
  const n = 256, k = new Float32Array(n * d), v = gaussian(r, n, dv).data, q = new Float32Array(heads * d);
  for (let i = 0; i < d; i++) q[i] = (i % 3) - 1;
  const score = (j: number) => { let s = 0; for (let i = 0; i < d; i++) s += q[i]! * k[j * d + i]!; return s; };
  for (let j = 0; j < n; j += 2) {
    for (let i = 0; i < d; i++) k[j * d + i] = i === 0 ? 7 : j % 4 === 0 ? Math.floor(r.uniform() * 14) - 6.5 : ((Math.floor(r.uniform() * 254) - 126.5) / 127) * 7;
    if (j % 8 === 0) k[j * d + 1] = 0;
    if (j === 10) k.fill(0, j * d, (j + 1) * d); // a zero key (and its pair)
    if (j % 16 === 4 || j % 16 === 8) k.set(k.subarray((j - (j % 16)) * d, (j - (j % 16) + 1) * d), j * d); // duplicates: equal scores
  }
  // Bias: the score of rows 16m (and their copies 16m + 4, 16m + 8); some of them then 2⁻¹⁰ above it (q[2] = 1).
  const bias = score(32);
  let nudged = 0;
  for (let j = 0; j < n; j += 2) if (score(j) === bias && nudged++ % 2 === 1) k[j * d + 2]! += 2 ** -10;
  for (let j = 0; j < n; j += 2) for (let i = 0; i < d; i++) k[(j + 1) * d + i] = -k[j * d + i]!;
  const ties = Array.from({ length: n }, (_, j) => score(j)).filter((s) => s === bias).length;
  assert.ok(ties >= 2, `${ties} keys tie at the bias`);
  return { n, k, v, q, bias };
}

/**
 * Keys in ± pairs in the span of dims 0..7 (the basis at rank 8, centre exactly 0), and one pair
 * ±k* (keys 40, 41) with 2.5 along dim 20, outside that span: its residual is (nearly) 2.5·e₂₀. The
 * query 3·e₂₀ projects to a = Bᵀq ≈ 0 with q_r ≈ q ∥ k*'s residual, so ⟨q_r, e⟩ = ‖q_r‖·‖e‖ for k*
 * (Cauchy–Schwarz met with equality): k* scores 7.5, −k* −7.5, every other key 0, and k*'s upper
 * and −k*'s lower projection bound are tight up to their rounding allowances.
 */
export function tightResidualKeys(r: ReturnType<typeof rng>): { d: number; n: number; k: Float32Array; q: Float32Array; score: number } {
  const d = 32, n = 128, k = new Float32Array(n * d), q = new Float32Array(d);
  for (let j = 0; j < n; j += 2) {
    for (let i = 0; i < 8; i++) k[j * d + i] = 3 * r.gauss();
    if (j === 40) k[j * d + 20] = 2.5;
    for (let i = 0; i < d; i++) k[(j + 1) * d + i] = -k[j * d + i]!;
  }
  q[20] = 3;
  return { d, n, k, q, score: 3 * 2.5 };
}
