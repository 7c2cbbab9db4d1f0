/// <reference types="@webgpu/types" />
// The split path's gathered attention, every tuning variant (keys a team step: gatheredStepKeys
// 1–8, the lean and the register state, the row loads: gatheredLoads, the chunks: gatheredChunks,
// 1 to 16 workgroups), against the float64 reference: random keys and the edges —
// no key kept, every key kept with the list at its capacity (n = maxLength), n = 0 and 1, GQA 1 and
// 4, d = 64 and 128, f32 and f16 — and the log-sum-exp merge kernel alone against a float64 merge of
// states spread over 300 splits (every lane folds several; empty states; maxima 80 apart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HsrError, WebGpuDecodePlan, type DecodePlanOptions } from '../../src/index.js';
import { numberToF16Bits } from '../../src/tensor/half.js';
import { gaussian, referenceAttention, rng } from '../attention/fixtures.js';
import { asStored, deviceOrSkip, readBuffer, upload } from './gpu-helpers.js';
import { attendParams } from '../../src/webgpu/plan.js';
import { mergeGroups, mergeSource, NEG, type StatsMode } from '../../src/webgpu/wgsl.js';

type Variant = Pick<DecodePlanOptions, 'gatheredStepKeys' | 'gatheredLeanState' | 'gatheredLoads' | 'gatheredChunks' | 'targetWorkgroups'>;
type Case = 'some' | 'none' | 'all' | 'one' | 'empty' | 'certified';
interface Shape { heads: number; kvHeads: number; d: number; storage: 'f32' | 'f16' }
/**
 * Shapes, each with its variants and their cases (SwiftShader compiles a pipeline set per variant,
 * shape and weighting in seconds: every edge on one shape, the variants' own risks on the others).
 */
const runs: [Shape, [string, Variant, Case[]][]][] = [
  [{ heads: 8, kvHeads: 2, d: 64, storage: 'f32' }, [ // GQA 4: union lists of 4 heads
    ['default (4 keys a step, aligned chunks)', {}, ['some', 'none', 'all', 'one', 'empty', 'certified']],
    ['1 key a step', { gatheredStepKeys: 1 }, ['some', 'all']],
    ['2 keys a step', { gatheredStepKeys: 2 }, ['some', 'none', 'all', 'one', 'empty', 'certified']],
    ['8 keys a step', { gatheredStepKeys: 8 }, ['some', 'all', 'certified']],
    ['state in registers, 8 keys a step', { gatheredLeanState: false, gatheredStepKeys: 8 }, ['some', 'all']],
    ['batched loads', { gatheredLoads: 'batched' }, ['some', 'none', 'all', 'one', 'empty', 'certified']],
    ['spanning chunks', { gatheredChunks: 'spanning' }, ['some', 'none', 'all', 'one', 'empty', 'certified']],
    // 1 workgroup asked: aligned chunks take lists + 1 slots (each list its own, several steps each).
    ['1 workgroup, 1 key a step', { targetWorkgroups: 1, gatheredStepKeys: 1 }, ['some', 'all', 'certified']],
    // 2 workgroups over spanning chunks: one crosses from the first list into the second.
    ['spanning chunks, batched loads, 2 workgroups, 1 key a step', { gatheredChunks: 'spanning', gatheredLoads: 'batched', targetWorkgroups: 2, gatheredStepKeys: 1 }, ['some', 'all']],
  ]],
  [{ heads: 2, kvHeads: 2, d: 128, storage: 'f32' }, [['default', {}, ['some', 'all', 'certified']], // GQA 1
    ['batched loads, spanning chunks', { gatheredLoads: 'batched', gatheredChunks: 'spanning' }, ['some', 'all']]]],
  [{ heads: 8, kvHeads: 2, d: 128, storage: 'f16' }, [['default', {}, ['some', 'all']], ['2 keys a step', { gatheredStepKeys: 2 }, ['some']],
    ['batched loads', { gatheredLoads: 'batched' }, ['some', 'all']],
    ['spanning chunks, 1 workgroup', { gatheredChunks: 'spanning', targetWorkgroups: 1 }, ['some', 'all', 'certified']]]],
];

