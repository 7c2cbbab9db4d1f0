// Sparse WebGpuDecodePlan modes against the dense plan, kernel time only: the plans run over
// caller-owned f16 K/V buffers ([kvHeads, cap, d], 'llm' synthetic keys, 8 query / 2 KV heads,
// d = 128, one decode query), every step recorded into the caller's encoder with nothing read
// back — the path an engine takes. For each context length the contenders alternate in rounds;
// a sample is k ≥ `reps` steps (≥ ~2 ms), timed by GPU timestamps around them (Dawn's timestamp
// quantization off where the package allows, so short passes are resolved), a round's samples back
// to back on the GPU; medians and ratios to the dense plan come from the same rounds. The timing is
// bench/lib/gpu-steps.ts's, shared with bench/webgpu-dense-variants.ts (--samples apart: each
// sample submitted and read back alone, the method up to H100 run 16). Each mode's output is
// checked once against the float64 reference of the stored data, and its stats (keys kept,
// errorBound) read from the plan's stats buffer. `MODE.passes` splits a
// step's GPU time by pass (each pass then carries its timestamps' overhead, ~10 µs on the H100 of
// run 5); `MODE.rowsGathered` counts the K/V rows the gathered attention reads a step (every id
// list: exact ReLU and certified keep one list a KV group, the union of its heads'; keysScoredPerHead
// is then the list's length), `MODE.gatherGBps` those rows' bytes over the pass's time.
// A last row times KVCache.attendAsync (host included) at the smallest n.
// --filters int8,int4,int4-gather adds exact ReLU with the 4-bit first filter (`relu-ACT-int4`,
// `relu-ACT-int4-gather`: plan option firstFilter) beside the int8 scan's `relu-ACT`, in the same
// rounds; `MODE.firstFilterPerList` counts the keys it let through a KV group. proj, proj-gather,
// projR, projR-gather: the projection first filter (firstFilter 'proj' / 'proj-gather', projectionRank R,
// default 8), e.g. `relu-0.01-proj-gather`.
//
// --sparse-pass split,fused adds exact ReLU through the fused pass (`relu-ACT-fused`: plan option
// sparsePass 'fused', one pass that scans and attends, the int8 scan's rule; `relu-ACT-int4-gather-fused`,
// `relu-ACT-proj-gather-fused` with --filters int4-gather / proj-gather: the 4-bit codes' or the
// projections' rule) beside the split passes' `relu-ACT`, in the same rounds; --fused-workgroups
// 264,1056 adds `relu-ACT-fused-wN` for each N but the plan's default (its targetWorkgroups: blocks
// of keys a pass); --fused-keys-per-thread 1,2,4 adds `relu-ACT-fused-kK` (and
// `relu-ACT-FILTER-fused-kK`; plan option fusedKeysPerThread: codes scanned K keys a thread a tile);
// --fused-prefetch 0,1 adds `relu-ACT-fused-pf` (and `-kK-pf`: plan option fusedPrefetch, int8 and projections,
// each tile's codes loaded while the tile before is scanned); --fused-lean 0,1 adds `-fat` (plan
// option fusedLeanState false: the attention's state in registers through the scan; the default
// lean state keeps the queries in workgroup memory and takes 2 keys a team step); --fused-count
// lanes,workgroup adds `-count-V` for V but the plan's FUSED_USED_COUNT (plan option usedCount: where
// the fused pass counts the keys of positive weight); the fused variants' options combine, e.g.
// `relu-0.01-fused-k4-pf-count-workgroup`; --gathered-lean 0,1 adds `certified-lean` and `relu-ACT[-FILTER]-lean`
// (plan option gatheredLeanState: the split path's gathered attention with that lean state). --split-workgroups 264,1056 adds
// `NAME-wN` for the split contenders (targetWorkgroups N: the scan's and the gathered pass' workgroups).
// --proj-keys 1,2,4 adds `NAME-passK` for the split projection contenders: the plan's
// projectionKeysPerThread K (the projection scan's keys a thread; 8, the default, is the plain contender).
// --gathered-step-keys 2,4,8 adds `NAME-bK` for the split contenders (plan option gatheredStepKeys: keys
// each team of the gathered attention takes a step of its key loop; the plan's default is 4; with
// --split-workgroups also `NAME-bK-wN`).
//
// --gathered-variants ld,sp,ld+sp adds `NAME-V` for the split exact-ReLU and certified contenders,
// V the variant's '+'-joined tokens joined by '-': ld — gatheredLoads 'batched' (a step's K/V words
// all loaded before any is used, the first ids before the query), sp — gatheredChunks 'spanning'
// (the chunks laid over the lists end to end, one may cross two; the default is 'aligned'), bK —
// gatheredStepKeys K.
//
// --certified-variants pq,ck8,pq+ck8 adds `NAME-pq`, `NAME-ck8`, `NAME-pq-ck8` for the split certified
// contenders: pq (projection contenders only), plan option certifiedQuery 'proj' (the projection's
// query pass alone sets the anchor: no int8 query pass); ckK, certifiedCompactKeys K (keys a
// compaction thread).
//
// --prefixes 1 times each sparse contender's step also cut after its first j passes (`NAME@pj.ms`,
// in the same rounds; the cut steps compute nothing useful) and writes `NAME.passMs`: the passes'
// own times as differences of those medians, free of the ~10 µs a pass that per-pass timestamps
// add (`NAME.passOrder`: the passes' labels, first occurrences, from the timestamped split).
//
// certified-fused: certified ε through the fused pass (plan option sparsePass 'fused': query, scan,
// histogram, then one pass that cuts and attends, then the merge); certified-top-sum-fused the same
// with the top-sum cut; with --fused-workgroups also `certified-fused-wN`, with --fused-keys-per-thread
// `certified-fused-kK`.
//
// certified-proj, certified-proj16 (and -top-sum, and -fused): certified ε whose scan buckets the
// projection first filter's bounds (plan option firstFilter 'proj', projectionRank 8 / 16) instead of
// the int8 codes'.
//
// Before a row's rounds the dense plan runs until its step time stops falling (bench/lib/gpu-steps.ts
// warmUp: ≥ --warm-ms, samples of ≥ 4 ms, at most 4× that); `warmFirstStepMs` / `warmLastStepMs`
// record the ramp, `warmSettled` whether it ended before its cap, `dense.roundsMs` the dense step's
// time in each round (the GPU's drift).
//
// Workload: the 'llm' synthetic instance is generated once at --workload-n keys (default 524288) and
// each --n times its first n keys, so the instance at an n does not depend on the other lengths
// asked for (certified's keep fraction, and so its speed, moves several-fold between instances:
// docs/webgpu.md "Speed"); --n beyond --workload-n is refused. --seeds 1,2,3 times one instance a
// seed (its keys, values and query: syntheticWorkload's seed) at every n, a row each (`seed`), then
// a row a length (`what: 'seed spread'`) with each contender's median, min and max over the seeds of
// its step time, speedup over dense, kept fraction (`NAME.keptFraction`: keys scored a head over n)
// and errorBoundMax (`NAME.ms.median`, `NAME.ms.min`, `NAME.ms.max`, …).
//
// --modes picks the contenders by name (default all: dense, certified, certified-top-sum, certified-w1056,
// certified-fused, certified-proj…, relu-dense, relu-<activation>); --host 0 skips the attendAsync row.
//
//   node --import tsx bench/webgpu-sparse-plan.ts [--n 32768,131072,524288] [--workload-n 524288] [--seeds 1] [--epsilon 1e-3]
//     [--activations 0.03,0.01] [--filters int8,int4] [--rounds 7] [--reps 20] [--warm-ms 1500] [--dump data/dev_c_l2.safetensors] [--out file.json]
//     [--modes dense,certified,...] [--host 1] [--sparse-pass split,fused] [--fused-workgroups 264,1056] [--fused-keys-per-thread 1,2,4]
//     [--split-workgroups 264,1056] [--prefixes 1] [--proj-keys 1,2,4]
//     [--fused-prefetch 0,1] [--fused-lean 0,1] [--fused-count lanes,workgroup] [--gathered-lean 0,1] [--gathered-step-keys 1,2,8]
//     [--gathered-variants ld,sp]
//     [--certified-variants pq,ck8,pq+ck8] [--samples together|apart]
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { KVCache, WebGpuDecodePlan, webGpuDevice, type DecodePlanOptions } from '../src/index.js';
import { readBuffer } from '../src/webgpu/device.js';
import type { GpuDecoder } from '../src/webgpu/decoder.js';
import { DEFAULT_WORKGROUPS, FUSED_USED_COUNT, GATHERED_STEP_KEYS } from '../src/webgpu/plan-options.js';
import { Pipelines } from '../src/webgpu/pipelines.js';
import type { UsedCount } from '../src/webgpu/attend-kernel.js';
import { PROJ_DEFAULT_KEYS_PER_THREAD } from '../src/webgpu/proj-filter.js';
import { passesPerStep, samplesOption, timeAlternating, timingFields } from './lib/gpu-steps.js';
import { dumpWorkload, referenceDecode, syntheticWorkload, type Workload } from './lib/keys.js';
import { loadDumpTensors } from '../src/node/workloads.js';
import { median } from './lib/measure.js';
import { exactTimestampGpu } from './lib/dawn.js';
import { gpuBuffer as bufferOn, halves } from './lib/webgpu-kv.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,131072,524288' }, epsilon: { type: 'string', default: '1e-3' },
  activations: { type: 'string', default: '0.03,0.01' }, rounds: { type: 'string', default: '7' }, reps: { type: 'string', default: '20' },
  'warm-ms': { type: 'string', default: '1500' }, dump: { type: 'string' }, out: { type: 'string' }, samples: { type: 'string', default: 'together' },
  modes: { type: 'string' }, host: { type: 'string', default: '1' },
  filters: { type: 'string', default: 'int8' }, 'sparse-pass': { type: 'string', default: 'split' }, 'fused-workgroups': { type: 'string', default: '' }, 'fused-keys-per-thread': { type: 'string', default: '' },
  'split-workgroups': { type: 'string', default: '' }, prefixes: { type: 'string', default: '0' }, 'proj-keys': { type: 'string', default: '' },
  'fused-prefetch': { type: 'string', default: '' }, 'fused-lean': { type: 'string', default: '' }, 'gathered-lean': { type: 'string', default: '' },
  'gathered-step-keys': { type: 'string', default: '' }, 'fused-count': { type: 'string', default: '' }, 'gathered-variants': { type: 'string', default: '' },
  'certified-variants': { type: 'string', default: '' }, 'workload-n': { type: 'string', default: '524288' }, seeds: { type: 'string', default: '1' },
} });
/** --gathered-variants: the split path's gathered-pass tuning options by token (ld, sp, bK), '+' joining tokens. */
const gatheredVariants = (a['gathered-variants'] ? a['gathered-variants'].split(',') : []).map((v) => ({
  name: v.split('+').join('-'),
  options: Object.assign({}, ...v.split('+').map((token): Partial<DecodePlanOptions> => {
    if (token === 'ld') return { gatheredLoads: 'batched' };
    if (token === 'sp') return { gatheredChunks: 'spanning' };
    const m = /^b(\d+)$/.exec(token);
    if (!m) throw new Error(`--gathered-variants: expected tokens ld, sp or bK joined by '+', got ${v}`);
    return { gatheredStepKeys: Number(m[1]) as 1 | 2 | 4 | 8 };
  })) as Partial<DecodePlanOptions>,
}));
/** --gathered-step-keys: gatheredStepKeys values besides the plan's default (GATHERED_STEP_KEYS: the plain contender). */
const gatheredStepKeys = (a['gathered-step-keys'] ? a['gathered-step-keys'].split(',').map(Number) : [])
  .filter((b) => b !== GATHERED_STEP_KEYS) as NonNullable<DecodePlanOptions['gatheredStepKeys']>[];
