// Dense decode kernel variants on the GPU Dawn finds: where dense ReLU's time goes against dense
// softmax (the same bytes), and how many workgroups / heads a workgroup short contexts want.
// Each mode is a WebGpuDecodePlan (caller-owned f16 K/V, 8 query / 2 KV heads, d = 128, 'llm'
// synthetic keys, one decode query, nothing read back) whose attention kernel's WGSL may be
// rewritten before compiling, and whose heads per workgroup may be overridden — a probe that
// reaches into the plan (its pipeline lookup and its private G / sub) so that variants need no
// library option. A mode is `softmax` or `relu`, then `:`-separated changes:
//   nocount   ReLU without the per-lane count of keys of positive weight (keysUsed then reads 0)
//   countsel  the count as a branch-free select instead of an if
//   loop      ReLU's per-head update as a loop over the heads (as softmax's) instead of written out
//   unscaled  ReLU weights t^α as they are (no running max, no division; exact while Σ t^α fits
//             float32 — α = 1 on these keys): the floor of what the scaled form costs
//   hoist     ReLU's bias read from the uniform once, before the key loop
//   endunroll ReLU's per-lane counts added to the workgroup's by a loop written out per head (no
//             runtime index into the count array anywhere)
//   countvec  ReLU's per-lane counts in a vec4u (G ≤ 4) instead of an array
//   lanes     the plan option usedCount 'lanes': ReLU's per-lane count of keys of positive weight in
//             registers through the key loop (the kernel before H100 run 13; `relu` is the plan's
//             default, usedCount 'workgroup': lane 0 of a team adds each such key to the workgroup's
//             atomic count at once). The changes that rewrite the count imply it.
//   wgteam    the same into a per-team count in workgroup memory (lane 0 of a team alone writes its
//             slots: no atomic in the key loop), added to the workgroup's at the end
//   count16   ReLU's per-lane counts packed two heads a u32 (16 bits each: a lane sees < 65536 keys a
//             split here, checked), half the registers
//   il        (with gN, N below the group) the workgroups of one split's head subsets dispatched
//             side by side (x = split · sub + subset) instead of sub dispatch rows apart, so they
//             read the same K/V rows at about the same time (L2 hits instead of DRAM twice)
//   allpos    ReLU's bias far below every score (−1e4): every key of positive weight, the count's
//             worst case (the default bias leaves ~2 % of the keys)
//   pair      the plan option densePairFold: the teams' fold begins with team pairs' subgroup shuffles
//   gN        N query heads a workgroup (default: the plan's, 4 here)
//   wN        the plan's targetWorkgroups (default 264)
//   aN        ReLU^N (default α = 1)
// For every n the modes alternate in rounds, timed as bench/lib/gpu-steps.ts does for every plan
// bench (warm-up until the first mode's step time stops falling, a sample ≥ `reps` steps (≥ ~2 ms)
// timed by GPU timestamps, Dawn's quantization off where allowed, a round's samples back to back
// on the GPU; `warmSettled`, `MODE.roundsMs` of the first mode: whether the GPU had settled);
// medians and each mode's ratio to `softmax` (and to `relu` where it runs) come from the same rounds.
// --samples apart: each sample submitted and read back alone (the method up to H100 run 16).
// Each mode's output is checked once against the float64 reference of the stored data (maxAbsErr)
// and its keysUsed read back.
// `MODE.passes`: GPU time by pass (each pass timestamped alone, ~10 µs of overhead each).
//
//   node --import tsx bench/webgpu-dense-variants.ts [--n 32768,131072,524288] [--rounds 7] [--reps 20]
//     [--warm-ms 1000] [--modes softmax,relu,relu:nocount,...] [--samples together|apart] [--out file.json]
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { HsrError, WebGpuDecodePlan, webGpuDevice, type DecodePlanOptions } from '../src/index.js';
import { readBuffer } from '../src/webgpu/device.js';
import { Pipelines } from '../src/webgpu/pipelines.js';
import { passesPerStep, samplesOption, timeAlternating, timingFields } from './lib/gpu-steps.js';
import { calibrateReluBias, referenceDecode, syntheticWorkload, type Workload } from './lib/keys.js';
import { exactTimestampGpu } from './lib/dawn.js';
import { gpuBuffer, halves } from './lib/webgpu-kv.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,131072,524288' }, rounds: { type: 'string', default: '7' }, reps: { type: 'string', default: '20' },
  'warm-ms': { type: 'string', default: '1000' }, out: { type: 'string' }, samples: { type: 'string', default: 'together' },
  modes: { type: 'string', default: 'softmax,relu,relu:nocount,relu:countsel,relu:loop,relu:loop:nocount,relu:unscaled,relu:hoist,softmax:g2,relu:g2,relu:a2' },
} });
const ns = a.n!.split(',').map(Number).sort((x, y) => x - y), rounds = Number(a.rounds), reps = Number(a.reps), warmMs = Number(a['warm-ms']);
const sampleMode = samplesOption(a.samples);
let modeNames = a.modes!.split(',');
if (!modeNames.includes('softmax')) throw new Error('--modes must hold softmax (the dense baseline every ratio is against)');
const t0 = performance.now();
const log = (x: unknown) => console.log(JSON.stringify(x));