/** Runs one step of `plan` over n keys and returns the output and stats words. */
async function step(device: GPUDevice, plan: WebGpuDecodePlan, bufs: Parameters<WebGpuDecodePlan['encode']>[1], n: number, heads: number, dv: number) {
  const enc = device.createCommandEncoder();
  plan.encode(enc, bufs, n);
  device.queue.submit([enc.finish()]);
  const out = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const st = await readBuffer(device, plan.stats, heads * 16);
  return { out, words: new Uint32Array(st), bounds: new Float32Array(st) };
}

test('gathered attention variants (keys a step, lean and register state): exact ReLU and certified ε against float64; no key, every key at capacity, n = 0 and 1, GQA 1 and 4, d = 64 and 128', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(131);
  for (const [{ heads, kvHeads, d, storage }, variants] of runs) {
    const dv = d, cap = 333, group = heads / kvHeads;
    const k = gaussian(r, kvHeads * cap, d).data, v = gaussian(r, kvHeads * cap, dv).data, q = gaussian(r, heads, d, 2).data;
    for (let j = 0; j < kvHeads * cap; j += 41) for (let c = 0; c < d; c++) k[j * d + c]! *= 4; // a few large keys
    k.fill(0, 7 * d, 8 * d); // a zero key
    const toGpu = (x: Float32Array) => (storage === 'f32' ? x : Uint16Array.from(x, (y) => numberToF16Bits(y)));
    const bufs = { queries: upload(device, q), keys: upload(device, toGpu(k)), values: upload(device, toGpu(v)),
      output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
    const ks = asStored(k, storage), vs = asStored(v, storage), tol = storage === 'f16' ? 1e-3 : 2e-5;
    let vMax = 0, vNorm = 0;
    for (let j = 0; j < kvHeads * cap; j++) {
      let s = 0;
      for (let c = 0; c < dv; c++) { s += vs[j * dv + c]! ** 2; vMax = Math.max(vMax, Math.abs(vs[j * dv + c]!)); }
      vNorm = Math.max(vNorm, Math.sqrt(s));
    }
    const ref = (h: number, n: number, kind: 'relu' | 'softmax', bias: number) => {
      const g = Math.floor(h / group);
      return referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, n, d, dv, kind, scale: 1 / Math.sqrt(d), alpha: 1, bias, causal: false,
        k: ks.subarray(g * cap * d, (g * cap + n) * d), v: vs.subarray(g * cap * dv, (g * cap + n) * dv) });
    };
    // Biases: 0.5 (some keys), 1e6 (none), −1e6 (every key: the lists at capacity when n = cap).
    const all: Record<Case, { kind: 'relu' | 'softmax'; bias: number; n: number; what: string }> = {
      some: { kind: 'relu', bias: 0.5, n: 300, what: 'some keys' }, none: { kind: 'relu', bias: 1e6, n: 300, what: 'no key' },
      all: { kind: 'relu', bias: -1e6, n: cap, what: 'every key, lists at capacity' }, one: { kind: 'relu', bias: -1e6, n: 1, what: 'n = 1' },
      empty: { kind: 'relu', bias: 0.5, n: 0, what: 'n = 0' }, certified: { kind: 'softmax', bias: 0, n: 300, what: 'certified' },
    };
    for (const [vname, variant, wanted] of variants) {
      for (const c of wanted.map((x) => all[x])) {
        const label = `${vname}, ${c.what}, ${heads}/${kvHeads} heads, d = ${d}, ${storage}`;
        const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage, kind: c.kind, bias: c.kind === 'relu' ? c.bias : undefined,
          sparsity: c.kind === 'relu' ? 'exact' : { epsilon: 1e-2 }, ...(c.kind === 'relu' ? {} : { certifiedDenseMax: 0 }), sparsePass: 'split', maxLength: cap, targetWorkgroups: 16, ...variant });
        const { out, words, bounds } = await step(device, plan, bufs, c.n, heads, dv);
        for (let h = 0; h < heads; h++) {
          const want = ref(h, c.n, c.kind, c.bias), bound = c.kind === 'softmax' ? bounds[4 * h + 2]! : 0;
          if (c.kind === 'softmax') assert.ok(bound <= 1e-2, `${label} head ${h}: errorBound ${bound}`);
          for (let i = 0; i < dv; i++) {
            assert.ok(Math.abs(out[h * dv + i]! - want[i]!) <= 2 * bound * vNorm + tol * vMax, `${label} head ${h} dim ${i}: ${out[h * dv + i]} vs ${want[i]}`);
          }
          if (c.kind === 'relu') {
            const g = Math.floor(h / group);
            let positive = 0;
            for (let j = 0; j < c.n; j++) {
              let s = 0;
              for (let x = 0; x < d; x++) s += q[h * d + x]! * ks[(g * cap + j) * d + x]!;
              if (s / Math.sqrt(d) > c.bias) positive++;
            }
            assert.equal(words[4 * h + 1], positive, `${label} head ${h}: keysUsed`);
            if (c.bias === -1e6) assert.equal(words[4 * h], c.n, `${label} head ${h}: every key scored`);
          }
        }
        plan.destroy();
      }
    }
    for (const b of Object.values(bufs)) b.destroy();
  }
});