const sparsePasses = a['sparse-pass']!.split(',') as NonNullable<DecodePlanOptions['sparsePass']>[];
const fusedWorkgroups = a['fused-workgroups'] ? a['fused-workgroups'].split(',').map(Number) : [];
const fusedKpt = a['fused-keys-per-thread'] ? a['fused-keys-per-thread'].split(',').map(Number) as (1 | 2 | 4)[] : [];
const fusedPrefetch = a['fused-prefetch'] ? a['fused-prefetch'].split(',').map((x) => x === '1') : [];
const fusedLean = a['fused-lean'] ? a['fused-lean'].split(',').map((x) => x === '1') : [];
/** --fused-count lanes,workgroup: the fused pass's usedCount values (contenders `-count-V` for those but the plan's default). */
const fusedCount = a['fused-count'] ? a['fused-count'].split(',') as UsedCount[] : [];
const gatheredLean = (a['gathered-lean'] ?? '').split(',').includes('1');
/** --certified-variants pq,ck8,pq+ck8: each a set of the certified pipeline's tuning options (pq: certifiedQuery 'proj', ckK: certifiedCompactKeys K). */
const certifiedVariants = (a['certified-variants'] ? a['certified-variants'].split(',') : []).map((v) => {
  const parts = v.split('+');
  if (parts.some((x) => !/^(pq|ck[1248])$/.test(x))) throw new Error(`--certified-variants: expected pq, ck1/2/4/8 or a + of them (e.g. pq+ck8), got ${v}`);
  return parts;
});
const splitWorkgroups = a['split-workgroups'] ? a['split-workgroups'].split(',').map(Number) : [];
const prefixes = a.prefixes === '1';
/** --proj-keys 1,4: projectionKeysPerThread values besides the plan's default (contenders `NAME-passK`, the names earlier runs used). */
const projKeys = (a['proj-keys'] ? a['proj-keys'].split(',').map(Number) : []).filter((k) => k !== PROJ_DEFAULT_KEYS_PER_THREAD);
/** --filters names: the plan's firstFilter values, and 'projR' / 'projR-gather' for projectionRank R ('proj' is R = 8). */
function filterOptions(name: string): Pick<DecodePlanOptions, 'firstFilter' | 'projectionRank'> {
  const proj = /^proj(\d+)?(-gather)?$/.exec(name);
  if (proj) return { firstFilter: proj[2] ? 'proj-gather' : 'proj', projectionRank: Number(proj[1] ?? 8) };
  return { firstFilter: name as DecodePlanOptions['firstFilter'] };
}
const filters = a.filters!.split(',');
const ns = a.n!.split(',').map(Number).sort((x, y) => x - y), eps = Number(a.epsilon), rounds = Number(a.rounds), reps = Number(a.reps);
const activations = a.activations!.split(',').map(Number), warmMs = Number(a['warm-ms']);
const sampleMode = samplesOption(a.samples);
const modes = a.modes?.split(',');
const workloadN = Number(a['workload-n']), seeds = a.seeds!.split(',').map(Number);
if (!Number.isInteger(workloadN) || workloadN < 1 || ns.some((n) => n > workloadN)) throw new Error(`--workload-n: expected an integer ≥ every --n (${ns.at(-1)}), got ${a['workload-n']}`);
if (seeds.some((x) => !Number.isInteger(x))) throw new Error(`--seeds: expected integers, got ${a.seeds}`);
const t0 = performance.now();
const log = (x: unknown) => console.log(JSON.stringify(x));

