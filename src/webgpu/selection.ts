/// <reference types="@webgpu/types" />
/**
 * The sparse decode plans' key codes and selection on the GPU (codes-wgsl.ts, select-wgsl.ts): int8
 * codes of the caller's keys kept by logical position, and per step the query's codes, then the
 * selection passes, leaving per head an id list (`ids` [heads, stride], `counts`) for the gathered
 * attention — nothing comes back to the CPU.
 */
import { down32, up32 } from './quantize.js';
import { encodeQuerySource, queryParams, quantizeKeysSource, type KeyLayout } from './codes-wgsl.js';
import { bucketWords, certifiedHistSource, certifiedScanSource, compactSource, cutSource, headsPerScan, NB, ABOVE, reluScanSource } from './select-wgsl.js';
import { upload, type Pipelines } from './pipelines.js';
import { RankSelection, type RankRow } from './select.js';
import type { CandidateFilter } from './first-filter.js';
import { NibbleFilter } from './nibble-filter.js';
import { ProjFilter } from './proj-filter.js';
import { WG, type Storage } from './wgsl.js';
import { gpuBuffer } from './device.js';

/** What the scan over every key reads under exact ReLU (plan-options.ts DecodePlanOptions.firstFilter). */
export type FirstFilter = 'int8' | 'int4' | 'int4-gather' | 'proj' | 'proj-gather';

/**
 * Certified ε: one cut over every key's histogram ('global'; 'global-top-sum': with L's top bucket
 * from the scan's sums of those keys' lower masses, certified-cut.ts).
 */
export type CertifiedCut = 'global' | 'global-top-sum';
/** Certified ε with the projection bounds: the query passes a step runs (plan-options.ts DecodePlanOptions.certifiedQuery). */
export type CertifiedQuery = 'int8' | 'proj';

/** The sparse rules: exact ReLU, certified ε, and threshold / top-k ranks. */
export type SelectionMode = { kind: 'relu' } | { kind: 'certified'; epsilon: number } | { kind: 'rank'; row: RankRow };

export interface SelectionShape {
  heads: number; kvHeads: number;
  /** Key width (a multiple of 16). */
  D: number;
  storage: Storage;
  layout: KeyLayout;
  /** Positions the codes and id lists hold per head (the plan's maxLength). */
  stride: number;
  mode: SelectionMode;
  scale: number;
  /** Workgroups the certified histogram pass aims for. */
  targetWorkgroups: number;
  /**
   * Exact ReLU and certified ε: one id list per scan group of heads (the union of their selections)
   * instead of one per head, when the attention kernel can serve the group's heads at once
   * (plan.ts): each gathered K/V row is then read once for the group, and attending a key a head
   * did not select is harmless (ReLU: its weight is 0; certified: a kept key only lowers the
   * skipped mass that U bounds, and W counts the keys attended).
   */
  unionLists: boolean;
  /** False where no pass writes id lists (the fused pass lists keys in workgroup memory): {@link CodeSelection.ids} is then not allocated. */
  idLists?: boolean;
  /**
   * Exact ReLU: what the scan over every key reads — 'int8' (the codes' bound), 'int4' / 'proj' (a
   * 4-bit scan, nibble-filter.ts, or a projection scan, proj-filter.ts, then the int8 scan over its
   * candidates only) or 'int4-gather' / 'proj-gather' (the first scan's lists attended as they are,
   * where lists are per scan group; else as 'int4' / 'proj').
   */
  firstFilter: FirstFilter;
  /** 'proj' / 'proj-gather': the projection's rank (proj-filter.ts PROJ_RANKS) and the scan's keys a thread. */
  projectionRank: number;
  projectionKeysPerThread: number;
  certifiedCut: CertifiedCut;
  /** Certified ε with firstFilter 'proj' (plan-options.ts DecodePlanOptions.certifiedQuery). */
  certifiedQuery: CertifiedQuery;
  /** Certified ε with union lists: keys a compaction thread (plan-options.ts DecodePlanOptions.certifiedCompactKeys). */
  certifiedCompactKeys: number;
}

