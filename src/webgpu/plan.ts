/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';
import { resolveAttentionOptions } from '../attention/options.js';
import { assertCount, describe } from '../tensor/matrix.js';
import { mergeGroups, mergeSource, type GatherChunks, type StatsMode, type Storage } from './wgsl.js';
import { attendSource, fitsHeads, keysPerStep, lanesFor, leanBytes, type RowLoads, type UsedCount } from './attend-kernel.js';
import { allOrNone, gpuBuffer, subgroupSize } from './device.js';
import type { PassProfile, Profiled } from './timing.js';
import { CodeSelection, type CertifiedCut, type CertifiedQuery, type FirstFilter } from './selection.js';
import { PROJ_DEFAULT_KEYS_PER_THREAD, PROJ_KEYS_PER_THREAD, PROJ_RANKS } from './proj-filter.js';
import { headsPerScan } from './select-wgsl.js';
import type { RankRow } from './select.js';
import { FusedPass, fusedBlocks } from './fused-kernel.js';
import { nibbleKeepRule, projKeepRule } from './fused-wgsl.js';
import { certifiedKeepRule } from './certified-keep.js';

const FIRST_FILTERS: readonly FirstFilter[] = ['int8', 'int4', 'int4-gather', 'proj', 'proj-gather'];

/** Most query heads one dense workgroup serves (their scores and accumulators live in registers). */
const MAX_G = 8;
const PARAMS_BYTES = 48;
/**
 * Workgroups a pass aims for: about two per multiprocessor of an H100 or H200 (132), one wave of
 * long-running workgroups — on an H100 this beat 528–2112 at 32k–512k keys (docs/webgpu.md).
 * WebGPU does not tell the multiprocessor count; larger GPUs may want more (`targetWorkgroups`).
 */
export const DEFAULT_WORKGROUPS = 264;
/**
 * sparsePass 'auto': exact sparse ReLU steps over at most this many keys take the fused pass, by
 * first filter (the others: the split path). On an H100 (8 query / 2 KV heads, d = 128, 1 %, H100
 * run 15, docs/webgpu.md "Speed"): 'int8' — fused faster at every length timed (256k 52.1 against
 * 60.9 µs split, 512k 80.0 against 86.6; 32k, 128k and the 8k-key dump 1.4–1.7× faster); longer
 * steps are unmeasured; 'proj-gather' — fused faster up to 128k (run 16: 22.5 against 27.1 µs at
 * 128k, 29.5 against 45.7 at 32k), level at 256k (35.3 against 35.4; 34.4 with the workgroup
 * count), slower at 512k (51.4 against 46.2).
 */
export const FUSED_MAX_LENGTH: Readonly<Partial<Record<FirstFilter, number>>> = { int8: 524288, 'proj-gather': 262144 };
/**
 * Exact sparse ReLU's fused pass: where it counts the keys of positive weight (plan option
 * usedCount): the workgroup's atomic, as dense ReLU's — H100 run 15, 1 %: 0.6–2.5 % faster than a
 * count a lane at 256k and 512k (int8 and 'proj-gather'; 256k int8 50.8 against 52.1 µs), 2–3 % at
 * 32k and 128k (run 16, int8: 29.3 against 30.0 µs at 128k), 3 % slower on the 8k-key dump (runs 15, 16).
 */
export const FUSED_USED_COUNT: UsedCount = 'workgroup';
/**
 * Certified ε: steps over at most this many keys run the dense kernel (certifiedDenseMax's default).
 * On an H100 (8 query / 2 KV heads, d = 128, f16) the dense step was faster than every certified
 * variant at 32k and 128k keys and on the 8k dump in runs 7, 11 and 13 (run 13, 128k: 56.8 against
 * 60.9–64.8 µs) and on two more instances at 128k in run 16; from 196k the faster one depends on
 * the instance (run 16: either, by 5–20 %): docs/webgpu.md "Speed".
 */
export const CERTIFIED_DENSE_MAX = 131072;

/**
 * Keys each team of the split path's gathered attention takes a step of its key loop (plan option
 * gatheredStepKeys), with the lean state too: on an H100 (run 13, 512k, 'proj-gather') the pass
 * took 25.2 µs at 1 % and 45.0 at 3 % with 4, against 26.1 and 49.1 with the lean state's 2
 * (1: 28.9, 8: 34.1 µs at 1 %).
 */