const gpu = await exactTimestampGpu();
const device = await webGpuDevice(gpu ?? undefined);
const exactTimestamps = gpu !== null;
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
const adapter = { description: info?.description, timestamps: device.features.has('timestamp-query'), exactTimestamps, subgroups: device.features.has('subgroups') };
log(adapter);
const pipelines = Pipelines.of(device);

const gpuBuffer = (data: ArrayBufferView) => bufferOn(device, data);
const read = (src: GPUBuffer, bytes: number) => readBuffer(device, src, bytes);

/** The ReLU bias that leaves about `target` of one query's logits (all heads) above it, at length n. */
function reluBias(w: Workload, n: number, q: Float32Array, target: number): number {
  const s: number[] = [], group = w.heads / w.kvHeads, step = Math.max(1, Math.floor(n / 8192)), scale = 1 / Math.sqrt(w.d);
  for (let j = 0; j < n; j += step) {
    for (let h = 0; h < w.heads; h++) {
      const k = w.keyHeads[Math.floor(h / group)]!;
      let dot = 0;
      for (let c = 0; c < w.d; c++) dot += q[h * w.d + c]! * k[j * w.d + c]!;
      s.push(dot * scale);
    }
  }
  s.sort((x, y) => y - x);
  return s[Math.floor(target * s.length)]!;
}