export class CodeSelection {
  /**
   * The keys to attend, one list a head or ({@link headsPerList} > 1) a scan group ([lists, stride]
   * u32), and their number (rank rules: the candidates per head, scored exactly).
   */
  readonly ids: GPUBuffer;
  readonly counts: GPUBuffer;
  /** Heads list l serves: l·headsPerList .. (the kept lists of rank rules: 1). */
  readonly headsPerList: number;
  /** Threshold and top-k rules (select.ts): the candidates' exact selection, whose kept list is attended. */
  readonly rank: RankSelection | null;
  /** The query's (A, E1, E2, ‖q‖) per head; normMax: the largest key norm bound quantized. */
  readonly coef: GPUBuffer;
  readonly normMax: GPUBuffer;
  /** Certified and rank rules: (c, U, L, anchor) per head (select-wgsl.ts cutSource, select-kernels.ts rankCutSource). */
  readonly cut: GPUBuffer | null;
  /** firstFilter other than 'int8': the first scan, whose candidate lists the int8 scan reads. */
  readonly filter: CandidateFilter | null;
  /** '…-gather' with union lists: the first scan's lists are the attended ones (no int8 scan). */
  private readonly filterLists: boolean;
  /** Positions [0, quantized) have codes. */
  quantized = 0;
  private readonly buffers: GPUBuffer[] = [];
  private readonly codes: GPUBuffer;
  private readonly meta: GPUBuffer;
  private readonly qcode: GPUBuffer;
  private readonly anchor: GPUBuffer;
  private readonly quantParams: GPUBuffer;
  private readonly queryParams: GPUBuffer;
  private readonly hist: GPUBuffer | null = null;
  private readonly upBytes: GPUBuffer | null = null;
  /** The lower-bound bucket bytes, as upBytes. */
  private readonly loBytes: GPUBuffer | null = null;
  private readonly edges: GPUBuffer | null = null;
  private readonly cutParams: GPUBuffer | null = null;
  /** The top-sum cut: the scan workgroups' top-bucket lower masses [heads, ≤ 65535] (certifiedScanSource topSums). */
  private readonly lowSum: GPUBuffer | null = null;
  private readonly group: number;
  private readonly GH: number;
  /** Certified ε with the projection bounds and certifiedQuery 'proj': the projection's query pass is the step's only one. */
  private readonly projQuery: boolean;