export const GATHERED_STEP_KEYS = 4;

/**
 * How the split path's gathered attention cuts the lists into its workgroups' chunks (plan option
 * gatheredChunks): on an H100 (run 15, 512k, 1 %, 'proj-gather') the pass took 23.6 µs with each
 * list's chunks of its own against 25.0 with a chunk spanning two lists (whose workgroup loads two
 * queries and folds twice, and the pass waits for it).
 */
export const GATHERED_CHUNKS: GatherChunks = 'aligned';

/**
 * Certified ε, the split path's compaction: keys each thread takes (plan option
 * certifiedCompactKeys) — on an H100 at 512k the compaction took 6.4 µs with 8 against 7.5 with 1
 * through the int8 codes and 5.8 against 7.0 through the projection's (run 16).
 */
export const CERTIFIED_COMPACT_KEYS = 8;

const shared = new WeakMap<GPUDevice, Pipelines>();

/**
 * Compiled pipelines of one device by key, and one-call dispatches. One per device (`of`): every
 * cache and plan on a device shares the compiled shaders (a model's layers would otherwise compile
 * the same ones per layer).
 */
export class Pipelines implements Profiled {
  private readonly cache = new Map<string, GPUComputePipeline>();
  /** Pass labels by pipeline (benchmarks' per-pass timing): the key's words before its first number. */
  private readonly labels = new WeakMap<GPUComputePipeline, string>();
  /** Benchmarks (timing.ts `timePasses`): while set, every pass gets GPU timestamps. */
  profile: PassProfile | null = null;
  /** Dispatches recorded so far (benchmarks count a decode step's; consecutive ones share a compute pass). */
  passes = 0;
  /**
   * Benchmarks (a step timed by its first passes, bench/webgpu-sparse-plan.ts --prefixes): while
   * set, dispatches once {@link passes} has reached it are not recorded.
   */
  stopAt: number | null = null;
  /** Lanes of a subgroup the attention kernel may rely on (0: no subgroups). */
  readonly subgroupSize: number;
  private constructor(readonly device: GPUDevice) { this.subgroupSize = subgroupSize(device); }

  static of(device: GPUDevice): Pipelines {
    let p = shared.get(device);
    if (!p) { p = new Pipelines(device); shared.set(device, p); }
    return p;
  }

  get(key: string, source: () => string): GPUComputePipeline {
    let p = this.cache.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source() });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.cache.set(key, p);
      const words = key.split('-');
      const first = words.findIndex((w) => /^[0-9]/.test(w));
      this.labels.set(p, words.slice(0, first < 0 ? words.length : first).join('-'));
    }
    return p;
  }

  /**
   * One dispatch: `buffers[i]` at binding i (null skips a binding), plus `extra` entries. Bind
   * groups are cached by pipeline and buffers (a decode step reuses the last step's: creating them
   * cost more CPU time than the GPU spends on a short step). Consecutive dispatches on one encoder
   * share a compute pass (WebGPU orders each dispatch's storage writes before the next one's reads
   * within a pass; a pass per dispatch is host time on every step): call {@link endPass} before
   * the encoder's own commands (copies, clears) and before it is finished. While profiling, every
   * dispatch gets a pass of its own with timestamps.
   */
  dispatch(enc: GPUCommandEncoder, pipe: GPUComputePipeline, buffers: (GPUBuffer | null)[], x: number, y: number,
    extra: GPUBindGroupEntry[] = []): void {
    if (x === 0 || y === 0) return; // nothing to run (e.g. a selection scan over 0 keys)
    if (this.stopAt !== null && this.passes >= this.stopAt) return;
    let key = String(this.idOf(pipe));
    for (let i = 0; i < buffers.length; i++) if (buffers[i]) key += `,${i}=${this.idOf(buffers[i]!)}`;
    for (const e of extra) key += `,${e.binding}=${this.idOf((e.resource as GPUBufferBinding).buffer)}`;
    let bg = this.groups.get(key);
    if (!bg) {
      if (this.groups.size > 4096) this.groups.clear(); // buffers replaced by growth leave stale keys
      const entries: GPUBindGroupEntry[] = [...extra];
      buffers.forEach((b, i) => { if (b) entries.push({ binding: i, resource: { buffer: b } }); });
      bg = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
      this.groups.set(key, bg);
    }
    this.passes++;
    const writes = this.profile?.next(this.labels.get(pipe) ?? 'pass');
    if (writes) {
      this.endPass();
      const pass = enc.beginComputePass({ timestampWrites: writes });
      pass.setPipeline(pipe); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(x, y); pass.end();
      return;
    }
    if (this.open?.enc !== enc) {
      this.endPass();
      this.open = { enc, pass: enc.beginComputePass(), pipe: null };
    }
    const open = this.open!;
    if (open.pipe !== pipe) { open.pass.setPipeline(pipe); open.pipe = pipe; }
    open.pass.setBindGroup(0, bg); open.pass.dispatchWorkgroups(x, y);
  }

  /** Ends the compute pass {@link dispatch} left open (on whichever encoder). */
  endPass(): void {
    this.open?.pass.end();
    this.open = null;
  }

  private open: { enc: GPUCommandEncoder; pass: GPUComputePassEncoder; pipe: GPUComputePipeline | null } | null = null;
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) { id = this.nextId++; this.ids.set(o, id); }
    return id;
  }
}