const gpu = await exactTimestampGpu();
const device = await webGpuDevice(gpu ?? undefined);
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
const adapter = { description: info?.description, timestamps: device.features.has('timestamp-query'), exactTimestamps: gpu !== null, subgroups: device.features.has('subgroups') };
log(adapter);

interface Mode {
  name: string; kind: 'softmax' | 'relu'; alpha: number; allPositive: boolean; usedCount?: 'lanes'; G?: number; workgroups?: number; rewrites: string[];
  tuning: Pick<DecodePlanOptions, 'densePairFold'>;
}

function parseMode(name: string): Mode {
  const [kind, ...opts] = name.split(':');
  if (kind !== 'softmax' && kind !== 'relu') throw new Error(`mode ${name}: expected softmax or relu first`);
  const m: Mode = { name, kind, alpha: 1, allPositive: false, rewrites: [], tuning: {} };
  for (const o of opts) {
    const num = /^([gwa])(\d+)$/.exec(o);
    if (num) {
      const x = Number(num[2]);
      if (num[1] === 'g') m.G = x; else if (num[1] === 'w') m.workgroups = x; else m.alpha = x;
    } else if (o === 'pair') m.tuning.densePairFold = true;
    else if (o === 'allpos' && kind === 'relu') m.allPositive = true;
    else if (o === 'lanes' && kind === 'relu') m.usedCount = 'lanes';
    else if ((['nocount', 'countsel', 'loop', 'unscaled', 'hoist', 'endunroll', 'countvec', 'wgteam', 'count16'].includes(o) && kind === 'relu') || o === 'il') m.rewrites.push(o);
    else throw new Error(`mode ${name}: unknown change ${o}`);
  }
  // Rewrites of the per-lane count (or of the text beside it) need the kernel that has it.
  if (m.rewrites.some((c) => !['unscaled', 'il'].includes(c))) m.usedCount = 'lanes';
  return m;
}

/** `src` with `from` replaced by `to` exactly `times` times (a variant that silently changed nothing would time the baseline). */
function swap(src: string, from: string, to: string, times?: number): string {
  const found = src.split(from).length - 1;
  if (found === 0 || (times !== undefined && found !== times)) throw new Error(`rewrite: expected ${times ?? '≥ 1'} of ${JSON.stringify(from)}, found ${found}`);
  return src.split(from).join(to);
}

/** ReLU's per-lane counts added to the workgroup's (attend-kernel.ts end). */
const endFlush = 'if (lane == 0u) { for (var h = 0u; h < G; h++) { if (usedLane[h] > 0u) { atomicAdd(&usedHere[h], usedLane[h]); } } }';

