/// <reference types="@webgpu/types" />
/**
 * The 4-bit first filter of exact sparse ReLU (nibble-wgsl.ts has the codes and the bound): the
 * plan's `firstFilter: 'int4'`. Per step the scan over every key reads its 4-bit codes (72 bytes a
 * key at d = 128, half the int8 codes' 144) and lists the keys whose upper bound can exceed the
 * bias; the int8 scan (select-wgsl.ts) then runs over that list only, so the int8 codes of keys the
 * filter drops are never read. Worth it where few keys pass the 4-bit bound (bench/first-filter.ts:
 * 9 % of LLM-like keys at 1 % activation, 22 % at 3 %).
 */
import { CandidateFilter, type FilterShape } from './first-filter.js';
import { nibbleCentreSource, nibbleQuantizeSource, nibbleQuerySource, nibbleScanSource, nibbleWords } from './nibble-wgsl.js';
import type { Pipelines } from './pipelines.js';
import { WG } from './wgsl.js';

export class NibbleFilter extends CandidateFilter {
  /** Its query pass reads the int8 query parts. */
  readonly standalone = false;
  private readonly codes: GPUBuffer;
  private readonly meta: GPUBuffer;
  private readonly mu: GPUBuffer;
  private readonly qmu: GPUBuffer;

  constructor(pipelines: Pipelines, shape: FilterShape) {
    super(pipelines, shape);
    const { heads, kvHeads, D, stride } = shape;
    this.codes = this.make(kvHeads * nibbleWords(D) * stride * 16);
    this.meta = this.make(kvHeads * stride * 8);
    this.mu = this.make(kvHeads * D * 4);
    this.qmu = this.make(heads * 32);
  }

  /** The 4-bit codes of [from, to); the centre (re)made when coding from 0 over everything coded. */
  encodeQuantize(enc: GPUCommandEncoder, keys: GPUBuffer, pageTable: GPUBuffer | undefined, params: GPUBuffer, from: number, to: number): void {
    if (to <= from) return;
    const { D, storage, layout, kvHeads } = this.shape, p = this.pipelines, tag = this.layoutTag;
    const pages = typeof layout === 'object' ? pageTable! : null;
    if (from === 0 && to >= this.coded) {
      p.dispatch(enc, p.get(`nibble-centre-${tag}`, () => nibbleCentreSource(D, storage, layout)), [keys, this.mu, null, null, params, pages], kvHeads, 1);
    }
    p.dispatch(enc, p.get(`nibble-quantize-${tag}`, () => nibbleQuantizeSource(D, storage, layout)), [keys, this.codes, this.meta, this.mu, params, pages],
      Math.ceil((to - from) / WG), kvHeads);
    this.coded = Math.max(this.coded, to);
  }

  /** The centre's term per head, then the 4-bit scan. */
  encodeScan(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): void {
    const { kvHeads, D, group, GH } = this.shape, p = this.pipelines;
    this.encodeQuery(enc, queries, params, qcode, normMax);
    p.dispatch(enc, p.get(`scan-nibble-${D}-${group}-${GH}`, () => nibbleScanSource(D, group, GH)),
      [this.codes, this.meta, qcode, null, params, this.ids, this.counts, this.qmu], Math.ceil(n / WG), kvHeads * (group / GH));
  }

  /** The step's 4-bit query terms (qmu) after the query pass, the candidate counts zeroed (the scan's first half). */
  private encodeQuery(enc: GPUCommandEncoder, queries: GPUBuffer, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): void {
    const { heads, D } = this.shape, p = this.pipelines;
    p.dispatch(enc, p.get(`nibble-query-${D}`, () => nibbleQuerySource(D)), [queries, this.mu, qcode, normMax, params, this.qmu, this.counts], heads, 1);
  }

  /** The 4-bit query terms; the rule (fused-wgsl.ts nibbleKeepRule) reads the codes, their meta, the query's codes and qmu. */
  encodeFusedInputs(enc: GPUCommandEncoder, queries: GPUBuffer, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): GPUBuffer[] {
    this.encodeQuery(enc, queries, params, qcode, normMax);
    return [this.codes, this.meta, qcode, this.qmu];
  }
}