/**
 * queue.writeBuffer of a typed array's bytes (typed arrays over ArrayBufferLike are not a
 * GPUAllowSharedBufferSource in the DOM typings).
 */
export function upload(queue: GPUQueue, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
}

/** The attention passes' uniform (wgsl.ts `PARAMS`; lists: gathered passes' id lists, else 0). */
export function attendParams(n: number, chunk: number, splits: number, cap: number, scale: number, bias: number, group: number, sub: number,
  stride: number, lists = 0): Uint32Array {
  const u = new Uint32Array([n, chunk, splits, cap, 0, 0, group, sub, stride, lists, 0, 0]);
  const f = new Float32Array(u.buffer);
  f[4] = scale; f[5] = bias;
  return u;
}

export interface DecodePlanOptions {
  heads: number;
  kvHeads: number;
  /** A multiple of 16 (the kernels read K rows in 16-byte words of f16 pairs or f32 quads). */
  headDim: number;
  /** Default headDim; a multiple of 8. */
  valueDim?: number;
  /** Element type of the caller's K and V buffers: 'f16' (packed two per 32 bits) or 'f32'. */
  storage: Storage;
  kind: 'softmax' | 'relu';
  alpha?: number;
  bias?: number;
  /** Default 1/√headDim. */
  scale?: number;
  /**
   * K/V layout: 'contiguous' (default) — [kvHeads, capacity, dim], capacity read off the buffer's
   * size; or paged — a pool [pages, kvHeads, pageSize, dim] and a page table (u32: logical page →
   * pool page) shared by the KV heads.
   */
  layout?: 'contiguous' | { pageSize: number };
  /** The longest context the plan will run (sizes its scratch, and the key codes of sparse plans). */
  maxLength: number;
  /** Workgroups a pass aims for (default {@link DEFAULT_WORKGROUPS}). */
  targetWorkgroups?: number;
  /**
   * 'dense' (default); sparse modes select the keys on the GPU from int8 key codes the plan keeps:
   * 'exact' (kind 'relu': every key of positive weight, the dense answer), { epsilon } (kind
   * 'softmax': certified, total variation to dense ≤ errorBound ≤ ε), { threshold } (the keys with
   * scaled logit ≥ t, else the best key; per head: setThresholds) or { topK } (the k best keys by
   * logit, ties to the smaller position) — the CPU's kept keys (docs/webgpu.md), errorBound as the
   * CPU reports it. Threshold and top-k need |⟨q, k⟩| < 1e30 unscaled.
   */
  sparsity?: 'dense' | 'exact' | { epsilon: number } | { threshold: number } | { topK: number };
  /**
   * Exact sparse ReLU: the scan over every key per step — 'int8' (default: the int8 codes, 144
   * bytes a key at d = 128), 'int4' (4-bit codes centred on the keys' mean, 72 bytes a key, then
   * the int8 scan over the keys they let through) or 'int4-gather' (the 4-bit scan's keys go
   * straight to the gathered attention, which scores each exactly; per-head lists — a KV group
   * too wide for one list — run as 'int4'); docs/webgpu.md. All keep every key of positive weight;
   * the 4-bit ones keep a second set of codes (d/2 + 8 bytes a position and KV head). 'proj' and
   * 'proj-gather' do the same with the keys' projections on `projectionRank` of their principal
   * directions (a basis made on the GPU from 256 sampled keys when coding starts from position 0;
   * 2·rank + 8 bytes a key): exact for any keys, but it drops keys only where they are close to
   * that rank (LLM-like synthetic keys; not the real dumps' keys: docs/webgpu.md).
   * Certified softmax { epsilon } takes 'proj' too: its scan buckets each key's projection bounds
   * (2·rank + 8 bytes a key) instead of its int8 codes' (proj-certified.ts); the cut keeps more keys
   * (the bounds are wider), each attended exactly; errorBound as with 'int8'.
   */
  firstFilter?: FirstFilter;
  /**
   * Exact sparse ReLU: how a step selects and attends — 'split' (a scan pass lists the keys in
   * global id lists, then the gathered attention reads them), 'fused' (one pass: each workgroup
   * scans a block of keys' codes and attends the keys it keeps right away, fused-wgsl.ts; with
   * firstFilter 'int8' it scans the int8 codes, with 'int4-gather' the 4-bit ones, with
   * 'proj-gather' the projections) or 'auto' (default: 'fused' for steps over at most
   * {@link FUSED_MAX_LENGTH} keys — 524288 with firstFilter 'int8', 262144 with 'proj-gather' —,
   * else 'split'). All attend every key of positive weight: the result is the dense one.
   */
  sparsePass?: 'auto' | 'split' | 'fused';
  /** 'proj' / 'proj-gather': 8 (default), 16, 24 or 32. */
  projectionRank?: number;
  /**
   * 'proj' / 'proj-gather', tuning (docs/webgpu.md): the projection scan's keys a thread — 8
   * (default: 3 % faster than 1 on an H100 at 512k, runs 11 and 13), 1, 2 or 4.
   */
  projectionKeysPerThread?: number;
  /**
   * Certified ε: 'global' (default: one cut a head from a histogram of every key's bound gaps) or
   * 'global-top-sum' (the same cut with the lower mass of the keys far above the anchor summed by
   * the scan instead of capped at its bucket's edge: fewer keys kept, certified-cut.ts). Both keep
   * errorBound ≤ ε and never below the true total variation (docs/webgpu.md).
   */
  certifiedCut?: CertifiedCut;
  /**
   * Certified ε with firstFilter 'proj', tuning (docs/webgpu.md): the query passes of a step —
   * 'proj' (default: the projection's query pass alone, the anchor from the projection bounds of
   * 256 sampled keys; H100 run 16: 7.2 µs against 8.9 + 4.5 at 512k) or 'int8' (the int8 codes' query pass sets the anchor from their
   * bounds of the same samples, then the projection's query pass: one dependent pass more). Any
   * anchor is correct; the kept keys may differ a little.
   */
  certifiedQuery?: CertifiedQuery;
  /**
   * Certified ε with union lists, tuning (docs/webgpu.md): the compaction's keys a thread — 1, 2, 4
   * or 8 (default {@link CERTIFIED_COMPACT_KEYS}): their bytes loaded together, one append for
   * them all. The same keys.
   */
  certifiedCompactKeys?: 1 | 2 | 4 | 8;
  /**
   * Certified ε: steps over at most this many keys run the dense kernel instead of the selection
   * (errorBound 0, keysScored = keysUsed = n) — below the length where the selection's passes pay
   * for themselves (default {@link CERTIFIED_DENSE_MAX}, measured on an H100; 0: always select).
   */
  certifiedDenseMax?: number;
  /**
   * The fused pass: keys each thread scans a tile of the block (1, 2 or 4; default 1) — more loads
   * in flight before the tile's barriers (the int8 codes' words are loaded first); a tuning choice:
   * docs/webgpu.md.
   */
  fusedKeysPerThread?: 1 | 2 | 4;
  /**
   * sparsePass 'fused' with the int8 codes: each tile's codes are loaded while the tile before is
   * scanned (default false; a tuning choice: docs/webgpu.md).
   */
  fusedPrefetch?: boolean;
  /**
   * sparsePass 'fused': the attention's state kept lean through the scan (queries in workgroup
   * memory, 2 keys a team step; attend-kernel.ts LEAN_STEP_KEYS) — fewer registers, more resident
   * workgroups (default true: H100 run 11, 512k 1 %: 0.0837 against 0.1098 ms; docs/webgpu.md).
   */
  fusedLeanState?: boolean;
  /**
   * Sparse modes' split path: the gathered attention pass keeps a lean state (as fusedLeanState:
   * fewer registers, more resident workgroups; default true: H100 run 11, 512k 1 %, its pass 31
   * against 42 µs, certified unchanged; docs/webgpu.md).
   */
  gatheredLeanState?: boolean;
  /**
   * Dense ReLU: where the attention kernel counts the keys of positive weight (stats keysUsed;
   * attend-kernel.ts UsedCount) — 'workgroup' (default: each key added to the workgroup's atomic
   * count at once, no count in the key loop's registers; H100 run 13, 512k: 0.188 ms, as dense
   * softmax, against 0.235 for 'lanes') or 'lanes' (a count a lane and head in registers through
   * the key loop). Both exact (docs/webgpu.md). Exact sparse ReLU: the fused pass's count
   * (sparsePass 'fused', or 'auto' with firstFilter 'int8' or 'proj-gather'; default
   * {@link FUSED_USED_COUNT}); the split path's gathered pass always counts a lane (its workgroup
   * count was slower, H100 run 15), so there the option is refused (BAD_OPTION).
   */
  usedCount?: UsedCount;
  /**
   * Sparse modes' split path, tuning (docs/webgpu.md): keys each team of the gathered attention
   * takes per step of its key loop — 1, 2, 4 or 8 (default {@link GATHERED_STEP_KEYS}): more rows
   * in flight and fewer serial steps a workgroup, against more registers a thread.
   */
  gatheredStepKeys?: 1 | 2 | 4 | 8;
  /**
   * Sparse modes' split path, tuning (docs/webgpu.md): how the gathered attention loads a step's
   * K/V rows (attend-kernel.ts RowLoads): 'interleaved' (default) or 'batched' (every row's words
   * first, and the first step's ids before the query).
   */
  gatheredLoads?: RowLoads;
  /**
   * Sparse modes' split path, tuning: how the kept keys' lists are cut into the gathered pass's
   * chunks (wgsl.ts GatherChunks): 'aligned' (default {@link GATHERED_CHUNKS}: each list starts a
   * chunk of its own, no workgroup attends two lists) or 'spanning' (a chunk may cross two lists).
   */
  gatheredChunks?: GatherChunks;
  /**
   * The dense kernel (dense plans, and certified steps run dense), tuning (docs/webgpu.md): the
   * teams' fold begins with the two teams of a subgroup folded by subgroup shuffles
   * (attend-kernel.ts pairFold; default false; UNSUPPORTED where a subgroup holds fewer than two
   * teams' lanes).
   */
  densePairFold?: boolean;
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
 * plans the query's codes, the selection and the gathered attention, then the log-sum-exp merge;
 * nothing is read back. One plan per layer shape; the plan owns its pipelines, scratch and (sparse)
 * the int8 codes of the keys by position. Its uniforms are written with `queue.writeBuffer` when
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