test('dense and fused plans (one state a block to merge) equal the float64 answer; the gathered options are checked', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(132), heads = 8, kvHeads = 2, d = 64, n = 700;
  const k = gaussian(r, kvHeads * n, d).data, v = gaussian(r, kvHeads * n, d).data, q = gaussian(r, heads, d, 2).data;
  const bufs = { queries: upload(device, q), keys: upload(device, k), values: upload(device, v),
    output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  let vMax = 0;
  for (const x of v) vMax = Math.max(vMax, Math.abs(x));
  const modes: [string, Omit<DecodePlanOptions, 'heads' | 'kvHeads' | 'headDim' | 'storage' | 'maxLength'>][] = [
    ['dense softmax', { kind: 'softmax' }], ['dense ReLU', { kind: 'relu', bias: 0.3 }],
    ['fused exact ReLU', { kind: 'relu', bias: 0.3, sparsity: 'exact', sparsePass: 'fused' }],
  ];
  for (const [name, mode] of modes) {
    const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f32', maxLength: n, targetWorkgroups: 32, ...mode });
    const { out, words } = await step(device, plan, bufs, n, heads, d);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads)), kind = mode.kind, bias = mode.bias ?? 0;
      const want = referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, n, d, dv: d, kind, scale: 1 / Math.sqrt(d), alpha: 1, bias, causal: false,
        k: k.subarray(g * n * d, (g + 1) * n * d), v: v.subarray(g * n * d, (g + 1) * n * d) });
      for (let i = 0; i < d; i++) assert.ok(Math.abs(out[h * d + i]! - want[i]!) <= 2e-5 * vMax, `${name} head ${h} dim ${i}: ${out[h * d + i]} vs ${want[i]}`);
      if (kind === 'relu') {
        let positive = 0;
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let x = 0; x < d; x++) s += q[h * d + x]! * k[(g * n + j) * d + x]!;
          if (s / Math.sqrt(d) > bias) positive++;
        }
        assert.equal(words[4 * h + 1], positive, `${name} head ${h}: keysUsed`);
      }
    }
    plan.destroy();
  }
  for (const b of Object.values(bufs)) b.destroy();
  const base = { heads, kvHeads, headDim: d, storage: 'f32' as const, maxLength: 64 };
  for (const bad of [{ kind: 'relu', sparsity: 'exact', gatheredStepKeys: 3 }, { kind: 'softmax', gatheredStepKeys: 4 },
    { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', gatheredStepKeys: 4 }, { kind: 'relu', sparsity: 'exact', gatheredLoads: 'eager' },
    { kind: 'softmax', gatheredLoads: 'batched' }, { kind: 'relu', sparsity: 'exact', sparsePass: 'fused', gatheredLoads: 'batched' },
    { kind: 'relu', sparsity: 'exact', gatheredLoads: 'pipelined' }, { kind: 'relu', sparsity: 'exact', sparsePass: 'split', usedCount: 'workgroup' },
    { kind: 'softmax', sparsity: { epsilon: 1e-3 }, usedCount: 'workgroup' }, { kind: 'relu', sparsity: 'exact', gatheredChunks: 'even' },
    { kind: 'relu', gatheredChunks: 'aligned' }] as const) {
    assert.throws(() => WebGpuDecodePlan.create(device, { ...base, ...bad } as DecodePlanOptions), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION', JSON.stringify(bad));
  }
});

