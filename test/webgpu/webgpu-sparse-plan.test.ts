/// <reference types="@webgpu/types" />
// Sparse WebGpuDecodePlan (exact ReLU, certified ε) over caller-owned buffers — contiguous and
// paged, f32 and f16 — against the float64 reference: key codes made on the GPU (on demand and by
// encodeQuantize after rows are rewritten), selection on the GPU, stats in the plan's buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, referenceAttention, referenceWeights, rng, type Rand } from '../attention/fixtures.js';
import { asStored as stored, deviceOrSkip, upload, readBuffer } from './gpu-helpers.js';
import { globalCutOfBuckets, lowerEdge } from '../../src/webgpu/certified-cut.js';
import { headsPerScan } from '../../src/webgpu/select-wgsl.js';

/** LLM-like keys [kvHeads, n, d]: an offset direction, every 37th key three times larger. */
function llmKeys(r: Rand, kvHeads: number, n: number, d: number): Float32Array {
  const k = gaussian(r, kvHeads * n, d, 0.6).data;
  for (let i = 0; i < k.length; i += d) k[i]! += 2;
  for (let j = 0; j < kvHeads * n; j += 37) for (let c = 0; c < d; c++) k[j * d + c]! *= 3;
  return k;
}

const heads = 4, kvHeads = 2, d = 32, dv = 16, n = 700, cap = 768, pageSize = 64, pages = Math.ceil(cap / pageSize);
interface Shape { heads: number; kvHeads: number; d: number; dv: number; n: number; cap: number }
const base: Shape = { heads, kvHeads, d, dv, n, cap };
const order = Array.from({ length: pages }, (_, p) => (p * 5) % pages); // logical page p lives at pool page order[p]

/** One storage's buffers: contiguous [kvHeads, cap, dim] or paged [pages, kvHeads, pageSize, dim] copies of rows [kvHeads, n, dim]. */
function layout(x: Float32Array, dim: number, paged: boolean, storage: 'f32' | 'f16'): Float32Array | Uint16Array {
  const out = new Float32Array(paged ? pages * kvHeads * pageSize * dim : kvHeads * cap * dim);
  for (let g = 0; g < kvHeads; g++) {
    for (let j = 0; j < n; j++) {
      const row = paged ? (order[Math.floor(j / pageSize)]! * kvHeads + g) * pageSize + (j % pageSize) : g * cap + j;
      out.set(x.subarray((g * n + j) * dim, (g * n + j + 1) * dim), row * dim);
    }
  }
  return storage === 'f32' ? out : Uint16Array.from(out, (y) => numberToF16Bits(y));
}

interface Mode {
  kind: 'relu' | 'softmax'; sparsity: 'exact' | { epsilon: number }; alpha: number; bias: number; firstFilter?: 'int4' | 'int4-gather' | 'proj-gather'; certifiedCut?: 'global-top-sum';
  /** The plan's gatheredLeanState (default true). */
  lean?: boolean;
}

/**
 * Runs the plan once over (k, v) and checks every head: exact ReLU equals the float64 answer and
 * counts its keys; certified rows keep a set whose true TV is within errorBound ≤ ε, the output
 * within 2·errorBound·max‖v‖ of the reference. Returns the kept / candidate keys per head.
 */
