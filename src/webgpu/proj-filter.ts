/// <reference types="@webgpu/types" />
/**
 * The projection first filter of exact sparse ReLU (proj-wgsl.ts has the codes and the bound): the
 * plan's `firstFilter: 'proj'` / 'proj-gather'. Keys are projected on R of their principal
 * directions (a basis made on the GPU from sampled K rows, once, when coding starts from position
 * 0); per step the scan reads 2R + 8 bytes a key (24 at R = 8, against the int8 codes' 144 at
 * d = 128) and lists the keys whose upper bound can exceed the bias. Pays only where the keys are
 * close to rank R (bench/first-filter.ts: 'llm' synthetic keys — rank 8 plus noise by construction
 * — pass 6 % at 1 % activation; the real dumps' keys are not low-rank, and ~100 % pass at R = 8).
 */
import { CandidateFilter, type FilterShape } from './first-filter.js';
import { PROJ_SAMPLES, projBasisSource, projFrameStride, projQuantizeSource, projQuerySource, projQueryStride, projScanSource, projWords } from './proj-wgsl.js';
import { projCertifiedScanSource } from './proj-certified.js';
import type { Pipelines } from './pipelines.js';
import { WG } from './wgsl.js';

/** Projection ranks the filter takes (a multiple of 8: one f16 word holds 8 projections). */
export const PROJ_RANKS: readonly number[] = [8, 16, 24, 32];
/** Keys a thread of the projection scan may take (plan option projectionKeysPerThread). */
export const PROJ_KEYS_PER_THREAD: readonly number[] = [1, 2, 4, 8];
/** The default: 8 keys a thread, 3 % faster than 1 at 512k on an H100 (runs 11 and 13: 54.2 / 48.2 against 55.8 / 49.8 µs at 1 %). */
export const PROJ_DEFAULT_KEYS_PER_THREAD = 8;

export class ProjFilter extends CandidateFilter {
  /** Its query pass projects the query itself. */
  readonly standalone = true;
  private readonly codes: GPUBuffer;
  private readonly meta: GPUBuffer;
  /** Per KV head: the basis, the centre and β (proj-wgsl.ts projFrameStride). */
  private readonly frame: GPUBuffer;
  private readonly qproj: GPUBuffer;
  /** The basis pass' scratch: sampled keys' projections and Y. */
  private readonly proj: GPUBuffer;
  private readonly work: GPUBuffer;

  constructor(pipelines: Pipelines, shape: FilterShape, readonly rank: number, readonly keysPerThread = PROJ_DEFAULT_KEYS_PER_THREAD) {
    super(pipelines, shape);
    const { heads, kvHeads, D, stride } = shape, R = rank;
    this.codes = this.make(kvHeads * projWords(R) * stride * 16);
    this.meta = this.make(kvHeads * stride * 8);
    this.frame = this.make(kvHeads * projFrameStride(D, R) * 16);
    this.work = this.make(kvHeads * R * D * 4);
    this.proj = this.make(kvHeads * PROJ_SAMPLES * R * 4);
    this.qproj = this.make(heads * projQueryStride(R) * 16);
  }

  /** The codes of [from, to); centre and basis (re)made when coding from 0 over everything coded. */
  encodeQuantize(enc: GPUCommandEncoder, keys: GPUBuffer, pageTable: GPUBuffer | undefined, params: GPUBuffer, from: number, to: number): void {
    if (to <= from) return;
    const { D, storage, layout, kvHeads } = this.shape, p = this.pipelines, R = this.rank, tag = `${R}-${this.layoutTag}`;
    const pages = typeof layout === 'object' ? pageTable! : null;
    if (from === 0 && to >= this.coded) {
      p.dispatch(enc, p.get(`proj-basis-${tag}`, () => projBasisSource(D, R, storage, layout)),
        [keys, this.frame, null, this.work, params, pages, this.proj], kvHeads, 1);
    }
    p.dispatch(enc, p.get(`proj-quantize-${tag}`, () => projQuantizeSource(D, R, storage, layout)),
      [keys, this.codes, this.meta, this.frame, params, pages], Math.ceil((to - from) / WG), kvHeads);
    this.coded = Math.max(this.coded, to);
  }

  /** The query's projection per head (a pass of its own: run 11 timed it in the scan's workgroups 33–42 % slower), and the projection scan. */
  encodeScan(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer): void {
    const { kvHeads, group, GH, D } = this.shape, p = this.pipelines, R = this.rank, K = this.keysPerThread;
    this.encodeQuery(enc, queries, params);
    p.dispatch(enc, p.get(`scan-proj-${D}-${R}-${group}-${GH}-${K}`, () => projScanSource(R, group, GH, K)),
      [this.codes, this.meta, null, this.qproj, params, this.ids, this.counts],
      Math.ceil(n / (K * WG)), kvHeads * (group / GH));
  }

  /**
   * Certified ε on the projection's bounds (proj-certified.ts): the query's projection, then the
   * certified scan over keys [0, n) writing the bucket bytes (and the top-sum cut's sums when lowSum
   * is given) against the anchor. `query` given (plan option certifiedQuery 'proj'), the query pass
   * also does the int8 query pass' duties, which then does not run: the compaction's counts and
   * `words` histogram words a head zeroed, the anchor from the projection bounds of sampled keys
   * (proj-wgsl.ts projQuerySource); else the int8 query pass did them. Dispatch as the int8
   * certified scan's.
   */
  encodeCertifiedScan(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer,
    out: { anchor: GPUBuffer; upBytes: GPUBuffer; loBytes: GPUBuffer; lowSum: GPUBuffer | null },
    query: { counts: GPUBuffer; hist: GPUBuffer; words: number } | null): void {
    const { kvHeads, group, GH, D, heads } = this.shape, p = this.pipelines, R = this.rank, topSums = out.lowSum !== null;
    if (query) {
      p.dispatch(enc, p.get(`proj-query-anchor-${D}-${R}-${query.words}`, () => projQuerySource(D, R, query.words)),
        [queries, this.frame, null, null, params, this.qproj, query.counts, this.codes, this.meta, out.anchor, query.hist], heads, 1);
    } else {
      this.encodeQuery(enc, queries, params);
    }
    p.dispatch(enc, p.get(`scan-certified-proj-${D}-${R}-${group}-${GH}-${+topSums}`, () => projCertifiedScanSource(D, R, group, GH, topSums)),
      [this.codes, this.meta, null, this.qproj, params, out.anchor, out.upBytes, out.loBytes, out.lowSum],
      Math.min(Math.ceil(n / WG), 65535), kvHeads * (group / GH));
  }

  /** The query's projection per head (qproj), the candidate counts zeroed. */
  private encodeQuery(enc: GPUCommandEncoder, queries: GPUBuffer, params: GPUBuffer): void {
    const { heads, D } = this.shape, p = this.pipelines, R = this.rank;
    p.dispatch(enc, p.get(`proj-query-${D}-${R}`, () => projQuerySource(D, R)),
      [queries, this.frame, null, null, params, this.qproj, this.counts], heads, 1);
  }

  /** The query's projection; the rule (fused-wgsl.ts projKeepRule) reads the codes, their meta and qproj. */
  encodeFusedInputs(enc: GPUCommandEncoder, queries: GPUBuffer, params: GPUBuffer): GPUBuffer[] {
    this.encodeQuery(enc, queries, params);
    return [this.codes, this.meta, this.qproj];
  }
}
