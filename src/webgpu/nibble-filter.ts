/// <reference types="@webgpu/types" />
/**
 * The 4-bit first filter of exact sparse ReLU (nibble-wgsl.ts has the codes and the bound): the
 * plan's `firstFilter: 'int4'`. Per step the scan over every key reads its 4-bit codes (72 bytes a
 * key at d = 128, half the int8 codes' 144) and lists the keys whose upper bound can exceed the
 * bias; the int8 scan (select-wgsl.ts) then runs over that list only, so the int8 codes of keys the
 * filter drops are never read. Worth it where few keys pass the 4-bit bound (bench/first-filter.ts:
 * 9 % of LLM-like keys at 1 % activation, 22 % at 3 %).
 */
import type { KeyLayout } from './codes-wgsl.js';
import { nibbleCentreSource, nibbleQuantizeSource, nibbleQuerySource, nibbleScanSource, nibbleWords } from './nibble-wgsl.js';
import type { Pipelines } from './plan.js';
import { WG, type Storage } from './wgsl.js';

export interface NibbleShape {
  heads: number; kvHeads: number; D: number; storage: Storage; layout: KeyLayout;
  /** Positions the codes and candidate lists hold per KV head. */
  stride: number;
  /** Query heads a KV head serves, and a scan group's heads (one candidate list a scan group). */
  group: number; GH: number;
}

export class NibbleFilter {
  /** The candidates: one list a scan group ([groups, stride] u32) and their number (u32 a group). */
  readonly ids: GPUBuffer;
  readonly counts: GPUBuffer;
  private readonly codes: GPUBuffer;
  private readonly meta: GPUBuffer;
  private readonly mu: GPUBuffer;
  private readonly qmu: GPUBuffer;
  private readonly buffers: GPUBuffer[] = [];
  /** Positions [0, coded) have 4-bit codes (relative to the centre in `mu`). */
  private coded = 0;

  constructor(private readonly pipelines: Pipelines, readonly shape: NibbleShape) {
    const { heads, kvHeads, D, stride } = shape, device = pipelines.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const make = (bytes: number) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
      this.buffers.push(b);
      return b;
    };
    this.codes = make(kvHeads * nibbleWords(D) * stride * 16);
    this.meta = make(kvHeads * stride * 8);
    this.mu = make(kvHeads * D * 4);
    this.qmu = make(heads * 32);
    this.ids = make((kvHeads * shape.group / shape.GH) * stride * 4);
    this.counts = make(heads * 4); // its query pass zeroes [0, lists) of the plan's lists (≥ groups, ≤ heads)
  }

  /**
   * Records the 4-bit codes of positions [from, to) (`params`: the int8 quantize pass's uniform,
   * already written with the same range). Coding from 0 over everything coded so far first sets the
   * centre, from keys of [0, to); later ranges keep it (their codes must share it).
   */
  encodeQuantize(enc: GPUCommandEncoder, keys: GPUBuffer, pageTable: GPUBuffer | undefined, params: GPUBuffer, from: number, to: number): void {
    if (to <= from) return;
    const { D, storage, layout, kvHeads } = this.shape, p = this.pipelines, paged = typeof layout === 'object';
    const tag = `${D}-${storage}-${paged ? `${layout.pageSize}-${layout.kvHeads}` : 0}`, pages = paged ? pageTable! : null;
    if (from === 0 && to >= this.coded) {
      p.dispatch(enc, p.get(`nibble-centre-${tag}`, () => nibbleCentreSource(D, storage, layout)), [keys, this.mu, null, null, params, pages], kvHeads, 1);
    }
    p.dispatch(enc, p.get(`nibble-quantize-${tag}`, () => nibbleQuantizeSource(D, storage, layout)), [keys, this.codes, this.meta, this.mu, params, pages],
      Math.ceil((to - from) / WG), kvHeads);
    this.coded = Math.max(this.coded, to);
  }

  /**
   * Records the filter's step over keys [0, n) after the query pass: the centre's term per head,
   * then the scan that fills {@link ids} / {@link counts}. `params`: the plan's uniform; qcode and
   * normMax: the query's int8 parts and the largest key norm bound (codes-wgsl.ts).
   */
  encodeScan(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): void {
    const { heads, kvHeads, D, group, GH } = this.shape, p = this.pipelines;
    p.dispatch(enc, p.get(`nibble-query-${D}`, () => nibbleQuerySource(D)), [queries, this.mu, qcode, normMax, params, this.qmu, this.counts], heads, 1);
    p.dispatch(enc, p.get(`scan-nibble-${D}-${group}-${GH}`, () => nibbleScanSource(D, group, GH)),
      [this.codes, this.meta, qcode, null, params, this.ids, this.counts, this.qmu], Math.ceil(n / WG), kvHeads * (group / GH));
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.coded = 0;
  }
}