async function checkPlan(device: GPUDevice, plan: WebGpuDecodePlan, bufs: Parameters<WebGpuDecodePlan['encode']>[1], mode: Mode,
  k: Float32Array, v: Float32Array, q: Float32Array, storage: 'f32' | 'f16', label: string, record?: (enc: GPUCommandEncoder) => void,
  shape: Shape = base): Promise<number[]> {
  const { heads, kvHeads, d, dv, n, cap } = shape;
  const enc = device.createCommandEncoder();
  record?.(enc);
  plan.encode(enc, bufs, n);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const statsBytes = await readBuffer(device, plan.stats, heads * 16);
  const words = new Uint32Array(statsBytes), bounds = new Float32Array(statsBytes);
  const sel = plan.selected!;
  const ids = new Uint32Array(await readBuffer(device, sel.ids, (heads / sel.headsPerList) * cap * 4));
  const counts = new Uint32Array(await readBuffer(device, sel.counts, 16 * Math.ceil(heads / 4)));
  const tol = (storage === 'f16' ? 1e-3 : 2e-5);
  const kept: number[] = [];
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads));
    const x = { q: q.subarray(h * d, (h + 1) * d), m: 1, n, d, dv, kind: mode.kind, scale: 1 / Math.sqrt(d), alpha: mode.alpha, bias: mode.bias, causal: false,
      k: stored(k.subarray(g * n * d, (g + 1) * n * d), storage), v: stored(v.subarray(g * n * dv, (g + 1) * n * dv), storage) };
    const ref = referenceAttention(x), w = referenceWeights(x, 0);
    let vMax = 0;
    for (const t of x.v) vMax = Math.max(vMax, Math.abs(t));
    const li = Math.floor(h / sel.headsPerList), list = ids.slice(li * cap, li * cap + counts[li]!);
    assert.equal(new Set(list).size, list.length, `${label} head ${h}: ids repeat`);
    kept.push(list.length);
    assert.equal(words[4 * h], counts[li], `${label} head ${h}: keysScored is the list's length`);
    if (mode.kind === 'relu') {
      for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= tol * vMax, `${label} head ${h} dim ${i}: ${got[h * dv + i]} vs ${ref[i]}`);
      const inList = new Set(list);
      let positive = 0;
      for (let j = 0; j < n; j++) if (w[j]! > 0) { positive++; assert.ok(inList.has(j), `${label} head ${h}: key ${j} of positive weight not a candidate`); }
      assert.equal(words[4 * h + 1], positive, `${label} head ${h}: keysUsed`);
      continue;
    }
    const eps = (mode.sparsity as { epsilon: number }).epsilon, bound = bounds[4 * h + 2]!;
    const inList = new Uint8Array(n);
    for (const j of list) inList[j] = 1;
    let all = 0, skipped = 0;
    for (let j = 0; j < n; j++) { all += w[j]!; if (!inList[j]) skipped += w[j]!; }
    assert.ok(skipped / all <= bound, `${label} head ${h}: TV ${skipped / all} > errorBound ${bound}`);
    assert.ok(bound <= eps, `${label} head ${h}: errorBound ${bound} > ε ${eps}`);
    assert.equal(words[4 * h + 1], counts[li], `${label} head ${h}: keysUsed`);
    let vNorm = 0;
    for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < dv; i++) s += x.v[j * dv + i]! ** 2; vNorm = Math.max(vNorm, Math.sqrt(s)); }
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= 2 * bound * vNorm + tol * vMax, `${label} head ${h} dim ${i}`);
  }
  return kept;
}

/** Certified plans select at every length here (certifiedDenseMax 0: the default runs short steps dense). */
const selecting = (mode: Mode) => (mode.kind === 'softmax' ? { certifiedDenseMax: 0 } : {});

const modes: [string, Mode][] = [
  ['exact ReLU²', { kind: 'relu', sparsity: 'exact', alpha: 2, bias: 1 }],
  ['exact ReLU², 4-bit first filter', { kind: 'relu', sparsity: 'exact', alpha: 2, bias: 1, firstFilter: 'int4' }],
  ['exact ReLU², 4-bit first filter to the gathered attention', { kind: 'relu', sparsity: 'exact', alpha: 2, bias: 1, firstFilter: 'int4-gather' }],
  ['exact ReLU², projection first filter to the gathered attention', { kind: 'relu', sparsity: 'exact', alpha: 2, bias: 1, firstFilter: 'proj-gather' }],
  ['certified ε = 1e-2', { kind: 'softmax', sparsity: { epsilon: 1e-2 }, alpha: 1, bias: 0 }],
  ['certified ε = 1e-2, top-sum cut', { kind: 'softmax', sparsity: { epsilon: 1e-2 }, alpha: 1, bias: 0, certifiedCut: 'global-top-sum' }],
  ['exact ReLU², gathered state in registers', { kind: 'relu', sparsity: 'exact', alpha: 2, bias: 1, lean: false }],
  ['certified ε = 1e-2, gathered state in registers', { kind: 'softmax', sparsity: { epsilon: 1e-2 }, alpha: 1, bias: 0, lean: false }],
];

test('sparse WebGpuDecodePlan: exact ReLU (int8, 4-bit and projection first filters) and certified ε over contiguous and paged K/V, f32 and f16, against the float64 reference', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(21);
  const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 4).data;
  q.fill(0, 0, d); // head 0: a zero query
  for (const storage of ['f32', 'f16'] as const) {
    for (const paged of [false, true]) {
      for (const [name, mode] of modes) {
        const label = `${name} ${storage} ${paged ? 'paged' : 'contiguous'}`;
        const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage, kind: mode.kind, alpha: mode.alpha, bias: mode.bias,
          // 2 workgroups: each certified scan workgroup walks several blocks of keys (its loop).
          sparsity: mode.sparsity, firstFilter: mode.firstFilter, certifiedCut: mode.certifiedCut, gatheredLeanState: mode.lean, sparsePass: 'split', ...selecting(mode), maxLength: cap, targetWorkgroups: paged ? 8 : 2, layout: paged ? { pageSize } : 'contiguous' });
        const bufs = { queries: upload(device, q), keys: upload(device, layout(k, d, paged, storage)), values: upload(device, layout(v, dv, paged, storage)),
          output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
          ...(paged ? { pageTable: upload(device, Uint32Array.from(order)) } : {}) };
        assert.equal(plan.quantizedLength, 0);
        const kept = await checkPlan(device, plan, bufs, mode, k, v, q, storage, label);
        assert.equal(plan.quantizedLength, n, `${label}: encode quantized the new rows`);
        // Head 0's zero query keeps every key; its KV group's list is the union of its heads' (plan.selected).
        if (mode.kind === 'softmax') assert.ok(kept.slice(heads / kvHeads).every((c) => c < n / 2), `${label}: certified kept ${kept} of ${n}`);
        assert.equal(plan.selected!.headsPerList, heads / kvHeads, `${label}: one list a KV group`);
        plan.destroy();
        for (const b of Object.values(bufs)) b.destroy();
      }
    }
  }
});