/** The ReLU attention kernel's WGSL (attend-kernel.ts, dense) with one change. */
function rewrite(src: string, change: string, G: number, alpha: number): string {
  switch (change) {
    case 'nocount': return swap(src, 'if (t[b] > 0.0) { usedLane[h] += 1u; }', '', G);
    case 'countsel': return swap(src, 'if (t[b] > 0.0) { usedLane[h] += 1u; }', 'usedLane[h] += select(0u, 1u, t[b] > 0.0);', G);
    case 'hoist': return swap(swap(src, 's[h * B + b] - p.bias', 's[h * B + b] - bias', G), 'var usedLane = array<u32, G>();', 'var usedLane = array<u32, G>();\n    let bias = p.bias;', 1);
    case 'unscaled': {
      let s = swap(src, 'let inv = select(0.0, 1.0 / mx, mx > 0.0);', 'let inv = 1.0;', G);
      s = swap(s, 'let corr = select(1.0, pw(m[h] * inv), mx > 0.0);', 'let corr = 1.0;', G);
      s = swap(s, 'select(1.0, pw(m[h] / M), M > 0.0)', '1.0', 1);
      return swap(s, `select(NEG, ${alpha}.0 * log(m[h]), m[h] > 0.0)`, 'select(NEG, 0.0, m[h] > 0.0)', 1);
    }
    case 'endunroll': return swap(src, endFlush,
      `if (lane == 0u) { ${Array.from({ length: G }, (_, h) => `if (usedLane[${h}] > 0u) { atomicAdd(&usedHere[${h}], usedLane[${h}]); }`).join(' ')} }`, 1);
    case 'wgteam': {
      let s = swap(src, 'var usedLane = array<u32, G>();', 'if (lane == 0u) { for (var h = 0u; h < G; h++) { teamUsed[team * G + h] = 0u; } }', 1);
      s = swap(s, 'var<workgroup> usedHere', 'var<workgroup> teamUsed: array<u32, NT * G>;\nvar<workgroup> usedHere', 1);
      s = swap(s, 'if (t[b] > 0.0) { usedLane[h] += 1u; }', 'if (t[b] > 0.0 && lane == 0u) { teamUsed[team * G + h] += 1u; }', G);
      return swap(s, endFlush, 'if (lane == 0u) { for (var h = 0u; h < G; h++) { let c = teamUsed[team * G + h]; if (c > 0u) { atomicAdd(&usedHere[h], c); } } }', 1);
    }
    case 'count16': {
      let s = swap(src, 'var usedLane = array<u32, G>();', 'var usedPacked = array<u32, (G + 1u) / 2u>();', 1);
      for (let h = 0; h < G; h++) {
        s = swap(s, `{ const h = ${h}u;`, `{ const h = ${h}u; const one = ${h % 2 === 0 ? '1u' : '0x10000u'};`, 1);
      }
      s = swap(s, 'if (t[b] > 0.0) { usedLane[h] += 1u; }', 'if (t[b] > 0.0) { usedPacked[h / 2u] += one; }', G);
      return swap(s, endFlush, 'if (lane == 0u) { for (var h = 0u; h < G; h++) { let c = (usedPacked[h / 2u] >> (16u * (h % 2u))) & 0xffffu; if (c > 0u) { atomicAdd(&usedHere[h], c); } } }', 1);
    }
    case 'countvec': {
      if (G > 4) throw new Error('countvec: needs G ≤ 4');
      return swap(src, 'var usedLane = array<u32, G>();', 'var usedLane = vec4u();', 1);
    }
    case 'il': {
      const s = swap(src, 'let split = wid.x;', 'let split = wid.x / p.sub;', 1);
      return swap(s, 'let kvh = wid.y / p.sub; let head0 = kvh * p.groupSize + (wid.y % p.sub) * G;', 'let kvh = wid.y; let head0 = kvh * p.groupSize + (wid.x % p.sub) * G;', 1);
    }
    case 'loop': {
      if (G < 2) throw new Error('loop: needs G ≥ 2');
      const i0 = src.indexOf('{ const h = 0u;'), i1 = src.indexOf('{ const h = 1u;');
      const block = src.slice(i0, i1).trimEnd();
      const unrolled = Array.from({ length: G }, (_, h) => block.replace('{ const h = 0u;', `{ const h = ${h}u;`)).join('\n      ');
      return swap(src, unrolled, `for (var h = 0u; h < G; h++) ${block.replace('{ const h = 0u;', '{')}`, 1);
    }
    default: throw new Error(`unknown change ${change}`);
  }
}

