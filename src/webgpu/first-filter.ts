/// <reference types="@webgpu/types" />
/**
 * What the first filters of exact sparse ReLU share (plan option `firstFilter`; nibble-filter.ts:
 * 4-bit codes, proj-filter.ts: projections on the keys' principal directions): codes of their own
 * made from the caller's K rows when keys are quantized, and per step a scan over every key that
 * lists, one list a scan group of heads, the keys whose upper bound can exceed the bias. The int8
 * scan then reads only those keys ('int4', 'proj'), or the gathered attention scores them exactly
 * ('int4-gather', 'proj-gather').
 */
import type { KeyLayout } from './codes-wgsl.js';
import type { Pipelines } from './pipelines.js';
import type { Storage } from './wgsl.js';
import { gpuBuffer } from './device.js';

export interface FilterShape {
  heads: number; kvHeads: number; D: number; storage: Storage; layout: KeyLayout;
  /** Positions the codes and candidate lists hold per KV head. */
  stride: number;
  /** Query heads a KV head serves, and a scan group's heads (one candidate list a scan group). */
  group: number; GH: number;
}

export abstract class CandidateFilter {
  /** The candidates: one list a scan group ([groups, stride] u32) and their number (u32 a group). */
  readonly ids: GPUBuffer;
  /** Zeroed by the filter's query pass for [0, the plan's lists) (≥ groups, ≤ heads). */
  readonly counts: GPUBuffer;
  private readonly buffers: GPUBuffer[] = [];
  /** Positions [0, coded) have codes. */
  protected coded = 0;

  constructor(protected readonly pipelines: Pipelines, readonly shape: FilterShape) {
    this.ids = this.make((shape.kvHeads * shape.group / shape.GH) * shape.stride * 4);
    this.counts = this.make(shape.heads * 4);
  }

  /** A storage buffer freed with the filter. */
  protected make(bytes: number): GPUBuffer {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const b = gpuBuffer(this.pipelines.device, Math.max(16, Math.ceil(bytes / 16) * 16), usage, `WebGpuDecodePlan (maxLength ${this.shape.stride})`);
    this.buffers.push(b);
    return b;
  }

  /** The layout's part of pipeline keys. */
  protected get layoutTag(): string {
    const { D, storage, layout } = this.shape;
    return `${D}-${storage}-${typeof layout === 'object' ? `${layout.pageSize}-${layout.kvHeads}` : 0}`;
  }

  /**
   * Records the codes of positions [from, to) (`params`: the int8 quantize pass's uniform, already
   * written with the same range). Coding from 0 over everything coded so far first remakes what the
   * codes are relative to (centre, basis) from keys of [0, to); later ranges keep it.
   */
  abstract encodeQuantize(enc: GPUCommandEncoder, keys: GPUBuffer, pageTable: GPUBuffer | undefined, params: GPUBuffer, from: number, to: number): void;

  /**
   * Whether the filter's step needs nothing of the int8 query pass (codes-wgsl.ts), so a plan whose
   * lists it attends as they are ('…-gather') skips that pass.
   */
  abstract readonly standalone: boolean;

  /**
   * Records the filter's step over keys [0, n) (`params`: the plan's uniform; qcode and normMax:
   * the int8 query pass' query parts and largest key norm bound, codes-wgsl.ts — recorded before
   * unless {@link standalone}), filling {@link ids} / {@link counts}.
   */
  abstract encodeScan(enc: GPUCommandEncoder, queries: GPUBuffer, n: number, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): void;

  /**
   * sparsePass 'fused' (fused-wgsl.ts, the filter's KeepRule): records the filter's query pass
   * (what encodeScan does before its scan) and returns the buffers its rule binds, in order.
   */
  abstract encodeFusedInputs(enc: GPUCommandEncoder, queries: GPUBuffer, params: GPUBuffer, qcode: GPUBuffer, normMax: GPUBuffer): GPUBuffer[];

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.coded = 0;
  }
}