test('sparse WebGpuDecodePlan: rows rewritten by the caller are re-coded by encodeQuantize; stats of n = 0; bad sparsity and ranges', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(22);
  const k = llmKeys(r, kvHeads, n, d), v = gaussian(r, kvHeads * n, dv).data, q = gaussian(r, heads, d, 1.5).data;
  for (const [name, mode] of modes) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: mode.kind, alpha: mode.alpha, bias: mode.bias,
      sparsity: mode.sparsity, firstFilter: mode.firstFilter, certifiedCut: mode.certifiedCut, gatheredLeanState: mode.lean, sparsePass: 'split', ...selecting(mode), maxLength: cap, targetWorkgroups: 8 });
    const bufs = { queries: upload(device, q), keys: upload(device, layout(k, d, false, 'f32')), values: upload(device, layout(v, dv, false, 'f32')),
      output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    await checkPlan(device, plan, bufs, mode, k, v, q, 'f32', `${name} before`);
    // Rows 100..299 of both KV heads now hold the largest keys, aligned with the queries.
    const k2 = k.slice();
    for (let g = 0; g < kvHeads; g++) {
      for (let j = 100; j < 300; j++) for (let c = 0; c < d; c++) k2[(g * n + j) * d + c] = 1.5 * q[(g * (heads / kvHeads)) * d + c]!;
    }
    device.queue.writeBuffer(bufs.keys, 0, layout(k2, d, false, 'f32') as Float32Array);
    await checkPlan(device, plan, bufs, mode, k2, v, q, 'f32', `${name} rewritten`, (enc) => plan.encodeQuantize(enc, bufs, 100, 300));
    assert.throws(() => plan.encodeQuantize(device.createCommandEncoder(), bufs, n + 1, n + 2), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
    // n = 0: zero output, zero stats.
    const enc = device.createCommandEncoder();
    plan.encode(enc, bufs, 0);
    device.queue.submit([enc.finish()]);
    assert.ok(new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4)).every((x) => x === 0));
    assert.ok(new Uint32Array(await readBuffer(device, plan.stats, heads * 16)).every((x) => x === 0));
    plan.destroy();
    for (const b of Object.values(bufs)) b.destroy();
  }
  const base = { heads, kvHeads, headDim: d, storage: 'f32' as const, maxLength: 64 };
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: 'exact' }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: 'paper' as never }), (e: unknown) => e instanceof HsrError && e.code === 'UNSUPPORTED');
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 2 } }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
  // The top-sum cut is a certified ε rule only; the local cut is no option.
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', certifiedCut: 'global-top-sum' }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /certifiedCut/.test(e.message));
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'relu', sparsity: 'exact', certifiedCompactKeys: 4 }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /certifiedCompactKeys/.test(e.message));
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedCompactKeys: 3 as 4 }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /certifiedCompactKeys/.test(e.message));
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedCompactKeys: 8, sparsePass: 'fused' }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION' && /certifiedCompactKeys/.test(e.message));
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedCut: 'local' as never }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
  assert.throws(() => WebGpuDecodePlan.create(device, { ...base, kind: 'softmax', sparsity: { epsilon: 1e-3 }, certifiedCut: 'nearby' as never }), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION');
});