test('gathered pass keysUsed = float64\'s count at ties: both row loads and chunk layouts, keys tied at the bias, duplicates, a zero key, none and every key positive', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  // Integer components (exact in f16) and d = 64 (scale 1/8): every score is exact in float32, so
  // a key at the bias is at it on the GPU too (t = 0: weight 0, not counted, whether listed or not).
  const r = rng(134), heads = 8, kvHeads = 2, d = 64, n = 500, group = heads / kvHeads, scale = 1 / 8;
  const ints = (rows: number) => Float32Array.from({ length: rows * d }, () => Math.floor(r.uniform() * 7) - 3);
  const k = ints(kvHeads * n), v = gaussian(r, kvHeads * n, d).data, q = ints(heads);
  k.fill(0, 0, d); // a zero key: score 0
  for (let g = 0; g < kvHeads; g++) for (const j of [100, 101, 377]) k.copyWithin((g * n + j) * d, (g * n + 5) * d, (g * n + 6) * d); // key 5 four times
  const logit = (h: number, j: number) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += q[h * d + c]! * k[(Math.floor(h / group) * n + j) * d + c]!;
    return s * scale;
  };
  const half = (x: Float32Array) => Uint16Array.from(x, (y) => numberToF16Bits(y));
  const vs = asStored(v, 'f16');
  const bufs = { queries: upload(device, q), keys: upload(device, half(k)), values: upload(device, half(v)),
    output: device.createBuffer({ size: heads * d * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  // The bias at head 0's score of key 5 (four keys tied at t = 0), below every score, above every score.
  for (const [what, bias] of [['ties', logit(0, 5)], ['every key', -1e4], ['no key', 1e4]] as const) {
    for (const gatheredChunks of ['aligned', 'spanning'] as const) {
      for (const gatheredLoads of ['interleaved', 'batched'] as const) {
        const label = `${what}, ${gatheredChunks}, ${gatheredLoads}`;
        const plan = WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, storage: 'f16', kind: 'relu', bias, sparsity: 'exact', sparsePass: 'split',
          maxLength: n, targetWorkgroups: 8, gatheredChunks, gatheredLoads });
        const { out, words } = await step(device, plan, bufs, n, heads, d);
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / group);
          const want = referenceAttention({ q: q.subarray(h * d, (h + 1) * d), m: 1, n, d, dv: d, kind: 'relu', scale, alpha: 1, bias, causal: false,
            k: k.subarray(g * n * d, (g + 1) * n * d), v: vs.subarray(g * n * d, (g + 1) * n * d) });
          for (let c = 0; c < d; c++) assert.ok(Math.abs(out[h * d + c]! - want[c]!) <= 1e-4 * (1 + Math.abs(want[c]!)), `${label} head ${h}: ${out[h * d + c]} vs ${want[c]}`);
          let used = 0;
          for (let j = 0; j < n; j++) if (logit(h, j) > bias) used++;
          assert.equal(words[4 * h + 1], used, `${label} head ${h}: keysUsed`);
        }
        plan.destroy();
      }
    }
  }
  for (const b of Object.values(bufs)) b.destroy();
});