  constructor(private readonly pipelines: Pipelines, readonly shape: SelectionShape) {
    const { heads, kvHeads, D, stride } = shape, device = pipelines.device;
    this.group = heads / kvHeads;
    this.GH = headsPerScan(this.group);
    this.headsPerList = shape.unionLists && shape.mode.kind !== 'rank' ? this.GH : 1;
    // (GPUBufferUsage is a global only once a GPU is loaded: read here, not at module load.)
    const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    const make = (bytes: number, usage = STORAGE) => {
      const b = gpuBuffer(device, Math.max(16, Math.ceil(bytes / 16) * 16), usage, `WebGpuDecodePlan (maxLength ${stride})`);
      this.buffers.push(b);
      return b;
    };
    this.codes = make(kvHeads * D * stride);
    this.meta = make(kvHeads * stride * 16);
    this.normMax = make(16);
    this.qcode = make(heads * 2 * D);
    this.coef = make(heads * 16);
    this.anchor = make(heads * 4);
    this.ids = make(shape.idLists === false ? 0 : heads * stride * 4);
    this.counts = make(heads * 4);
    this.quantParams = make(16, UNIFORM);
    this.queryParams = make(16, UNIFORM);
    if (shape.mode.kind !== 'relu') {
      this.hist = make(heads * NB * 2 * 4);
      this.cut = make(heads * 16);
      this.upBytes = make(kvHeads * (this.group / this.GH) * bucketWords(this.GH) * stride * 4);
      this.loBytes = make(kvHeads * (this.group / this.GH) * bucketWords(this.GH) * stride * 4);
      this.edges = make(2 * NB * 4);
      upload(device.queue, this.edges, 0, bucketEdges());
      if (shape.mode.kind === 'certified') {
        this.cutParams = make(16, UNIFORM);
        const ratio = new Float32Array(4);
        // ε/(1 − ε) shrunk by 10⁻³: room for the GPU's float32 errorBound (wgsl.ts certifiedBoundSource).
        ratio[0] = down32((shape.mode.epsilon / (1 - shape.mode.epsilon)) * (1 - 1e-3));
        upload(device.queue, this.cutParams, 0, ratio);
        if (shape.certifiedCut === 'global-top-sum') this.lowSum = make(heads * Math.min(Math.ceil(stride / WG), 65535) * 4);
      }
    } else {
      this.cut = null;
    }
    const filterShape = { heads, kvHeads, D, storage: shape.storage, layout: shape.layout, stride, group: this.group, GH: this.GH };
    // Certified ε takes 'proj': its scan buckets the projection's bounds (proj-certified.ts).
    const first = shape.mode.kind === 'relu' || (shape.mode.kind === 'certified' && shape.firstFilter === 'proj') ? shape.firstFilter : 'int8';
    this.filter = first === 'int8' ? null
      : first.startsWith('proj') ? new ProjFilter(pipelines, filterShape, shape.projectionRank, shape.projectionKeysPerThread) : new NibbleFilter(pipelines, filterShape);
    this.filterLists = this.filter !== null && first.endsWith('-gather') && this.headsPerList === this.GH;
    this.projQuery = this.filter instanceof ProjFilter && shape.mode.kind === 'certified' && shape.certifiedQuery === 'proj';
    this.rank = shape.mode.kind === 'rank'
      ? new RankSelection(pipelines, { heads, D, storage: shape.storage, layout: shape.layout, stride, scale: shape.scale }, shape.mode.row) : null;
  }

  /**
   * Records the quantization of positions [from, to) from the caller's K (`cap` rows per KV head
   * when contiguous); the codes then cover [0, max(quantized, to)). Its uniform is written now: one
   * call per submit.
   */
  encodeQuantize(enc: GPUCommandEncoder, keys: GPUBuffer, pageTable: GPUBuffer | undefined, cap: number, from: number, to: number): void {
    if (to <= from) return;
    const { D, storage, layout, kvHeads, stride } = this.shape;
    upload(this.pipelines.device.queue, this.quantParams, 0, new Uint32Array([from, to - from, cap, stride]));
    const paged = typeof layout === 'object';
    const pipe = this.pipelines.get(`quantize-${D}-${storage}-${paged ? `${layout.pageSize}-${layout.kvHeads}` : 0}`, () => quantizeKeysSource(D, storage, layout));
    this.pipelines.dispatch(enc, pipe, [keys, this.codes, this.meta, this.normMax, this.quantParams, paged ? pageTable! : null], Math.ceil((to - from) / WG), kvHeads);
    this.filter?.encodeQuantize(enc, keys, pageTable, this.quantParams, from, to);
    this.quantized = Math.max(this.quantized, to);
  }

  /** The lists the gathered attention reads: the kept keys (rank rules), else {@link ids} / {@link counts}. */
  get list(): { ids: GPUBuffer; counts: GPUBuffer; headsPerList: number } {
    if (this.rank) return { ids: this.rank.keptIds, counts: this.rank.keptCounts, headsPerList: 1 };
    return this.filterLists ? { ids: this.filter!.ids, counts: this.filter!.counts, headsPerList: this.GH } : { ids: this.ids, counts: this.counts, headsPerList: this.headsPerList };
  }