test('certified scan histogram: many keys in one bucket (equal keys, a zero query), every key but one in the last bucket, several blocks a workgroup', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(23), NB = 448, BYTE_MAX = 255, group = heads / kvHeads;
  const q = gaussian(r, heads, d, 4).data;
  q.fill(0, 0, d); // head 0: a zero query (every bound 0: one bucket)
  for (let c = 0; c < d; c++) q[3 * d + c] = 1.1 * q[2 * d + c]!;
  const k = new Float32Array(kvHeads * n * d), v = gaussian(r, kvHeads * n, dv).data;
  const same = gaussian(r, 1, d).data;
  for (let j = 0; j < n; j++) k.set(same, j * d); // KV head 0: every key equal
  const small = gaussian(r, n, d, 0.05).data;
  k.set(small, n * d);
  // KV head 1: key 5 (one of the anchor's samples) ~80 nats above the others for heads 2 and 3,
  // which land more than 48 nats below it, in the last bucket.
  let qn = 0;
  for (let c = 0; c < d; c++) qn += q[2 * d + c]! ** 2;
  for (let c = 0; c < d; c++) k[(n + 5) * d + c] = (20 * q[2 * d + c]!) / Math.sqrt(qn);
  const mode: Mode = { kind: 'softmax', sparsity: { epsilon: 1e-3 }, alpha: 1, bias: 0 };
  // One histogram workgroup per KV group (targetWorkgroups 2): it walks all ⌈700 / 256⌉ blocks.
  const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f32', kind: 'softmax', sparsity: mode.sparsity, certifiedDenseMax: 0, maxLength: cap,
    targetWorkgroups: 2 });
  const bufs = { queries: upload(device, q), keys: upload(device, layout(k, d, false, 'f32')), values: upload(device, layout(v, dv, false, 'f32')),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const kept = await checkPlan(device, plan, bufs, mode, k, v, q, 'f32', 'histogram extremes');
  const sel = (plan as unknown as { selection: { hist: GPUBuffer; upBytes: GPUBuffer; loBytes: GPUBuffer } }).selection;
  const hist: Uint32Array = new Uint32Array(await readBuffer(device, sel.hist, heads * NB * 2 * 4));
  const bytes = new Uint32Array(await readBuffer(device, sel.upBytes, kvHeads * cap * 4));
  const loBytes = new Uint32Array(await readBuffer(device, sel.loBytes, kvHeads * cap * 4));
  // Counted from the bytes: upper buckets past 255 in bucket 255, lower ones in the last.
  for (let h = 0; h < heads; h++) {
    const up: number[] = Array.from({ length: NB }, (_, b) => hist[(h * NB + b) * 2]!), lo: number[] = Array.from({ length: NB }, (_, b) => hist[(h * NB + b) * 2 + 1]!);
    // Every key counted once, upper buckets as the kept bytes (saturated at 255), every lower
    // bucket at or after its key's upper one.
    assert.equal(up.reduce((a, b) => a + b, 0), n, `head ${h}: upper counts`);
    assert.equal(lo.reduce((a, b) => a + b, 0), n, `head ${h}: lower counts`);
    const fromBytes = new Array<number>(BYTE_MAX + 1).fill(0);
    for (let j = 0; j < n; j++) fromBytes[(bytes[Math.floor(h / group) * cap + j]! >> (8 * (h % group))) & 0xff]!++;
    for (let b = 0; b < BYTE_MAX; b++) assert.equal(up[b], fromBytes[b], `head ${h} bucket ${b}: histogram vs bytes`);
    assert.equal(up.slice(BYTE_MAX).reduce((a, b) => a + b, 0), fromBytes[BYTE_MAX], `head ${h}: saturated bytes`);
    assert.equal(up.slice(BYTE_MAX + 1).reduce((a, b) => a + b, 0), 0, `head ${h}: nothing counted past bucket 255`);
    const fromLo = new Array<number>(NB).fill(0);
    for (let j = 0; j < n; j++) { const b = (loBytes[Math.floor(h / group) * cap + j]! >> (8 * (h % group))) & 0xff; fromLo[b === BYTE_MAX ? NB - 1 : b]!++; }
    assert.deepEqual(lo, fromLo, `head ${h}: lower histogram vs bytes`);
    let cu = 0, cl = 0;
    for (let b = 0; b < NB; b++) { cu += up[b]!; cl += lo[b]!; assert.ok(cl <= cu, `head ${h} bucket ${b}: lower before upper`); }
    if (h < group) assert.ok(up.includes(n) && lo.includes(n), `head ${h}: one bucket holds every key`);
    else assert.ok(up[BYTE_MAX]! >= n - 1 && lo[NB - 1]! >= n - 1, `head ${h}: ${up[BYTE_MAX]} keys in the last buckets`);
  }
  assert.equal(kept[2], 1, `heads 2, 3 keep the one key: ${kept}`);
  plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
});

test('sparse WebGpuDecodePlan: a KV group too wide for a union list (8 heads of dv = 384) attends one list a head', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(24), h2 = 8, n2 = 200, d2 = 16, dv2 = 384;
  const k = gaussian(r, n2, d2).data, v = gaussian(r, n2, dv2).data, q = gaussian(r, h2, d2, 2).data;
  const plan = WebGpuDecodePlan.create(device, { heads: h2, kvHeads: 1, headDim: d2, valueDim: dv2, storage: 'f32', kind: 'relu', bias: 1, sparsity: 'exact', sparsePass: 'split', maxLength: n2, targetWorkgroups: 4 });
  const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
    output: device.createBuffer({ size: h2 * dv2 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const enc = device.createCommandEncoder();
  plan.encode(enc, bufs, n2);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, bufs.output, h2 * dv2 * 4));
  assert.equal(plan.selected!.headsPerList, 1);
  for (let h = 0; h < h2; h++) {
    const ref = referenceAttention({ q: q.subarray(h * d2, (h + 1) * d2), m: 1, n: n2, d: d2, dv: dv2, kind: 'relu', scale: 1 / Math.sqrt(d2), alpha: 1, bias: 1, causal: false, k, v });
    let vMax = 0;
    for (const x of v) vMax = Math.max(vMax, Math.abs(x));
    for (let i = 0; i < dv2; i++) assert.ok(Math.abs(got[h * dv2 + i]! - ref[i]!) <= 2e-5 * vMax, `head ${h} dim ${i}: ${got[h * dv2 + i]} vs ${ref[i]}`);
  }
  plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
});