test('merge kernel: 300 splits a head (several a lane), empty states, maxima 80 apart, against a float64 merge', async (t) => {
  const device = await deviceOrSkip(t);
  if (!device) return;
  const r = rng(133), heads = 4, DV = 24, DQ = DV / 4, splits = 300;
  // States [heads, splits, DQ + 1] vec4: (m, l, count bits, count bits), acc. Head 3 has none.
  const part = new Float32Array(heads * splits * (DQ + 1) * 4), words = new Uint32Array(part.buffer);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < splits; s++) {
      const at = (h * splits + s) * (DQ + 1) * 4, empty = h === 3 || s % 7 === 3;
      part[at] = empty ? Number(NEG) : (s === 150 ? 80 : 0) + 20 * r.gauss();
      part[at + 1] = empty ? 0 : 0.5 + Math.abs(r.gauss());
      words[at + 2] = s % 5; words[at + 3] = 1 + (s % 3);
      for (let i = 0; i < DV; i++) part[at + 4 + i] = empty ? 0 : r.gauss();
    }
  }
  // Lists mode: 2 lists of 2 heads, 170 and 130 keys over 300 one-key slots (chunk 1).
  const listCounts = Uint32Array.from([170, 130, 0, 0]);
  const slotsOf = (h: number, slots: 'all' | 'lists') => (slots === 'all' ? [0, splits] : h < 2 ? [0, 170] : [170, 300]);
  const runs: [StatsMode, 'lists' | 'blocks', 'all' | 'lists'][] = [['dense', 'lists', 'all'], ['dense-relu', 'lists', 'all'], ['relu', 'blocks', 'all'], ['relu', 'lists', 'lists']];
  for (const [stats, slots, range] of runs) {
    const label = `${stats} ${slots}`;
    const module = device.createShaderModule({ code: mergeSource(DV, stats, 16, 2, slots) });
    const pipe = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const params = upload(device, attendParams(999, 1, splits, 0, 1, 0, 2, 1, 0, 2), GPUBufferUsage.UNIFORM);
    const partBuf = upload(device, part), counts = upload(device, listCounts);
    const out = device.createBuffer({ size: heads * DV * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const statsBuf = device.createBuffer({ size: heads * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const entries: GPUBindGroupEntry[] = [partBuf, out, params, statsBuf].map((buffer, binding) => ({ binding, resource: { buffer } }));
    if (stats === 'relu' && slots === 'lists') entries.push({ binding: 4, resource: { buffer: counts } });
    const enc = device.createCommandEncoder(), pass = enc.beginComputePass();
    pass.setPipeline(pipe); pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }));
    pass.dispatchWorkgroups(heads, mergeGroups(DV)); pass.end();
    device.queue.submit([enc.finish()]);
    const got = new Float32Array(await readBuffer(device, out, heads * DV * 4)), st: Uint32Array = new Uint32Array(await readBuffer(device, statsBuf, heads * 16));
    for (let h = 0; h < heads; h++) {
      const [s0, s1] = slotsOf(h, range);
      let M = -Infinity, used = 0, attended = 0;
      for (let s = s0!; s < s1!; s++) {
        const at = (h * splits + s) * (DQ + 1) * 4;
        if (part[at + 1]! > 0) M = Math.max(M, part[at]!);
        used += words[at + 2]!; attended += words[at + 3]!;
      }
      const x = new Float64Array(DV);
      let L = 0;
      for (let s = s0!; s < s1!; s++) {
        const at = (h * splits + s) * (DQ + 1) * 4;
        if (!(part[at + 1]! > 0)) continue;
        const f = Math.exp(part[at]! - M);
        L += f * part[at + 1]!;
        for (let i = 0; i < DV; i++) x[i]! += f * part[at + 4 + i]!;
      }
      for (let i = 0; i < DV; i++) {
        const want = L > 0 ? x[i]! / L : 0;
        assert.ok(Math.abs(got[h * DV + i]! - want) <= 1e-5 * (1 + Math.abs(want)), `${label} head ${h} dim ${i}: ${got[h * DV + i]} vs ${want}`);
      }
      const row: number[] = Array.from(st.subarray(4 * h, 4 * h + 2));
      const wantRow = { dense: [999, 999], 'dense-relu': [999, used], relu: slots === 'blocks' ? [attended, used] : [listCounts[h < 2 ? 0 : 1]!, used] }[stats as 'dense' | 'dense-relu' | 'relu'];
      assert.deepEqual(row, wantRow, `${label} head ${h}: stats`);
    }
    for (const b of [params, partBuf, counts, out, statsBuf]) b.destroy();
  }
});