  private constructor(readonly pipelines: Pipelines, readonly options: DecodePlanOptions & { alpha: number; bias: number },
    readonly mode: { kind: 'dense' } | { kind: 'relu' } | { kind: 'certified'; epsilon: number } | { kind: 'rank'; row: RankRow }) {
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
    this.fused = pass === 'fused' || (pass === 'auto' && mode.kind === 'relu' && FUSED_MAX_LENGTH[options.firstFilter ?? 'int8'] !== undefined) ? new FusedPass(pipelines, {
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

  /** Validates the shape (BAD_OPTION naming the field) and compiles nothing yet (pipelines on first use). */
  static create(device: GPUDevice | Pipelines, options: DecodePlanOptions): WebGpuDecodePlan {
    if (options === null || typeof options !== 'object') throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected an options object, got ${describe(options)}`);
    const { heads, kvHeads, headDim, maxLength } = options, valueDim = options.valueDim ?? headDim;
    for (const [name, x] of [['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim], ['valueDim', valueDim], ['maxLength', maxLength]] as const) {
      assertCount(x, `WebGpuDecodePlan ${name}`);
      if (x < 1) throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected ${name} ≥ 1, got ${x}`);
    }
    if (heads % kvHeads !== 0) throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected heads (${heads}) to be a multiple of kvHeads, got ${kvHeads}`);
    if (headDim % 16 !== 0 || valueDim % 8 !== 0 || headDim > 2048 || valueDim > 2048) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected headDim a multiple of 16 and valueDim of 8 (≤ 2048), got ${headDim} and ${valueDim}`);
    }
    if (options.storage !== 'f16' && options.storage !== 'f32') throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected storage 'f16' or 'f32', got ${describe(options.storage)}`);
    const layout = options.layout ?? 'contiguous';
    if (layout !== 'contiguous' && !(typeof layout === 'object' && layout !== null && Number.isSafeInteger(layout.pageSize) && layout.pageSize >= 1)) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected layout 'contiguous' or { pageSize: integer ≥ 1 }, got ${JSON.stringify(layout)}`);
    }
    const w = resolveAttentionOptions({ kind: options.kind, alpha: options.alpha, bias: options.bias, scale: options.scale, sparsity: options.sparsity ?? 'dense' },
      headDim, 'WebGpuDecodePlan');
    const sel = w.selection;
    const mode = sel.rule === 'dense' ? { kind: 'dense' as const } : sel.rule === 'exact' ? { kind: 'relu' as const }
      : sel.rule === 'certified' ? { kind: 'certified' as const, epsilon: sel.epsilon }
      : sel.rule === 'threshold' ? { kind: 'rank' as const, row: { threshold: sel.threshold } }
      : sel.rule === 'top-k' ? { kind: 'rank' as const, row: { topK: sel.topK } } : null;
    const filter = options.firstFilter ?? 'int8';
    // Where a fused pass may run (the tuning options' checks; the sparsePass check below says which rules).
    const fusable = (mode?.kind === 'relu' && (options.sparsePass === 'fused' || ((options.sparsePass ?? 'auto') === 'auto' && FUSED_MAX_LENGTH[filter] !== undefined)))
      || (mode?.kind === 'certified' && options.sparsePass === 'fused');
    const prefetchable = fusable && mode?.kind === 'relu' && (filter === 'int8' || filter === 'proj-gather');
    if (options.fusedKeysPerThread !== undefined && (![1, 2, 4].includes(options.fusedKeysPerThread) || !fusable)) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected fusedKeysPerThread 1, 2 or 4 with sparsePass 'fused' (exact sparse ReLU or certified), or 'auto' with exact sparse ReLU and firstFilter 'int8' or 'proj-gather', got ${describe(options.fusedKeysPerThread)} with sparsePass ${describe(options.sparsePass)} and firstFilter ${describe(filter)}`);
    }
    if (options.fusedLeanState !== undefined && (typeof options.fusedLeanState !== 'boolean' || !fusable)) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected fusedLeanState true or false with sparsePass 'fused' (exact sparse ReLU or certified), or 'auto' with exact sparse ReLU and firstFilter 'int8' or 'proj-gather', got ${describe(options.fusedLeanState)} with sparsePass ${describe(options.sparsePass)} and firstFilter ${describe(filter)}`);
    }
    if (options.gatheredLeanState !== undefined && (typeof options.gatheredLeanState !== 'boolean' || !mode || mode.kind === 'dense' || options.sparsePass === 'fused')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected gatheredLeanState true or false with a sparse mode and sparsePass 'split' or 'auto', got ${describe(options.gatheredLeanState)} with the ${sel.rule} rule and sparsePass ${describe(options.sparsePass)}`);
    }
    if (options.usedCount !== undefined && (!['lanes', 'workgroup'].includes(options.usedCount) || options.kind !== 'relu' || !(mode?.kind === 'dense' || (mode?.kind === 'relu' && fusable)))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected usedCount 'lanes' or 'workgroup' with dense ReLU, or exact sparse ReLU with sparsePass 'fused' (or 'auto' with firstFilter 'int8' or 'proj-gather'), got ${describe(options.usedCount)} with kind ${describe(options.kind)}, the ${sel.rule} rule, sparsePass ${describe(options.sparsePass)} and firstFilter ${describe(filter)}`);
    }
    const splitPath = mode !== null && mode.kind !== 'dense' && options.sparsePass !== 'fused';
    if ((options.gatheredLoads !== undefined && !(['interleaved', 'batched'].includes(options.gatheredLoads) && splitPath))
      || (options.gatheredChunks !== undefined && !(['spanning', 'aligned'].includes(options.gatheredChunks) && splitPath))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected gatheredLoads 'interleaved' or 'batched' and gatheredChunks 'spanning' or 'aligned' with a sparse mode and sparsePass 'split' or 'auto', got ${describe(options.gatheredLoads)} and ${describe(options.gatheredChunks)} with the ${sel.rule} rule and sparsePass ${describe(options.sparsePass)}`);
    }
    if (options.densePairFold !== undefined && !(typeof options.densePairFold === 'boolean' && (mode?.kind === 'dense' || mode?.kind === 'certified'))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected densePairFold true or false with a dense plan or certified softmax (its dense steps), got ${describe(options.densePairFold)} with the ${sel.rule} rule`);
    }
    if (options.gatheredStepKeys !== undefined && (![1, 2, 4, 8].includes(options.gatheredStepKeys) || !mode || mode.kind === 'dense' || options.sparsePass === 'fused')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected gatheredStepKeys 1, 2, 4 or 8 with a sparse mode and sparsePass 'split' or 'auto', got ${describe(options.gatheredStepKeys)} with the ${sel.rule} rule and sparsePass ${describe(options.sparsePass)}`);
    }
    if (options.fusedPrefetch !== undefined && (typeof options.fusedPrefetch !== 'boolean' || !prefetchable)) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected fusedPrefetch true or false with exact sparse ReLU, sparsePass 'fused' or 'auto' and firstFilter 'int8' or 'proj-gather', got ${describe(options.fusedPrefetch)} with sparsePass ${describe(options.sparsePass)} and firstFilter ${describe(filter)}`);
    }
    if (options.sparsePass !== undefined && options.sparsePass !== 'split' && options.sparsePass !== 'auto'
      && !(options.sparsePass === 'fused' && mode?.kind === 'relu' && (filter === 'int8' || filter === 'int4-gather' || filter === 'proj-gather'))
      && !(options.sparsePass === 'fused' && mode?.kind === 'certified')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected sparsePass 'auto', 'split', or 'fused' with exact sparse ReLU and firstFilter 'int8', 'int4-gather' or 'proj-gather' or with certified softmax { epsilon }, got ${describe(options.sparsePass)} with the ${sel.rule} rule and firstFilter ${describe(filter)}`);
    }
    if (filter !== 'int8' && !(FIRST_FILTERS.includes(filter) && mode?.kind === 'relu') && !(filter === 'proj' && mode?.kind === 'certified')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected firstFilter 'int8', or ${FIRST_FILTERS.filter((f) => f !== 'int8').map((f) => `'${f}'`).join(' / ')} with exact sparse ReLU, or 'proj' with certified softmax { epsilon }, got ${describe(options.firstFilter)} with the ${sel.rule} rule`);
    }
    if (options.projectionRank !== undefined && !(PROJ_RANKS.includes(options.projectionRank) && filter.startsWith('proj'))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected projectionRank ${PROJ_RANKS.join(', ')} with firstFilter 'proj' or 'proj-gather', got ${describe(options.projectionRank)} with ${describe(filter)}`);
    }
    if (options.projectionKeysPerThread !== undefined && !(PROJ_KEYS_PER_THREAD.includes(options.projectionKeysPerThread) && filter.startsWith('proj'))) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected projectionKeysPerThread ${PROJ_KEYS_PER_THREAD.join(', ')} with firstFilter 'proj' or 'proj-gather', got ${describe(options.projectionKeysPerThread)} with ${describe(filter)}`);
    }
    if (options.certifiedDenseMax !== undefined && !(Number.isSafeInteger(options.certifiedDenseMax) && options.certifiedDenseMax >= 0 && mode?.kind === 'certified')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected certifiedDenseMax an integer ≥ 0 with certified softmax { epsilon }, got ${describe(options.certifiedDenseMax)} with the ${sel.rule} rule`);
    }
    // (Certified 'proj' buckets one key a thread: projectionKeysPerThread is exact ReLU's.)
    if (filter === 'proj' && mode?.kind === 'certified' && options.projectionKeysPerThread !== undefined) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected no projectionKeysPerThread with certified softmax and firstFilter 'proj', got ${describe(options.projectionKeysPerThread)}`);
    }
    const cutRule = options.certifiedCut ?? 'global';
    if (cutRule !== 'global' && !(cutRule === 'global-top-sum' && mode?.kind === 'certified')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected certifiedCut 'global', or 'global-top-sum' with certified softmax { epsilon }, got ${describe(options.certifiedCut)} with the ${sel.rule} rule`);
    }
    if (options.certifiedQuery !== undefined && !(['int8', 'proj'].includes(options.certifiedQuery) && mode?.kind === 'certified' && filter === 'proj')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected certifiedQuery 'int8' or 'proj' with certified softmax { epsilon } and firstFilter 'proj', got ${describe(options.certifiedQuery)} with the ${sel.rule} rule and firstFilter ${describe(filter)}`);
    }
    if (options.certifiedCompactKeys !== undefined && !([1, 2, 4, 8].includes(options.certifiedCompactKeys) && mode?.kind === 'certified' && options.sparsePass !== 'fused')) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan: expected certifiedCompactKeys 1, 2, 4 or 8 with certified softmax { epsilon } and sparsePass 'split' or 'auto', got ${describe(options.certifiedCompactKeys)} with the ${sel.rule} rule and sparsePass ${describe(options.sparsePass)}`);
    }
    if (!mode) throw new HsrError('UNSUPPORTED', `WebGpuDecodePlan: expected sparsity 'dense', 'exact' (ReLU), { epsilon }, { threshold } or { topK } (softmax), got the ${sel.rule} rule`);
    const pipelines = device instanceof Pipelines ? device : Pipelines.of(device);
    return new WebGpuDecodePlan(pipelines, { ...options, alpha: w.alpha, bias: w.bias }, mode);
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

  /** Rows per KV head of a contiguous K buffer (checked to hold `length`); 0 for the paged layout (its page table, checked). */
  private capacity(b: Pick<DecodeBuffers, 'keys' | 'pageTable'>, length: number, where: string): number {
    const o = this.options, layout = o.layout ?? 'contiguous';
    const rowBytes = o.headDim * (o.storage === 'f16' ? 2 : 4);
    const cap = layout === 'contiguous' ? Math.floor(b.keys.size / (o.kvHeads * rowBytes)) : 0;
    if (layout === 'contiguous' ? cap < length : !b.pageTable) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.${where}: expected ${layout === 'contiguous' ? `keys holding ${length} rows per KV head, got ${cap}` : 'a pageTable buffer for the paged layout'}`);
    }
    return cap;
  }

  /** Records attention of the queries over the first `length` positions into `enc` (length ≤ maxLength). */
  encode(enc: GPUCommandEncoder, b: DecodeBuffers, length: number): void {
    const o = this.options, { kvHeads, heads, storage } = o, layout = o.layout ?? 'contiguous';
    if (!Number.isSafeInteger(length) || length < 0 || length > o.maxLength) {
      throw new HsrError('BAD_OPTION', `WebGpuDecodePlan.encode: expected 0 ≤ length ≤ maxLength = ${o.maxLength}, got ${describe(length)}`);
    }
    const cap = this.capacity(b, length, 'encode');
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
