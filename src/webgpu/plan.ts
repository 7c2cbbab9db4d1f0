/// <reference types="@webgpu/types" />
/**
 * WebGpuDecodePlan: a decode step's passes over the caller's GPU buffers — dense, or a sparse
 * rule's selection then attention (split or fused) — and the merge of their partial states. Its
 * options, defaults and their check: plan-options.ts.
 */
import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import { mergeGroups, mergeSource, type StatsMode } from './wgsl.js';
import { attendSource, fitsHeads, keysPerStep, lanesFor, leanBytes } from './attend-kernel.js';
import { allOrNone, gpuBuffer } from './device.js';
import { Pipelines, upload } from './pipelines.js';
import { CodeSelection } from './selection.js';
import { PROJ_DEFAULT_KEYS_PER_THREAD } from './proj-filter.js';
import { headsPerScan } from './select-wgsl.js';
import { FusedPass, fusedBlocks } from './fused-kernel.js';
import { nibbleKeepRule, projKeepRule } from './fused-wgsl.js';
import { certifiedKeepRule } from './certified-keep.js';
import { CERTIFIED_COMPACT_KEYS, CERTIFIED_DENSE_MAX, checkPlanOptions, DEFAULT_WORKGROUPS, FUSED_MAX_LENGTH, FUSED_USED_COUNT, GATHERED_CHUNKS,
  GATHERED_STEP_KEYS, hasFusedPass, type CheckedPlanOptions, type DecodePlanOptions, type PlanMode } from './plan-options.js';

/** Most query heads one dense workgroup serves (their scores and accumulators live in registers). */
const MAX_G = 8;
const PARAMS_BYTES = 48;
/** The attention passes' uniform (wgsl.ts `PARAMS`; lists: gathered passes' id lists, else 0). */
export function attendParams(n: number, chunk: number, splits: number, cap: number, scale: number, bias: number, group: number, sub: number,
  stride: number, lists = 0): Uint32Array {
  const u = new Uint32Array([n, chunk, splits, cap, 0, 0, group, sub, stride, lists, 0, 0]);
  const f = new Float32Array(u.buffer);
  f[4] = scale; f[5] = bias;
  return u;
}

export interface DecodeBuffers {
  /** [heads, headDim] f32. */
  queries: GPUBuffer;
  keys: GPUBuffer;
  values: GPUBuffer;
  /** [heads, valueDim] f32, written. */
  output: GPUBuffer;
  /**
   * Paged layout: ⌈length / pageSize⌉ u32 page numbers, each below the pool's page count — not
   * checked (the GPU holds them: a check would read them back); WebGPU keeps an out-of-range one's
   * reads inside the buffer: no fault, but other rows (or zeros) are attended.
   */
  pageTable?: GPUBuffer;
}

/** Bytes of one head's row of {@link WebGpuDecodePlan.stats}. */
export const STATS_BYTES = 16;

/**
 * Decode attention for WebGPU engines that keep their KV cache on the GPU: `encode` records every
 * pass of a decode step into the caller's command encoder over the caller's buffers — for sparse
 * plans the query's codes, the selection and the gathered attention (or the fused pass that does
 * both), then the log-sum-exp merge; nothing is read back. One plan per layer shape; the plan owns
 * its scratch and (sparse) the key codes by position; the compiled pipelines are its device's
 * (pipelines.ts), shared by every plan on it. Its uniforms are written with `queue.writeBuffer` when
 * `encode` / `encodeQuantize` run, so record each at most once per plan per submit (or with the
 * same arguments).
 */