test('sparse WebGpuDecodePlan: union lists of KV groups of 4 and 8 heads (two bucket words a key), exact ReLU and certified ε', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(25);
  for (const [hs, kvs] of [[8, 2], [8, 1]] as const) {
    // Contiguous K/V of exactly n rows a KV head (cap = n): the [kvHeads, n, dim] arrays as they are.
    const shape: Shape = { heads: hs, kvHeads: kvs, d: 32, dv: 16, n: 500, cap: 500 };
    const k = llmKeys(r, kvs, shape.n, shape.d), v = gaussian(r, kvs * shape.n, shape.dv).data, q = gaussian(r, hs, shape.d, 4).data;
    for (const [name, mode] of kvs === 1 ? modes.slice(1) : modes) { // 8/1: certified (its compaction reads two words a key)
      const label = `${name} ${hs}/${kvs} heads`;
      const plan = WebGpuDecodePlan.create(device, { heads: hs, kvHeads: kvs, headDim: shape.d, valueDim: shape.dv, storage: 'f32', kind: mode.kind, alpha: mode.alpha,
        bias: mode.bias, sparsity: mode.sparsity, certifiedCut: mode.certifiedCut, gatheredLeanState: mode.lean, sparsePass: 'split', ...selecting(mode), maxLength: shape.cap, targetWorkgroups: 8 });
      const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
        output: device.createBuffer({ size: hs * shape.dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
      await checkPlan(device, plan, bufs, mode, k, v, q, 'f32', label, undefined, shape);
      assert.equal(plan.selected!.headsPerList, hs / kvs, `${label}: one list a KV group`);
      plan.destroy();
      for (const b of Object.values(bufs)) b.destroy();
    }
  }
});

test('certified selection from the bucket bytes: the histogram counts them, the kept keys are those below the cut; union and per-head lists, one and several workgroups, n = 1 and n past 8 keys a thread', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(26), NB = 448, BYTE_MAX = 255;
  // 4/2 heads (one union list a KV group) and 8/1 heads of dv = 384 (a list a head, two bucket words a key).
  for (const [hs, kvs, d2, dv2] of [[4, 2, 32, 16], [8, 1, 16, 384]] as const) {
    for (const [n2, targetWorkgroups] of [[5000, 2], [700, 64], [1, 2]] as const) {
      const k = llmKeys(r, kvs, n2, d2), v = gaussian(r, kvs * n2, dv2).data, q = gaussian(r, hs, d2, 4).data;
      const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
        output: device.createBuffer({ size: hs * dv2 * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
      const plan = WebGpuDecodePlan.create(device, { heads: hs, kvHeads: kvs, headDim: d2, valueDim: dv2, storage: 'f32', kind: 'softmax',
        sparsity: { epsilon: 1e-3 }, certifiedDenseMax: 0, maxLength: n2, targetWorkgroups });
      const label = `${hs}/${kvs} heads, n = ${n2}, ${targetWorkgroups} workgroups`;
      await checkPlan(device, plan, bufs, { kind: 'softmax', sparsity: { epsilon: 1e-3 }, alpha: 1, bias: 0 }, k, v, q, 'f32', label, undefined,
        { heads: hs, kvHeads: kvs, d: d2, dv: dv2, n: n2, cap: n2 });
      const s = (plan as unknown as { selection: { hist: GPUBuffer; upBytes: GPUBuffer; loBytes: GPUBuffer; cut: GPUBuffer } }).selection;
      const GH = Math.min(hs / kvs, 8), WPK = Math.ceil(GH / 4), words = (hs / GH) * WPK * n2 * 4;
      const up = new Uint32Array(await readBuffer(device, s.upBytes, words)), lo = new Uint32Array(await readBuffer(device, s.loBytes, words));
      const hist: Uint32Array = new Uint32Array(await readBuffer(device, s.hist, hs * NB * 2 * 4)), cut: Uint32Array = new Uint32Array(await readBuffer(device, s.cut, hs * 16));
      const byteOf = (x: Uint32Array, h: number, j: number) => (x[(Math.floor(h / GH) * WPK + Math.floor((h % GH) / 4)) * n2 + j]! >> (8 * ((h % GH) % 4))) & 0xff;
      const wantKept = new Set<string>();
      for (let h = 0; h < hs; h++) {
        const upCount = new Array<number>(NB).fill(0), loCount = new Array<number>(NB).fill(0), c = cut[4 * h]!;
        for (let j = 0; j < n2; j++) {
          const bu = byteOf(up, h, j), bl = byteOf(lo, h, j);
          assert.ok(bl >= bu, `${label}: head ${h} key ${j}: lower bucket ${bl} before upper ${bu}`);
          upCount[bu]!++; loCount[bl === BYTE_MAX ? NB - 1 : bl]!++;
          if (c > BYTE_MAX || bu < c) wantKept.add(`${h},${j}`);
        }
        assert.deepEqual(Array.from({ length: NB }, (_, b): number => hist[(h * NB + b) * 2]!), upCount, `${label}: head ${h} upper histogram`);
        assert.deepEqual(Array.from({ length: NB }, (_, b): number => hist[(h * NB + b) * 2 + 1]!), loCount, `${label}: head ${h} lower histogram`);
      }
      const sel = plan.selected!, nl = hs / sel.headsPerList;
      const ids: Uint32Array = new Uint32Array(await readBuffer(device, sel.ids, nl * n2 * 4)), counts: Uint32Array = new Uint32Array(await readBuffer(device, sel.counts, 16 * Math.ceil(nl / 4)));
      for (let l = 0; l < nl; l++) {
        const got: number[] = Array.from(ids.subarray(l * n2, l * n2 + counts[l]!)).sort((x, y) => x - y);
        const want: number[] = [];
        for (let j = 0; j < n2; j++) {
          let keep = false;
          for (let h = l * sel.headsPerList; h < (l + 1) * sel.headsPerList; h++) keep ||= wantKept.has(`${h},${j}`);
          if (keep) want.push(j);
        }
        assert.deepEqual(got, want, `${label}: list ${l}`);
        assert.ok(got.length > 0, `${label}: list ${l} keeps a key`);
      }
      plan.destroy();
      for (const b of Object.values(bufs)) b.destroy();
    }
  }
});

/** Adversarial keys for the top-sum cut's float64 checks (r: the test's generator). */
const cutKeys = (r: Rand) => ({
  llm: (s: Shape) => llmKeys(r, s.kvHeads, s.n, s.d),
  // Every key of a KV head equal: one bucket holds them all (ties).
  equal: (s: Shape) => { const one = gaussian(r, 1, s.d).data, k = new Float32Array(s.kvHeads * s.n * s.d); for (let j = 0; j < s.kvHeads * s.n; j++) k.set(one, j * s.d); return k; },
  // Key 3 far above the rest, unsampled by the anchor (it lands in the top bucket).
  dominant: (s: Shape) => { const k = gaussian(r, s.kvHeads * s.n, s.d, 0.1).data; for (let g = 0; g < s.kvHeads; g++) for (let c = 0; c < s.d; c++) k[(g * s.n + Math.min(3, s.n - 1)) * s.d + c] = 30 / Math.sqrt(s.d); return k; },
  zero: (s: Shape) => new Float32Array(s.kvHeads * s.n * s.d),
  huge: (s: Shape) => gaussian(r, s.kvHeads * s.n, s.d, 300).data,
});
/** Shapes for them: one and many scan and histogram workgroups (targetWorkgroups), ties, one dominant key, zero and huge keys, n = 1, per-head lists, GQA 1, 3 and 4, d = 64 and 128. */
const cutCases: [string, Shape, keyof ReturnType<typeof cutKeys>, number][] = [
  ['4/2, one block of 5000 keys', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 5000, cap: 5000 }, 'llm', 2],
  ['4/2, 20 blocks', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 5000, cap: 5000 }, 'llm', 64],
  ['4/2, equal keys', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 1500, cap: 1500 }, 'equal', 64],
  ['4/2, one dominant key', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 1500, cap: 1500 }, 'dominant', 64],
  ['4/2, zero keys', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 600, cap: 600 }, 'zero', 8],
  ['4/2, huge keys', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 600, cap: 600 }, 'huge', 8],
  ['4/2, n = 1', { heads: 4, kvHeads: 2, d: 32, dv: 16, n: 1, cap: 1 }, 'llm', 8],
  ['8/1 dv = 384, a list a head', { heads: 8, kvHeads: 1, d: 16, dv: 384, n: 700, cap: 700 }, 'llm', 8],
  ['6/2 d = 64 (GQA 3)', { heads: 6, kvHeads: 2, d: 64, dv: 64, n: 2000, cap: 2000 }, 'llm', 16],
  ['4/1 d = 128 (GQA 4)', { heads: 4, kvHeads: 1, d: 128, dv: 16, n: 3000, cap: 3000 }, 'llm', 16],
  ['2/2 d = 64 (GQA 1)', { heads: 2, kvHeads: 2, d: 64, dv: 32, n: 2000, cap: 2000 }, 'llm', 16],
];