  /**
   * sparsePass 'fused': the buffers of its rule (fused-wgsl.ts) — the int8 codes and their meta
   * (bindings 5–6), or a first filter's (from RULE_BINDING: first-filter.ts encodeFusedInputs) —
   * after recording what they need this step: nothing for the int8 rule (the pass codes the query
   * itself), the filter's query pass, after the int8 one where it reads the query's int8 codes (the
   * 4-bit filter).
   */
  encodeFusedInputs(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer): { codes: GPUBuffer[]; rule: GPUBuffer[] } {
    const f = this.filter;
    if (!f) return { codes: [this.codes, this.meta], rule: [] };
    if (!f.standalone) this.encodeQuery(enc, queries, n);
    return { codes: [], rule: f.encodeFusedInputs(enc, queries, params, this.qcode, this.normMax) };
  }

  /**
   * Records the query pass of a step over positions [0, n): the query's codes and coefficients
   * (and the anchor), {@link counts} zeroed, and the histogram (rank and certified rules).
   */
  encodeQuery(enc: GPUCommandEncoder, queries: GPUBuffer, n: number): void {
    const { heads, D, stride, mode, scale } = this.shape, p = this.pipelines;
    upload(p.device.queue, this.queryParams, 0, queryParams(scale, n, stride, this.group));
    // Rank rules use the certified scan's histogram: the query pass zeroes it as for ε.
    const counters = mode.kind === 'relu' ? 'relu' : 'certified';
    p.dispatch(enc, p.get(`query-${D}-${counters}`, () => encodeQuerySource(D, counters, 2 * NB)),
      [queries, this.qcode, this.coef, this.anchor, this.codes, this.meta, this.queryParams, this.counts, mode.kind === 'relu' ? null : this.hist], heads, 1);
  }

  /**
   * Records the query's codes and the selection over positions [0, n) (params: the plan's uniform,
   * written); keys and pageTable: the caller's K, which the rank rules score exactly.
   */
  encodeSelect(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer, keys: GPUBuffer, pageTable?: GPUBuffer): void {
    const { heads, kvHeads, D, mode } = this.shape, p = this.pipelines, group = this.group, GH = this.GH;
    // A standalone first filter whose lists are attended as they are needs no int8 query pass, nor
    // does certified ε whose projection query pass does its duties.
    const int8Query = !(this.filterLists && this.filter!.standalone) && !this.projQuery;
    if (int8Query) this.encodeQuery(enc, queries, n);
    const scan = [this.codes, this.meta, this.qcode, this.coef, params];
    const groups = kvHeads * (group / GH), blocks = Math.ceil(n / WG), union = this.headsPerList > 1;
    if (mode.kind === 'relu') {
      const f = this.filter;
      if (f) f.encodeScan(enc, queries, n, params, this.qcode, this.normMax);
      if (this.filterLists) return; // the gathered attention scores the first scan's keys exactly
      // With a first filter, the int8 scan reads its candidates (at most n a list) instead of [0, n).
      p.dispatch(enc, p.get(`scan-relu${f ? '-cand' : ''}-${D}-${group}-${GH}-${+union}`, () => reluScanSource(D, group, GH, union, f !== null)),
        [...scan, this.ids, this.counts, f?.ids ?? null, f?.counts ?? null], blocks, groups);
      return;
    }
    const topSums = this.encodeBuckets(enc, queries, n, params);
    const rank = this.rank, inputs = { hist: this.hist!, edges: this.edges!, anchor: this.anchor, cut: this.cut!, coef: this.coef, normMax: this.normMax, params };
    if (rank) rank.encodeCut(enc, inputs, n);
    else if (topSums) p.dispatch(enc, p.get('cut-top-sum', () => cutSource(true)), [this.hist, this.edges, this.anchor, this.cut, this.cutParams, this.lowSum, params], heads, 1);
    else p.dispatch(enc, p.get('cut', cutSource), [this.hist, this.edges, this.anchor, this.cut, this.cutParams], heads, 1);
    const K = union ? this.shape.certifiedCompactKeys : 1;
    p.dispatch(enc, p.get(`compact-${group}-${GH}-${+union}-${K}`, () => compactSource(group, GH, union, K)), [this.upBytes, this.cut, this.ids, this.counts, params],
      Math.ceil(n / (K * WG)), groups * (union ? 1 : bucketWords(GH)));
    rank?.encodeKeep(enc, { ...inputs, keys, queries, pageTable, ids: this.ids, counts: this.counts }, n);
  }