export class WebGpuDecodePlan {
  readonly valueDim: number;
  readonly scale: number;
  /**
   * Per head, 16 bytes of the last encoded step: keysScored (u32), keysUsed (u32), errorBound (f32,
   * certified; else 0), 0 — the CPU backends' stats (dense: n, n; ReLU: keys of positive weight;
   * exact ReLU: candidates scored; certified: keys kept). Written by encode; the caller may copy it.
   */
  readonly stats: GPUBuffer;
  private readonly part: GPUBuffer;
  private readonly params: GPUBuffer;
  private readonly G: number;
  private readonly sub: number;
  /** Lanes per key of the attention kernel. */
  private readonly T: number;
  /** Sparse plans: the key codes and the GPU selection. */
  private readonly selection: CodeSelection | null;
  /** sparsePass 'fused' or 'auto': the one pass that selects and attends (the selection's codes feed it). */
  private readonly fused: FusedPass | null;
  /** Whether the last encode took the fused pass (it writes no id lists: {@link selected}). */
  private lastFused = false;
  /** Whether the last encode was a certified step run dense (certifiedDenseMax): no id lists either. */
  private lastDense = false;

  private constructor(readonly pipelines: Pipelines, readonly options: CheckedPlanOptions, readonly mode: PlanMode) {
    const { heads, kvHeads, headDim } = options;
    this.valueDim = options.valueDim ?? headDim;
    this.scale = options.scale ?? 1 / Math.sqrt(headDim);
    const group = heads / kvHeads;
    this.T = lanesFor(headDim, this.valueDim, pipelines.subgroupSize);
    if (options.densePairFold && !(this.T > 1 && 2 * this.T <= pipelines.subgroupSize)) {
      throw new HsrError('UNSUPPORTED', `WebGpuDecodePlan: densePairFold needs subgroups of at least 2 × ${this.T} lanes (two teams of a key's lanes), got ${pipelines.subgroupSize}`);
    }
    // Sparse plans attend one id list per workgroup: a scan group's union (exact ReLU, certified)
    // where the kernel can serve its heads at once, else a head's.
    const lean = mode.kind !== 'dense' && (options.gatheredLeanState ?? true);
    const fits = (G: number) => fitsHeads(G, this.valueDim, this.T, lean ? leanBytes(G, headDim) : 0);
    const unionLists = (mode.kind === 'relu' || mode.kind === 'certified') && fits(headsPerScan(group));
    let G = mode.kind === 'dense' ? Math.min(group, MAX_G) : unionLists ? headsPerScan(group) : 1;
    while (group % G !== 0 || !fits(G)) G--;
    const layout = options.layout ?? 'contiguous';
    const pass = options.sparsePass ?? 'auto';
    this.fused = hasFusedPass(options, mode) ? new FusedPass(pipelines, {
      heads, kvHeads, D: headDim, DV: this.valueDim, T: this.T, storage: options.storage, weighting: mode.kind === 'certified' ? 'softmax' : 'relu', alpha: options.alpha,
      layout: typeof layout === 'object' ? { pageSize: layout.pageSize, kvHeads } : layout,
      rule: mode.kind === 'certified' ? certifiedKeepRule(group, options.certifiedCut === 'global-top-sum')
        : options.firstFilter === 'int4-gather' ? nibbleKeepRule(headDim) : options.firstFilter === 'proj-gather' ? projKeepRule(options.projectionRank ?? 8) : undefined,
      keysPerThread: options.fusedKeysPerThread, prefetch: options.fusedPrefetch, lean: options.fusedLeanState ?? true,
      usedCount: options.usedCount ?? FUSED_USED_COUNT,
    }) : null;
    this.G = G; this.sub = group / G;
    const device = pipelines.device, storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    // (Aligned chunks take more slots than lists, however few workgroups: encode.)
    const slots = Math.max(this.maxSplits(mode.kind !== 'dense'), mode.kind !== 'dense' && (options.gatheredChunks ?? GATHERED_CHUNKS) === 'aligned' ? heads + 1 : 0);
    // All or none: a buffer past the device's limits is TOO_LARGE, and those made before it are freed.
    const what = `WebGpuDecodePlan (maxLength ${options.maxLength})`;
    ({ part: this.part, params: this.params, stats: this.stats, selection: this.selection } = allOrNone(() => ({
      part: gpuBuffer(device, heads * slots * (this.valueDim + 4) * 4, storage, what),
      params: gpuBuffer(device, PARAMS_BYTES, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, what),
      stats: gpuBuffer(device, heads * STATS_BYTES, storage, what),
      selection: mode.kind === 'dense' ? null : new CodeSelection(pipelines, {
        heads, kvHeads, D: headDim, storage: options.storage, layout: typeof layout === 'object' ? { pageSize: layout.pageSize, kvHeads } : layout,
        stride: options.maxLength, mode, scale: this.scale, targetWorkgroups: options.targetWorkgroups ?? DEFAULT_WORKGROUPS, unionLists,
        firstFilter: options.firstFilter ?? 'int8', projectionRank: options.projectionRank ?? 8, idLists: pass !== 'fused',
        projectionKeysPerThread: options.projectionKeysPerThread ?? PROJ_DEFAULT_KEYS_PER_THREAD,
        certifiedCut: options.certifiedCut ?? 'global', certifiedQuery: options.certifiedQuery ?? 'proj', certifiedCompactKeys: options.certifiedCompactKeys ?? CERTIFIED_COMPACT_KEYS,
      }),
    })));
  }