/** ReLU's bias where every key has positive weight ('allpos'; the synthetic scores are O(10)). */
const ALL_POSITIVE_BIAS = -1e4;
const biasOf = (m: Mode, calibrated: number) => (m.kind === 'softmax' ? 0 : m.allPositive ? ALL_POSITIVE_BIAS : calibrated);

/** A plan for mode m with its own pipeline cache (so a rewritten kernel never serves another mode). */
function planFor(m: Mode, w: Workload, n: number, bias: number): { plan: WebGpuDecodePlan; pipelines: Pipelines } {
  const pipelines = new (Pipelines as unknown as new (d: GPUDevice) => Pipelines)(device);
  const plan = WebGpuDecodePlan.create(pipelines, { heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, storage: 'f16', maxLength: n,
    kind: m.kind, alpha: m.alpha, bias: biasOf(m, bias), targetWorkgroups: m.workgroups, usedCount: m.usedCount, ...m.tuning });
  const inner = plan as unknown as { G: number; sub: number };
  if (m.G !== undefined) {
    const group = w.heads / w.kvHeads;
    if (group % m.G !== 0 || m.G > inner.G) throw new Error(`mode ${m.name}: G must divide ${group} and be ≤ ${inner.G}`);
    inner.G = m.G; inner.sub = group / m.G; // fewer heads a workgroup: fewer splits each, the part buffer stays large enough
  }
  // A team (≥ 16 of them a workgroup) sees at most n / 16 keys of a split.
  if (m.rewrites.includes('count16') && n / 16 >= 65536) throw new Error(`mode ${m.name}: a lane's 16-bit count may overflow at n = ${n}`);
  const G = inner.G, get = pipelines.get.bind(pipelines);
  let rewritten = 0;
  pipelines.get = (key, source) => get(key, key.startsWith('plan-') && m.rewrites.length > 0
    ? () => {
      rewritten++;
      // 'loop' last: the other changes expect the per-head update written out G times.
      const order = [...m.rewrites.filter((c) => c !== 'loop'), ...m.rewrites.filter((c) => c === 'loop')];
      return order.reduce((s, c) => rewrite(s, c, G, m.alpha), source());
    } : source);
  Object.defineProperty(plan, 'rewritten', { get: () => rewritten });
  if (m.rewrites.includes('il')) {
    // The attention pass's grid (splits, kvHeads · sub) as (splits · sub, kvHeads); the merge's stays.
    const dispatch = pipelines.dispatch.bind(pipelines), sub = inner.sub;
    let attention: GPUComputePipeline | null = null;
    const find = pipelines.get;
    pipelines.get = (key, source) => { const p = find(key, source); if (key.startsWith('plan-')) attention = p; return p; };
    pipelines.dispatch = (enc, pipe, buffers, x, y, extra) => (pipe === attention ? dispatch(enc, pipe, buffers, x * sub, y / sub, extra) : dispatch(enc, pipe, buffers, x, y, extra));
  }
  return { plan, pipelines };
}