test('certified top-sum cut: L\'s top bucket is the scan\'s sum of those keys\' lower masses (at most their true mass, at least their edge count), the cut and the kept keys the float64 rule\'s on the GPU\'s bytes, errorBound ≥ TV and ≤ ε; ties, one dominant key, zero and huge keys, n = 1, per-head lists, GQA 1, 3 and 4, d = 64 and 128', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(28), eps = 1e-3, gen = cutKeys(r);
  // The GPU's ratio (selection.ts) and a 0.5 % stricter one: its sums' margins put its cut between the two rules'.
  const loose = (eps / (1 - eps)) * (1 - 1e-3), tight = loose * 0.995;
  let fewer = 0;
  for (const [label, s, keys, targetWorkgroups] of cutCases) {
    const k = gen[keys](s), v = gaussian(r, s.kvHeads * s.n, s.dv).data, q = gaussian(r, s.heads, s.d, 4).data;
    const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
      output: device.createBuffer({ size: s.heads * s.dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    const plan = WebGpuDecodePlan.create(device, { heads: s.heads, kvHeads: s.kvHeads, headDim: s.d, valueDim: s.dv, storage: 'f32', kind: 'softmax',
      sparsity: { epsilon: eps }, certifiedCut: 'global-top-sum', certifiedDenseMax: 0, maxLength: s.cap, targetWorkgroups });
    await checkPlan(device, plan, bufs, { kind: 'softmax', sparsity: { epsilon: eps }, alpha: 1, bias: 0 }, k, v, q, 'f32', label, undefined, s);
    const sel = (plan as unknown as { selection: { upBytes: GPUBuffer; loBytes: GPUBuffer; lowSum: GPUBuffer; cut: GPUBuffer; anchor: GPUBuffer } }).selection;
    const group = s.heads / s.kvHeads, GH = headsPerScan(group), WPK = Math.ceil(GH / 4), words = (s.heads / GH) * WPK * s.n * 4;
    const scanWorkgroups = Math.ceil(s.n / 256);
    const up: Uint32Array = new Uint32Array(await readBuffer(device, sel.upBytes, words)), lo: Uint32Array = new Uint32Array(await readBuffer(device, sel.loBytes, words));
    const lowSum: Float32Array = new Float32Array(await readBuffer(device, sel.lowSum, s.heads * scanWorkgroups * 4));
    const cut: Float32Array = new Float32Array(await readBuffer(device, sel.cut, s.heads * 16)), anchor: Float32Array = new Float32Array(await readBuffer(device, sel.anchor, s.heads * 4));
    const byteOf = (x: Uint32Array, h: number, j: number) => (x[(Math.floor(h / GH) * WPK + Math.floor((h % GH) / 4)) * s.n + j]! >> (8 * ((h % GH) % 4))) & 0xff;
    const keptMin: Uint8Array[] = [], keptMax: Uint8Array[] = [];
    for (let h = 0; h < s.heads; h++) {
      const ub = Array.from({ length: s.n }, (_, j) => byteOf(up, h, j)), lb = Array.from({ length: s.n }, (_, j) => byteOf(lo, h, j));
      const g = Math.floor(h / group), qh = q.subarray(h * s.d, (h + 1) * s.d);
      let top = 0, count = 0;
      for (let j = 0; j < s.n; j++) {
        if (lb[j] !== 0) continue;
        let x = 0;
        for (let c = 0; c < s.d; c++) x += qh[c]! * k[(g * s.n + j) * s.d + c]!;
        top += Math.exp(Math.min(x / Math.sqrt(s.d) - anchor[h]!, 60 + 1e-3)); count++;
      }
      const topGpu = lowSum.subarray(h * scanWorkgroups, (h + 1) * scanWorkgroups).reduce((t, x) => t + x, 0);
      assert.ok(topGpu <= top * (1 + 1e-5) && topGpu >= count * lowerEdge(0) * (1 - 1e-4), `${label} head ${h}: the scan's top mass ${topGpu}, the true ${top}, the edges' ${count * lowerEdge(0)}`);
      const a = globalCutOfBuckets(ub, lb, loose, topGpu * 0.999), b = globalCutOfBuckets(ub, lb, tight, topGpu * 0.999);
      keptMin.push(a.kept); keptMax.push(b.kept);
      const c = Math.min(new Uint32Array(cut.buffer)[4 * h]!, 256), [U, L] = [cut[4 * h + 1]!, cut[4 * h + 2]!];
      assert.ok(c >= a.c && c <= b.c, `${label} head ${h}: cut ${c} outside the rule's [${a.c}, ${b.c}]`);
      assert.ok(U >= b.U && U <= a.U * 1.01 + 1e-30, `${label} head ${h}: U ${U} outside [${b.U}, ${a.U}]`);
      assert.ok(L <= b.L * (1 + 1e-6) && L >= a.L * 0.99, `${label} head ${h}: L ${L} outside [${a.L}, ${b.L}]`);
      if (c < globalCutOfBuckets(ub, lb, tight).c) fewer++;
    }
    const list = plan.selected!, nl = s.heads / list.headsPerList;
    const ids: Uint32Array = new Uint32Array(await readBuffer(device, list.ids, nl * s.cap * 4)), counts: Uint32Array = new Uint32Array(await readBuffer(device, list.counts, 16 * Math.ceil(nl / 4)));
    for (let l = 0; l < nl; l++) {
      const got = new Uint8Array(s.n);
      for (const j of ids.subarray(l * s.cap, l * s.cap + counts[l]!)) got[j] = 1;
      for (let j = 0; j < s.n; j++) {
        let min = 0, max = 0;
        for (let h = l * list.headsPerList; h < (l + 1) * list.headsPerList; h++) { min |= keptMin[h]![j]!; max |= keptMax[h]![j]!; }
        assert.ok(got[j]! >= min && got[j]! <= max, `${label} list ${l} key ${j}: kept ${got[j]}, the rule ${min}..${max}`);
      }
    }
    plan.destroy();
    for (const b of Object.values(bufs)) b.destroy();
  }
  // The top sums are what this cut adds: somewhere it cuts where the edges' count could not.
  assert.ok(fewer > 0, 'the top sums never lowered a cut');
});

test('certified compaction with K keys a thread (certifiedCompactKeys 2, 8): the cut rows and the kept keys of one key a thread, errorBound ≥ TV and ≤ ε; ties, one dominant key, zero and huge keys, n = 1, per-head lists (K unused), GQA 3, the top-sum cut, the projection bounds', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(29), eps = 1e-3;
  const gen = cutKeys(r);
  // (The cut cases but the ones whose shapes others here repeat, for the test's time.)
  const cases = [...cutCases.filter(([label]) => !/one block of|GQA 4|GQA 1/.test(label)).map(([label, s, keys, w]) => [label, s, keys, w, 'global'] as const),
    ['4/2, top-sum cut, 20 blocks', cutCases[1]![1], 'llm', 64, 'global-top-sum'] as const,
    ['4/2 d = 32, projection bounds (rank 8)', cutCases[1]![1], 'llm', 8, 'proj'] as const];
  for (const [label, s, keys, targetWorkgroups, rule] of cases) {
    const k = gen[keys](s), v = gaussian(r, s.kvHeads * s.n, s.dv).data, q = gaussian(r, s.heads, s.d, 4).data;
    if (keys === 'llm') q.fill(0, 0, s.d); // head 0: a zero query, every key in one bucket
    const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
      output: device.createBuffer({ size: s.heads * s.dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    const options = { heads: s.heads, kvHeads: s.kvHeads, headDim: s.d, valueDim: s.dv, storage: 'f32', kind: 'softmax', sparsity: { epsilon: eps }, certifiedDenseMax: 0,
      maxLength: s.cap, targetWorkgroups, ...(rule === 'proj' ? { firstFilter: 'proj' as const } : { certifiedCut: rule }) } as const;
    const got: { cut: Uint32Array; lists: number[][] }[] = [];
    for (const K of [1, 2, 8] as const) {
      const plan = WebGpuDecodePlan.create(device, { ...options, certifiedCompactKeys: K });
      await checkPlan(device, plan, bufs, { kind: 'softmax', sparsity: { epsilon: eps }, alpha: 1, bias: 0 }, k, v, q, 'f32', `${label} K = ${K}`, undefined, s);
      const sel = (plan as unknown as { selection: { cut: GPUBuffer } }).selection, list = plan.selected!, nl = s.heads / list.headsPerList;
      const ids = new Uint32Array(await readBuffer(device, list.ids, nl * s.cap * 4)), counts = new Uint32Array(await readBuffer(device, list.counts, 16 * Math.ceil(nl / 4)));
      got.push({ cut: new Uint32Array(await readBuffer(device, sel.cut, s.heads * 16)),
        lists: Array.from({ length: nl }, (_, l) => Array.from(ids.subarray(l * s.cap, l * s.cap + counts[l]!)).sort((x, y) => x - y)) });
      plan.destroy();
    }
    for (const [i, x] of got.entries()) {
      assert.deepEqual(x.cut, got[0]!.cut, `${label} K = ${[1, 2, 8][i]}: cut rows`);
      assert.deepEqual(x.lists, got[0]!.lists, `${label} K = ${[1, 2, 8][i]}: kept keys`);
    }
    for (const b of Object.values(bufs)) b.destroy();
  }
});