  /**
   * Certified and rank rules: records the certified scan (every key's bucket bytes) and the
   * histogram pass over positions [0, n), after the query pass; returns whether the scan summed
   * the top bucket's lower masses (the 'global-top-sum' cut).
   */
  private encodeBuckets(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer): boolean {
    const { kvHeads, D, mode } = this.shape, p = this.pipelines, group = this.group, GH = this.GH;
    const groups = kvHeads * (group / GH), blocks = Math.ceil(n / WG);
    const topSums = mode.kind === 'certified' && this.shape.certifiedCut === 'global-top-sum';
    if (this.filter instanceof ProjFilter) {
      // Certified firstFilter 'proj': the bytes from the projection's bounds (proj-certified.ts).
      this.filter.encodeCertifiedScan(enc, queries, n, params, { anchor: this.anchor, upBytes: this.upBytes!, loBytes: this.loBytes!, lowSum: topSums ? this.lowSum : null },
        this.projQuery ? { counts: this.counts, hist: this.hist!, words: 2 * NB } : null);
    } else {
      p.dispatch(enc, p.get(`scan-certified-${D}-${group}-${GH}-${+topSums}`, () => certifiedScanSource(D, group, GH, topSums)),
        [this.codes, this.meta, this.qcode, this.coef, params, this.anchor, this.upBytes, this.loBytes, topSums ? this.lowSum : null], Math.min(blocks, 65535), groups);
    }
    // Histogram workgroups stride over the keys: a few a multiprocessor, each seeing < 65536 keys
    // (16-bit counts); 4× and 8× as many took 1.6× / 2.0× as long at 512k (H100 run 8: each flushes its histogram).
    const x = Math.min(blocks, Math.max(Math.ceil(this.shape.targetWorkgroups / groups), Math.ceil(n / 65535)));
    p.dispatch(enc, p.get(`hist-${group}-${GH}`, () => certifiedHistSource(group, GH)), [this.upBytes, this.loBytes, this.hist, params], x, groups);
    return topSums;
  }

  /**
   * Certified ε through the fused pass (certified-keep.ts): records the query pass, the scan and the
   * histogram over positions [0, n) and returns the keep rule's buffers (from RULE_BINDING: upBytes,
   * hist, edges, anchor, cut, the cut's uniform, the top-sum cut's lowSum) — the cut and the
   * compaction happen in the fused pass.
   */
  encodeCertifiedFusedInputs(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer): GPUBuffer[] {
    if (!this.projQuery) this.encodeQuery(enc, queries, n);
    const topSums = this.encodeBuckets(enc, queries, n, params);
    return [this.upBytes!, this.hist!, this.edges!, this.anchor, this.cut!, this.cutParams!, ...(topSums ? [this.lowSum!] : [])];
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.rank?.destroy();
    this.filter?.destroy();
    this.quantized = 0;
  }
}

/**
 * The cut's bucket edges relative to the anchor: e^{−(b − ABOVE)/8} rounded up (bounds the mass of a
 * key whose upper bound is in bucket b; bucket 0 is never skipped), then e^{−(b − ABOVE + 1)/8}
 * rounded down (a key whose lower bound is in bucket b; 0 for the last, unbounded, bucket).
 */
function bucketEdges(): Float32Array {
  const e = new Float32Array(2 * NB);
  for (let b = 0; b < NB; b++) {
    e[b] = up32(Math.exp(-(b - ABOVE) / 8) * (1 + 1e-12));
    e[NB + b] = b === NB - 1 ? 0 : down32(Math.exp(-(b - ABOVE + 1) / 8) * (1 - 1e-12));
  }
  return e;
}