interface Contender { name: string; options: Omit<DecodePlanOptions, 'heads' | 'kvHeads' | 'headDim' | 'storage' | 'maxLength'> }

/** Every contender over the first n positions of w (K/V buffers hold cap ≥ n rows per KV head). */
async function measure(w: Workload, n: number): Promise<Record<string, unknown>> {
  const { heads, kvHeads, d, dv } = w, q = w.queries[0]!;
  const prefix: Workload = { ...w, n, keyHeads: w.keyHeads.map((k) => k.subarray(0, n * d)), valueHeads: w.valueHeads.map((v) => v.subarray(0, n * dv)) };
  const K = halves(prefix, n, 'keys'), V = halves(prefix, n, 'values');
  const stored: Workload = { ...prefix, keyHeads: K.stored, valueHeads: V.stored };
  const bufs = { queries: gpuBuffer(q), keys: gpuBuffer(K.bits), values: gpuBuffer(V.bits),
    output: device.createBuffer({ size: heads * dv * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) };
  const contenders: Contender[] = [
    { name: 'dense', options: { kind: 'softmax' } },
    { name: 'certified', options: { kind: 'softmax', sparsity: { epsilon: eps } } },
    // The global cut with L's top bucket from the scan's sums (no e^{7.875} cap; src/webgpu/certified-cut.ts).
    { name: 'certified-top-sum', options: { kind: 'softmax', sparsity: { epsilon: eps }, certifiedCut: 'global-top-sum' } },
    // The same with 4× the workgroups (scan and gathered attention): the default's tuning check.
    { name: 'certified-w1056', options: { kind: 'softmax', sparsity: { epsilon: eps }, targetWorkgroups: 1056 } },
    // Certified ε on the projection first filter's bounds (firstFilter 'proj', proj-certified.ts: the scan reads
    // 2R + 8 bytes a key for the int8 codes' 144), R = 8 and 16, each cut, the split and the fused step.
    ...[8, 16].flatMap((R) => (['global', 'global-top-sum'] as const).flatMap((cut) => (['split', 'fused'] as const).map((sp): Contender => ({
      name: `certified-proj${R === 8 ? '' : R}${cut === 'global' ? '' : '-top-sum'}${sp === 'split' ? '' : '-fused'}`,
      options: { kind: 'softmax', sparsity: { epsilon: eps }, firstFilter: 'proj', projectionRank: R, certifiedCut: cut, sparsePass: sp } })))),
    ...(gatheredLean ? [{ name: 'certified-lean', options: { kind: 'softmax', sparsity: { epsilon: eps }, gatheredLeanState: true } } as const] : []),
    // Certified through the fused pass: the cut in every workgroup of the attention pass, the kept
    // keys read off the scan's bytes (no cut pass, no compaction: 5 passes; src/webgpu/certified-keep.ts).
    { name: 'certified-fused', options: { kind: 'softmax', sparsity: { epsilon: eps }, sparsePass: 'fused' } },
    { name: 'certified-top-sum-fused', options: { kind: 'softmax', sparsity: { epsilon: eps }, sparsePass: 'fused', certifiedCut: 'global-top-sum' } },
    ...fusedWorkgroups.filter((x) => x !== DEFAULT_WORKGROUPS).map((t) => ({ name: `certified-fused-w${t}`, options: { kind: 'softmax', sparsity: { epsilon: eps }, sparsePass: 'fused', targetWorkgroups: t } } as const)),
    ...fusedKpt.filter((x) => x !== 1).map((k) => ({ name: `certified-fused-k${k}`, options: { kind: 'softmax', sparsity: { epsilon: eps }, sparsePass: 'fused', fusedKeysPerThread: k } } as const)),
    { name: 'relu-dense', options: { kind: 'relu', alpha: 1, bias: reluBias(w, n, q, activations[0]!) } },
  ];
  for (const act of activations) {
    for (const f of filters) {
      for (const sp of f === 'int8' || f.endsWith('-gather') ? sparsePasses : ['split' as const]) {
        const name = `relu-${act}${f === 'int8' ? '' : `-${f}`}${sp === 'split' ? '' : `-${sp}`}`;
        const options = { kind: 'relu', alpha: 1, bias: reluBias(w, n, q, act), sparsity: 'exact', ...filterOptions(f), sparsePass: sp } as const;
        contenders.push({ name, options });
        if (sp === 'split' && gatheredLean) contenders.push({ name: `${name}-lean`, options: { ...options, gatheredLeanState: true } });
        if (sp === 'fused') for (const t of fusedWorkgroups.filter((x) => x !== DEFAULT_WORKGROUPS)) contenders.push({ name: `${name}-w${t}`, options: { ...options, targetWorkgroups: t } });
        if (sp === 'fused') {
          // Every combination of the tuning values asked for, each named by what differs from the plan's defaults
          // (prefetching: the int8 codes' and the projections').
          for (const k of [1, ...fusedKpt.filter((x) => x !== 1)] as const) for (const pf of [false, ...fusedPrefetch.filter((x) => x && (f === 'int8' || f.startsWith('proj')))])
            for (const lean of [true, ...fusedLean.filter((x) => !x)]) for (const count of [FUSED_USED_COUNT, ...fusedCount.filter((x) => x !== FUSED_USED_COUNT)]) {
              if (k === 1 && !pf && lean && count === FUSED_USED_COUNT) continue; // the plain fused contender
              contenders.push({ name: `${name}${k > 1 ? `-k${k}` : ''}${pf ? '-pf' : ''}${lean ? '' : '-fat'}${count === FUSED_USED_COUNT ? '' : `-count-${count}`}`,
                options: { ...options, fusedKeysPerThread: k, ...(pf ? { fusedPrefetch: true } : {}), fusedLeanState: lean, usedCount: count } });
            }
        }
        if (sp === 'split') for (const t of splitWorkgroups.filter((x) => x !== DEFAULT_WORKGROUPS)) contenders.push({ name: `${name}-w${t}`, options: { ...options, targetWorkgroups: t } });
        if (sp === 'split' && f.startsWith('proj')) for (const k of projKeys) contenders.push({ name: `${name}-pass${k}`, options: { ...options, projectionKeysPerThread: k } });
        if (sp === 'split') for (const v of gatheredVariants) contenders.push({ name: `${name}-${v.name}`, options: { ...options, ...v.options } });
        if (sp === 'split') {
          for (const b of gatheredStepKeys) {
            contenders.push({ name: `${name}-b${b}`, options: { ...options, gatheredStepKeys: b } });
            for (const t of splitWorkgroups.filter((x) => x !== DEFAULT_WORKGROUPS)) contenders.push({ name: `${name}-b${b}-w${t}`, options: { ...options, gatheredStepKeys: b, targetWorkgroups: t } });
          }
        }
      }
    }
  }
  for (const c of gatheredStepKeys.length > 0 ? contenders.filter((x) => x.name.startsWith('certified') && !x.options.gatheredLeanState) : []) {
    for (const b of gatheredStepKeys) contenders.push({ name: `${c.name}-b${b}`, options: { ...c.options, gatheredStepKeys: b } });
  }
  // --certified-variants: the split certified contenders with the pipeline's tuning options.
  const certifiedSplit = contenders.filter((x) => x.name.startsWith('certified') && x.options.sparsePass !== 'fused' && !/-b\d$/.test(x.name));
  for (const c of certifiedSplit) {
    for (const v of certifiedVariants.filter((x) => !x.includes('pq') || c.options.firstFilter === 'proj')) {
      const ck = v.find((x) => x.startsWith('ck'));
      contenders.push({ name: `${c.name}-${v.join('-')}`, options: { ...c.options, ...(v.includes('pq') ? { certifiedQuery: 'proj' as const } : {}),
        ...(ck ? { certifiedCompactKeys: Number(ck.slice(2)) as 1 | 2 | 4 | 8 } : {}) } });
    }
  }
  // The gathered variants of the certified split contenders too.
  for (const c of certifiedSplit.filter((x) => !x.options.gatheredLeanState)) {
    for (const v of gatheredVariants) contenders.push({ name: `${c.name}-${v.name}`, options: { ...c.options, ...v.options } });
  }
  // --modes: the dense plan stays (every ratio is against it).
  const wanted = (name: string) => !modes || name === 'dense' || modes.includes(name);
  // A misspelt mode would otherwise vanish from the results, noticed only after a GPU run.
  const unknown = (modes ?? []).filter((m) => !contenders.some((c) => c.name === m));
  if (unknown.length > 0) throw new Error(`--modes: expected contender names, got ${unknown.join(', ')} (this row has ${contenders.map((c) => c.name).join(', ')})`);
  contenders.splice(0, contenders.length, ...contenders.filter((c) => wanted(c.name)));
  // Certified contenders time the selection at every length (certifiedDenseMax 0; the default runs
  // steps up to 131072 keys dense: the dense row is that step).
  const plans = contenders.map((c) => WebGpuDecodePlan.create(device, { heads, kvHeads, headDim: d, valueDim: dv, storage: 'f16', maxLength: n,
    ...(typeof c.options.sparsity === 'object' && 'epsilon' in c.options.sparsity ? { certifiedDenseMax: 0 } : {}), ...c.options }));
  const row: Record<string, unknown> = { workload: w.name, n, heads, kvHeads, d, kvBytes: kvHeads * n * (d + dv) * 2 };
  /** Records k steps of contender i (each cut after its first `stopAt` passes if given). */
  const steps = (i: number, k: number, stopAt: number | null = null) => (enc: GPUCommandEncoder) => {
    pipelines.stopAt = stopAt;
    try {
      for (let r = 0; r < k; r++) { pipelines.passes = 0; plans[i]!.encode(enc, bufs, n); }
    } finally { pipelines.stopAt = null; }
  };
  // One checked step each (sparse plans code their keys here, on demand), against the float64
  // reference of its weighting (computed once per kind, α and bias: contenders share them).
  const references = new Map<string, ArrayLike<number>>();
  for (let i = 0; i < plans.length; i++) {
    const c = contenders[i]!, plan = plans[i]!;
    const enc = device.createCommandEncoder();
    steps(i, 1)(enc);
    device.queue.submit([enc.finish()]);
    const out = new Float32Array(await read(bufs.output, heads * dv * 4)), st = await read(plan.stats, heads * 16);
    const words = new Uint32Array(st), bounds = new Float32Array(st);
    const refKey = `${c.options.kind}-${c.options.alpha ?? 1}-${c.options.bias ?? 0}`;
    const ref = references.get(refKey) ?? referenceDecode(stored, q, c.options.kind, c.options.alpha ?? 1, c.options.bias ?? 0);
    references.set(refKey, ref);
    let err = 0, refMax = 0;
    for (let j = 0; j < out.length; j++) { err = Math.max(err, Math.abs(out[j]! - ref[j]!)); refMax = Math.max(refMax, Math.abs(ref[j]!)); }
    let scored = 0, used = 0, bound = 0;
    for (let h = 0; h < heads; h++) { scored += words[4 * h]!; used += words[4 * h + 1]!; bound = Math.max(bound, bounds[4 * h + 2]!); }
    Object.assign(row, { [`${c.name}.maxAbsErr`]: err, [`${c.name}.refMax`]: refMax, [`${c.name}.keysScoredPerHead`]: scored / heads, [`${c.name}.keysUsedPerHead`]: used / heads,
      [`${c.name}.keptFraction`]: scored / heads / Math.max(n, 1) });
    if (c.options.bias !== undefined) row[`${c.name}.bias`] = c.options.bias;
    const sel = plan.selected;
    if (sel) {
      const lists = heads / sel.headsPerList, counts = new Uint32Array(await read(sel.counts, 4 * Math.ceil(lists / 4) * 4));
      row[`${c.name}.rowsGathered`] = counts.subarray(0, lists).reduce((x, y) => x + y, 0);
    }
    const cand = plan.firstFilterCandidates;
    if (cand) {
      const lists = heads / cand.headsPerList, counts = new Uint32Array(await read(cand.counts, 4 * Math.ceil(lists / 4) * 4));
      row[`${c.name}.firstFilterPerList`] = Array.from(counts.subarray(0, lists));
    }
    if (c.name.startsWith('certified')) row[`${c.name}.errorBoundMax`] = bound;
  }
  // --prefixes 1: each sparse contender's step also cut after its first 1, 2, … passes (`NAME@pJ`),
  // timed in the same rounds: the differences are the passes' own times without per-pass timestamps.
  const timed = contenders.map((c, i) => ({ name: c.name, i, stopAt: null as number | null }));
  if (prefixes) {
    for (let i = 0; i < plans.length; i++) {
      if (!contenders[i]!.options.sparsity) continue;
      pipelines.passes = 0;
      const enc = device.createCommandEncoder();
      steps(i, 1)(enc);
      pipelines.endPass();
      enc.finish();
      const count = pipelines.passes;
      for (let j = 1; j < count; j++) timed.push({ name: `${contenders[i]!.name}@p${j}`, i, stopAt: j });
    }
  }
  // Warm the GPU up on the dense steps (timed[0]), then alternate.
  const timing = await timeAlternating(device, timed.map((c) => (k: number) => steps(c.i, k, c.stopAt)), { warmMs, reps, rounds, samples: sampleMode });
  Object.assign(row, timingFields(timing, timed[0]!.name));
  timed.forEach((c, x) => { row[`${c.name}.ms`] = timing.ms[x]; });
  for (const c of contenders) {
    const cuts = timed.filter((x) => x.name.startsWith(`${c.name}@p`)).map((x) => row[`${x.name}.ms`] as number);
    if (cuts.length === 0) continue;
    const cumulative = [...cuts, row[`${c.name}.ms`] as number];
    row[`${c.name}.passMs`] = cumulative.map((t, j) => t - (j > 0 ? cumulative[j - 1]! : 0));
  }
  for (let i = 0; i < plans.length; i++) {
    const passes = await passesPerStep(device, pipelines, (k) => steps(i, k), reps);
    if (!passes) continue;
    const name = contenders[i]!.name;
    row[`${name}.passes`] = passes;
    if (row[`${name}.passMs`]) row[`${name}.passOrder`] = Object.keys(passes).filter((x) => x !== 'between');
    // The gathered pass's rate: its prefix-difference time where the passes line up with their labels, else its timestamped one.
    const rows = row[`${name}.rowsGathered`] as number | undefined, order = Object.keys(passes).filter((x) => x !== 'between');
    const gather = order.find((x) => x.startsWith('attend-gather')), own = row[`${name}.passMs`] as number[] | undefined;
    const gatherMs = gather && (own?.length === order.length ? own[order.indexOf(gather)] : passes[gather]);
    if (rows !== undefined && gatherMs) row[`${name}.gatherGBps`] = (rows * (d + dv) * 2) / gatherMs / 1e6;
  }
  const dense = row['dense.ms'] as number;
  row['dense.GBps'] = (row.kvBytes as number) / dense / 1e6;
  for (const c of contenders.filter((x) => x.name !== 'dense' && x.name !== 'relu-dense')) {
    // Exact ReLU against dense ReLU where it ran, else against dense softmax (the same bytes).
    row[`${c.name}.speedup`] = (c.name.startsWith('relu') ? row['relu-dense.ms'] as number ?? dense : dense) / (row[`${c.name}.ms`] as number);
  }
  for (const c of contenders.filter((x) => x.options.sparsity === 'exact')) row[`${c.name}.vsSoftmaxDense`] = dense / (row[`${c.name}.ms`] as number);
  row.timing = adapter.timestamps ? 'timestamps' : 'submit to done';
  for (const p of plans) p.destroy();
  for (const b of Object.values(bufs)) b.destroy();
  return row;
}

/**
 * Host overhead of KVCache.attendAsync (query upload, encode, submit, readback of output and
 * stats) at length n: its median wall time against the same cache's GPU time per step.
 */
async function hostOverhead(w: Workload, n: number): Promise<Record<string, unknown>> {
  const { heads, kvHeads, d, dv } = w, q = w.queries[0]!, row: Record<string, unknown> = { workload: w.name, n, what: 'KVCache.attendAsync' };
  for (const [name, sparsity] of [['dense', 'dense'], ['certified', { epsilon: eps }]] as const) {
    const cache = await KVCache.create({ heads, kvHeads, headDim: d, valueDim: dv, kind: 'softmax', sparsity, backend: 'webgpu', storage: 'f16', gpu: gpu ?? undefined });
    cache.append(w.keys.subarray(0, n * kvHeads * d), w.values.subarray(0, n * kvHeads * dv));
    const dec = (cache as unknown as { gpu: GpuDecoder }).gpu;
    for (let i = 0; i < 20; i++) await cache.attendAsync(q);
    const wall: number[] = [], onGpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      onGpu.push(await dec.timeSteps(q, reps));
      for (let i = 0; i < 10; i++) { const t = performance.now(); await cache.attendAsync(q); wall.push(performance.now() - t); }
    }
    row[`${name}.attendAsyncMs`] = median(wall); row[`${name}.gpuMs`] = median(onGpu);
    dec.destroy();
  }
  return row;
}