async function measure(full: Workload, n: number, bias: number): Promise<Record<string, unknown>> {
  const { heads, kvHeads, d, dv } = full, q = full.queries[0]!;
  const w: Workload = { ...full, n, keyHeads: full.keyHeads.map((k) => k.subarray(0, n * d)), valueHeads: full.valueHeads.map((v) => v.subarray(0, n * dv)) };
  const K = halves(w, n, 'keys'), V = halves(w, n, 'values');
  const stored: Workload = { ...w, keyHeads: K.stored, valueHeads: V.stored };
  const bufs = { queries: gpuBuffer(device, q), keys: gpuBuffer(device, K.bits), values: gpuBuffer(device, V.bits),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const modes = modeNames.map(parseMode), made = modes.map((m) => planFor(m, w, n, bias));
  const row: Record<string, unknown> = { workload: w.name, n, heads, kvHeads, d, bias, kvBytes: kvHeads * n * (d + dv) * 2 };
  const steps = (i: number, k: number) => (enc: GPUCommandEncoder) => { for (let r = 0; r < k; r++) made[i]!.plan.encode(enc, bufs, n); };
  const refs = new Map<string, Float64Array>();
  for (let i = 0; i < modes.length; i++) {
    const m = modes[i]!, { plan } = made[i]!;
    const enc = device.createCommandEncoder();
    steps(i, 1)(enc);
    device.queue.submit([enc.finish()]);
    const out = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4)), st = new Uint32Array(await readBuffer(device, plan.stats, heads * 16));
    if (m.rewrites.length > 0 && (plan as unknown as { rewritten: number }).rewritten !== 1) throw new Error(`mode ${m.name}: its kernel was not rewritten`);
    const refKey = `${m.kind}-${m.alpha}-${biasOf(m, bias)}`;
    if (!refs.has(refKey)) refs.set(refKey, referenceDecode(stored, q, m.kind, m.alpha, biasOf(m, bias)));
    const ref = refs.get(refKey)!;
    let err = 0, refMax = 0, used = 0;
    for (let j = 0; j < out.length; j++) { err = Math.max(err, Math.abs(out[j]! - ref[j]!)); refMax = Math.max(refMax, Math.abs(ref[j]!)); }
    for (let h = 0; h < heads; h++) used += st[4 * h + 1]!;
    Object.assign(row, { [`${m.name}.maxAbsErr`]: err, [`${m.name}.refMax`]: refMax, [`${m.name}.keysUsedPerHead`]: used / heads });
  }
  const t = await timeAlternating(device, modes.map((_, i) => (k: number) => steps(i, k)), { warmMs, reps, rounds, samples: sampleMode });
  Object.assign(row, timingFields(t, modes[0]!.name));
  modes.forEach((m, i) => { row[`${m.name}.ms`] = t.ms[i]; });
  for (let i = 0; i < modes.length; i++) {
    const p = await passesPerStep(device, made[i]!.pipelines, (k) => steps(i, k), reps);
    if (p) row[`${modes[i]!.name}.passes`] = p;
  }
  for (const m of modes) {
    row[`${m.name}.GBps`] = (row.kvBytes as number) / (row[`${m.name}.ms`] as number) / 1e6;
    row[`${m.name}.vsSoftmax`] = (row[`${m.name}.ms`] as number) / (row['softmax.ms'] as number);
    if (row['relu.ms'] !== undefined) row[`${m.name}.vsRelu`] = (row[`${m.name}.ms`] as number) / (row['relu.ms'] as number);
  }
  row.timing = adapter.timestamps ? 'timestamps' : 'submit to done';
  for (const x of made) x.plan.destroy();
  for (const b of Object.values(bufs)) b.destroy();
  return row;
}

const rows: Record<string, unknown>[] = [];
const save = () => {
  if (a.out) writeFileSync(a.out, JSON.stringify({ bench: 'webgpu-dense-variants', adapter, node: process.version, hostLoad: loadavg(), rounds, reps, warmMs, samples: sampleMode, modes: modeNames, unsupported,
    synthetic: 'llm (8 query / 2 KV heads, d = 128), f16 K/V', seconds: (performance.now() - t0) / 1000, rows }, null, 2) + '\n');
};
const full = syntheticWorkload('llm', ns.at(-1)!, 128, 8, 2, 1);
// Modes this device cannot run (a plan option's UNSUPPORTED, e.g. densePairFold's subgroup size) are left out, named in the JSON.
const unsupported: Record<string, string> = {};
modeNames = modeNames.filter((name) => {
  try { planFor(parseMode(name), full, ns[0]!, 0).plan.destroy(); return true; } catch (e) {
    if (!(e instanceof HsrError && e.code === 'UNSUPPORTED')) throw e;
    unsupported[name] = e.message; log({ unsupported: name, why: e.message }); return false;
  }
});
// ReLU's bias: ~2 % of the logits positive over the shortest context (calibrateReluBias).
const bias = calibrateReluBias({ ...full, n: ns[0]!, keyHeads: full.keyHeads.map((k) => k.subarray(0, ns[0]! * full.d)) });
for (const n of ns) { rows.push(await measure(full, n, bias)); log(rows.at(-1)); save(); }
save();
process.exit(0);