  /** Checks the options (plan-options.ts: BAD_OPTION naming the option) and compiles nothing yet (pipelines on first use). */
  static create(device: GPUDevice | Pipelines, options: DecodePlanOptions): WebGpuDecodePlan {
    const checked = checkPlanOptions(options);
    const pipelines = device instanceof Pipelines ? device : Pipelines.of(device);
    return new WebGpuDecodePlan(pipelines, checked.options, checked.mode);
  }

  /** Partial states a head may get: dense, its share of the workgroups; gathered, a slot per workgroup (wgsl.ts GATHER_CHUNK). */
  private maxSplits(gathered = this.selection !== null): number {
    const target = this.options.targetWorkgroups ?? DEFAULT_WORKGROUPS;
    return gathered ? target : Math.max(1, Math.ceil(target / (this.options.kvHeads * this.sub)));
  }

  /**
   * Sparse plans: positions [0, quantizedLength) have key codes. `encode` quantizes the positions
   * from there to its length itself; after rewriting K rows below it, record {@link encodeQuantize}.
   */
  get quantizedLength(): number { return this.selection?.quantized ?? 0; }

  /**
   * Sparse plans: records the int8 codes of positions [from, to) from the caller's K (for rows the
   * caller wrote or rewrote; from ≤ quantizedLength). Dense plans: nothing to do.
   */
  encodeQuantize(enc: GPUCommandEncoder, b: Pick<DecodeBuffers, 'keys' | 'pageTable'>, from: number, to: number): void {
    if (!this.selection) return;
    const o = this.options;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > o.maxLength || from > this.selection.quantized) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.encodeQuantize: expected 0 ≤ from ≤ quantizedLength = ${this.selection.quantized} and from ≤ to ≤ maxLength = ${o.maxLength}, got ${describe(from)} and ${describe(to)}`);
    }
    this.selection.encodeQuantize(enc, b.keys, b.pageTable, this.capacity(b, to, 'encodeQuantize'), from, to);
    this.pipelines.endPass();
  }

  /**
   * Rows per KV head of a contiguous K buffer (checked to hold `length`); 0 for the paged layout
   * (its page table, checked to hold `length`'s pages). WebGPU reads past a buffer's end as zeros
   * or another of its rows: a short buffer would be a wrong answer, not an error.
   */
  private capacity(b: Pick<DecodeBuffers, 'keys' | 'pageTable'>, length: number, where: string): number {
    const o = this.options, layout = o.layout ?? 'contiguous';
    if (typeof layout === 'object') {
      if (!b.pageTable) throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.${where}: expected a pageTable buffer for the paged layout`);
      const pages = Math.ceil(length / layout.pageSize);
      if (b.pageTable.size < 4 * pages) {
        throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.${where}: expected a pageTable of ${pages} page numbers (${length} positions), got ${b.pageTable.size} bytes`);
      }
      return 0;
    }
    const cap = Math.floor(b.keys.size / (o.kvHeads * this.rowBytes(o.headDim)));
    if (cap < length) throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.${where}: expected keys holding ${length} rows per KV head, got ${cap}`);
    return cap;
  }

  /** Bytes of a K or V row of `dim` values as the plan's storage keeps them. */
  private rowBytes(dim: number): number {
    return dim * (this.options.storage === 'f16' ? 2 : 4);
  }

  /**
   * The step's other buffers, large enough for the plan's shape: queries [heads, headDim] and output
   * [heads, valueDim] f32, and contiguous values the keys' `cap` rows per KV head (the kernels find
   * V rows at the keys' stride).
   */
  private checkStepBuffers(b: DecodeBuffers, cap: number): void {
    const o = this.options;
    const need: [string, GPUBuffer, number][] = [['queries', b.queries, o.heads * o.headDim * 4], ['output', b.output, o.heads * this.valueDim * 4]];
    if ((o.layout ?? 'contiguous') === 'contiguous') need.push(['values', b.values, o.kvHeads * cap * this.rowBytes(this.valueDim)]);
    for (const [name, buffer, bytes] of need) {
      if (buffer.size < bytes) {
        throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.encode: expected ${name} of at least ${bytes} bytes${name === 'values' ? ` (${cap} rows per KV head, as keys)` : ''}, got ${buffer.size}`);
      }
    }
  }

  /** Records attention of the queries over the first `length` positions into `enc` (length ≤ maxLength). */
  encode(enc: GPUCommandEncoder, b: DecodeBuffers, length: number): void {
    const o = this.options, { kvHeads, heads, storage } = o, layout = o.layout ?? 'contiguous';
    if (!Number.isSafeInteger(length) || length < 0 || length > o.maxLength) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.encode: expected 0 ≤ length ≤ maxLength = ${o.maxLength}, got ${describe(length)}`);
    }
    const cap = this.capacity(b, length, 'encode');
    this.checkStepBuffers(b, cap);
    this.lastDense = this.mode.kind === 'certified' && length <= (o.certifiedDenseMax ?? CERTIFIED_DENSE_MAX);
    this.lastFused = !this.lastDense && this.fused !== null && (o.sparsePass === 'fused' || length <= FUSED_MAX_LENGTH[o.firstFilter ?? 'int8']!);
    if (this.lastFused) { this.encodeFused(enc, b, length, cap); return; }
    // A certified step short enough to run dense (certifiedDenseMax) takes the dense path: no selection.
    const relu = o.kind === 'relu', sel = this.lastDense ? null : this.selection, device = this.pipelines.device;
    const step = keysPerStep(this.T);
    const list = sel?.list, chunks = sel ? o.gatheredChunks ?? GATHERED_CHUNKS : 'spanning';
    let splits: number, chunk: number;
    if (list) {
      // The selected keys' number is known on the GPU only: every workgroup slot, each taking at
      // least one key-loop step of keys (idle slots return at once), and no more slots than the
      // lists could fill at that (a short context does not launch hundreds of idle workgroups).
      chunk = step;
      splits = Math.min(this.maxSplits(), Math.max(1, Math.ceil((heads / list.headsPerList) * length / step)));
      if (chunks === 'aligned') splits = Math.max(splits, heads / list.headsPerList + 1); // wgsl.ts GATHER_CHUNK_ALIGNED
    } else {
      splits = splitCount(this.maxSplits(false), length, step);
      chunk = Math.max(step, Math.ceil(Math.ceil(length / splits) / step) * step);
      splits = Math.max(1, Math.ceil(length / chunk));
    }
    upload(device.queue, this.params, 0, attendParams(length, chunk, splits, cap, this.scale, o.bias, heads / kvHeads, this.sub, o.maxLength,
      list ? heads / list.headsPerList : 0));
    if (sel && length > sel.quantized) sel.encodeQuantize(enc, b.keys, b.pageTable, cap, sel.quantized, length);
    if (sel) sel.encodeSelect(enc, b.queries, length, this.params, b.keys, b.pageTable);
    const paged = typeof layout === 'object' ? { pageSize: layout.pageSize, kvHeads } : 'contiguous' as const;
    const lean = sel !== null && (o.gatheredLeanState ?? true);
    const usedCount = sel ? 'lanes' : o.usedCount ?? 'workgroup'; // (the gathered pass: run 15, 'workgroup' 26.3 against 25.0 µs)
    const stepKeys = sel ? o.gatheredStepKeys ?? GATHERED_STEP_KEYS : undefined;
    const pairFold = sel === null && (o.densePairFold ?? false);
    const loads = sel ? o.gatheredLoads ?? 'interleaved' : 'interleaved';
    const key = `${sel ? 'attend-gather' : 'plan'}${lean ? '-lean' : ''}${relu ? `-${usedCount}` : ''}${stepKeys ? `-b${stepKeys}` : ''}${loads === 'batched' ? '-ld' : ''}${pairFold ? '-pair' : ''}${chunks === 'aligned' ? '-al' : ''}-${this.G}-${this.T}-${o.headDim}-${this.valueDim}-${storage}-${o.kind}-${o.alpha}-${typeof paged === 'object' ? paged.pageSize : 0}-${kvHeads}`;
    const pipe = this.pipelines.get(key, () => attendSource({
      D: o.headDim, DV: this.valueDim, G: this.G, T: this.T, storage, weighting: relu ? 'relu' : 'softmax', alpha: o.alpha, gather: sel !== null, layout: paged, lean, usedCount, stepKeys, loads, chunks, pairFold,
    }));
    const extra: GPUBindGroupEntry[] = b.pageTable && typeof paged === 'object' ? [{ binding: 9, resource: { buffer: b.pageTable } }] : [];
    const bufs = list ? [b.keys, b.values, b.queries, this.part, this.params, list.ids, list.counts]
      : [b.keys, b.values, b.queries, this.part, this.params];
    this.pipelines.dispatch(enc, pipe, bufs, splits, sel ? 1 : kvHeads * this.sub, extra);
    const stats: StatsMode = sel === null ? (relu ? 'dense-relu' : 'dense') : this.mode.kind as StatsMode;
    const LG = list?.headsPerList ?? 1;
    const slots = chunks === 'aligned' ? 'aligned' : 'lists';
    const merge = this.pipelines.get(`merge-${this.valueDim}-${stats}-${o.headDim}-${LG}-${slots}`, () => mergeSource(this.valueDim, stats, o.headDim, LG, slots));
    const bounded = stats === 'certified' || stats === 'rank';
    this.pipelines.dispatch(enc, merge, [this.part, b.output, this.params, this.stats, list ? list.counts : null, null,
      bounded ? sel!.cut : null, bounded ? sel!.coef : null, bounded ? sel!.normMax : null, stats === 'rank' ? sel!.counts : null], heads, mergeGroups(this.valueDim));
    this.pipelines.endPass();
  }

  /**
   * sparsePass 'fused': the fused pass over blocks of keys, then the merge (one state a head and
   * block). Exact ReLU: the query is coded in the pass (or a first filter's query pass before it);
   * certified: the query pass, the scan and the histogram before it, the cut in it (certified-keep.ts).
   */
  private encodeFused(enc: GPUCommandEncoder, b: DecodeBuffers, length: number, cap: number): void {
    const o = this.options, { heads, kvHeads } = o, sel = this.selection!, fused = this.fused!, device = this.pipelines.device;
    const certified = this.mode.kind === 'certified';
    const { chunk, blocks } = fusedBlocks(length, fused.groups, this.maxSplits());
    upload(device.queue, this.params, 0, attendParams(length, chunk, blocks, cap, this.scale, o.bias, heads / kvHeads, this.sub, o.maxLength, heads / fused.G));
    if (length > sel.quantized) sel.encodeQuantize(enc, b.keys, b.pageTable, cap, sel.quantized, length);
    const inputs = certified ? { codes: [], rule: sel.encodeCertifiedFusedInputs(enc, b.queries, length, this.params) }
      : sel.encodeFusedInputs(enc, b.queries, length, this.params);
    // n = 0: no block; the merge finds no state and writes zeros (a certified step over 0 keys runs dense: certifiedDenseMax ≥ 0).
    if (length > 0) fused.encode(enc, { ...b, part: this.part, params: this.params }, inputs.codes, blocks, inputs.rule);
    const stats: StatsMode = certified ? 'certified' : 'relu';
    const merge = this.pipelines.get(`merge-${this.valueDim}-${stats}-${o.headDim}-${fused.G}-blocks`, () => mergeSource(this.valueDim, stats, o.headDim, fused.G, 'blocks'));
    this.pipelines.dispatch(enc, merge, [this.part, b.output, this.params, this.stats, null, null,
      certified ? sel.cut : null, certified ? sel.coef : null, certified ? sel.normMax : null], heads, mergeGroups(this.valueDim));
    this.pipelines.endPass();
  }

  /**
   * Sparse plans: the last step's id lists (the attended keys; [lists, maxLength] u32, list l serving
   * heads l·headsPerList ..) and their counts (diagnostics and tests; null for dense plans, fused steps — the fused pass lists
   * keys in workgroup memory only — and certified steps run dense, certifiedDenseMax).
   */
  get selected(): { ids: GPUBuffer; counts: GPUBuffer; headsPerList: number } | null {
    return this.lastFused || this.lastDense ? null : this.selection?.list ?? null;
  }

  /**
   * Exact ReLU with a firstFilter other than 'int8': the last step's keys that passed the first scan, one list per scan group of
   * headsPerList heads ([lists, maxLength] u32) and their counts (diagnostics, tests); else null (certified
   * 'proj' lists nothing of its own: its scan writes the bucket bytes; a fused step keeps its keys in workgroup memory).
   */
  get firstFilterCandidates(): { ids: GPUBuffer; counts: GPUBuffer; headsPerList: number } | null {
    const f = this.selection?.filter;
    return f && this.mode.kind === 'relu' && !this.lastFused ? { ids: f.ids, counts: f.counts, headsPerList: f.shape.GH } : null;
  }

  /**
   * Threshold plans: per-head thresholds (scaled logits, [heads]) for the next encodes, in place of
   * the plan's `{ threshold }` — a per-query rule such as the paper's μ + σ·√(0.4·ln n).
   */
  setThresholds(thresholds: ArrayLike<number>): void {
    const rank = this.selection?.rank;
    if (!rank || rank.rule !== 'threshold' || thresholds.length !== this.options.heads || !Array.prototype.every.call(thresholds, (t: unknown) => typeof t === 'number' && Number.isFinite(t))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.setThresholds: expected a { threshold } plan and ${this.options.heads} finite thresholds, got ${rank ? `a ${rank.rule} plan and ` : 'a plan without a threshold and '}${describe(thresholds)}`);
    }
    rank.setThresholds(thresholds);
  }

  destroy(): void {
    for (const b of [this.part, this.params, this.stats]) b.destroy();
    this.selection?.destroy();
  }
}

/**
 * Splits of a pass over `length` keys: at most `max`, and at least two key-loop steps of `step`
 * keys a split (a workgroup's fixed costs — query loads, the fold of its teams — need keys to pay for).
 */
export function splitCount(max: number, length: number, step: number): number {
  return Math.max(1, Math.min(max, Math.ceil(length / (2 * step))));
}