/** Per contender of the rows (one a seed, same n): median, min and max of its time, speedup, kept fraction and bound. */
function seedSpread(seedRows: Record<string, unknown>[]): Record<string, unknown> {
  const first = seedRows[0]!, row: Record<string, unknown> = { workload: first.workload, n: first.n, what: 'seed spread', seeds: seedRows.map((r) => r.seed) };
  for (const key of Object.keys(first).filter((k) => /\.(ms|speedup|keptFraction|errorBoundMax)$/.test(k) && !k.includes('@p'))) {
    const xs = seedRows.map((r) => r[key]).filter((x): x is number => typeof x === 'number');
    if (xs.length === seedRows.length) Object.assign(row, { [`${key}.median`]: median(xs), [`${key}.min`]: Math.min(...xs), [`${key}.max`]: Math.max(...xs) });
  }
  return row;
}

const rows: Record<string, unknown>[] = [];
const save = () => {
  if (a.out) writeFileSync(a.out, JSON.stringify({ bench: 'webgpu-sparse-plan', adapter, node: process.version, hostLoad: loadavg(), epsilon: eps, activations, rounds, reps, warmMs, samples: sampleMode, modes, sparsePasses, fusedWorkgroups, fusedKpt, splitWorkgroups, prefixes, projKeys, fusedPrefetch, fusedLean, fusedCount, gatheredLean, gatheredStepKeys, gatheredVariants: gatheredVariants.map((v) => v.name),
    certifiedVariants: certifiedVariants.map((v) => v.join('+')),
    synthetic: 'llm (8 query / 2 KV heads, d = 128), f16 K/V', workloadN, seeds, seconds: (performance.now() - t0) / 1000, rows }, null, 2) + '\n');
};
for (const file of a.dump ? a.dump.split(',') : []) {
  const t = loadDumpTensors(file);
  const w = dumpWorkload(basename(file), t, 1, { alpha: 1, bias: 0 });
  if (w.d % 16 === 0) { rows.push(await measure(w, w.n)); log(rows.at(-1)); save(); }
}
if (ns.length > 0) {
  const bySeed: Record<string, unknown>[] = [];
  for (const seed of seeds) {
    // Generated at workloadN whatever the lengths timed: the instance at n is the same in every run.
    const full = syntheticWorkload('llm', workloadN, 128, 8, 2, 1, seed);
    for (const n of ns) { const row = { seed, workloadN, ...await measure(full, n) }; rows.push(row); bySeed.push(row); log(row); save(); }
    if (a.host !== '0' && seed === seeds[0]) { rows.push(await hostOverhead(full, ns[0]!)); log(rows.at(-1)); save(); }
  }
  if (seeds.length > 1) for (const n of ns) { rows.push(seedSpread(bySeed.filter((r) => r.n === n))); log(rows.at(-1)); save(); }
}
save();
process.exit(0);
