/// <reference types="@webgpu/types" />
/**
 * The fused sparse decode pass's shape and dispatch (its WGSL: fused-wgsl.ts): how many heads a
 * workgroup serves, how the keys are cut into blocks, and the one dispatch of a step before the
 * merge (wgsl.ts mergeSource with slots 'blocks'); the key codes are selection.ts's.
 */
import { HsrError } from '../errors.js';
import { fitsHeads } from './attend-kernel.js';
import { fusedBytes, fusedSource, reluKeepRule, type FusedTuning, type KeepRule } from './fused-wgsl.js';
import type { Pipelines } from './pipelines.js';
import { WG, type Storage, type Weighting } from './wgsl.js';

export interface FusedShape extends FusedTuning {
  heads: number; kvHeads: number; D: number; DV: number;
  /** Lanes per key of the attention (attend-kernel.ts lanesFor). */
  T: number;
  storage: Storage;
  weighting: Weighting;
  alpha: number;
  layout: 'contiguous' | { pageSize: number; kvHeads: number };
  /** Default exact ReLU's. */
  rule?: KeepRule;
}

/**
 * Heads one fused workgroup serves: the largest divisor of the group size ≤ 8 whose attention
 * state fits in workgroup memory beside the key list (each K/V row is then read once for them).
 */
export function fusedHeads(group: number, D: number, DV: number, T: number, rule: KeepRule = reluKeepRule, tuning: FusedTuning = {}): number {
  let G = Math.min(group, 8);
  while (group % G !== 0 || (G > 1 && !fitsHeads(G, DV, T, fusedBytes(G, D, rule, tuning)))) G--;
  return G;
}

/**
 * Blocks of a fused pass over n keys: each scan group's keys cut into blocks of `chunk` keys (a
 * multiple of WG, the scan's step), about `target` workgroups in all (at most ⌈target / groups⌉
 * blocks a group), so the pass is one wave of long workgroups as the attention's (plan-options.ts DEFAULT_WORKGROUPS).
 */
export function fusedBlocks(n: number, groups: number, target: number): { chunk: number; blocks: number } {
  const per = Math.max(1, Math.ceil(target / groups));
  const chunk = Math.max(WG, Math.ceil(n / per / WG) * WG);
  return { chunk, blocks: Math.ceil(n / chunk) };
}

export class FusedPass {
  /** Heads a workgroup (and a kept-key count) serves. */
  readonly G: number;
  readonly rule: KeepRule;
  private readonly group: number;

  constructor(private readonly pipelines: Pipelines, readonly shape: FusedShape) {
    this.rule = shape.rule ?? reluKeepRule;
    this.group = shape.heads / shape.kvHeads;
    this.G = fusedHeads(this.group, shape.D, shape.DV, shape.T, this.rule, shape);
    const buffers = 4 + (this.rule.codes === 'int8' ? 2 : 0) + this.rule.storageBuffers + (typeof shape.layout === 'object' ? 1 : 0);
    const limit = pipelines.device.limits.maxStorageBuffersPerShaderStage;
    if (buffers > limit) {
      throw new HsrError('UNSUPPORTED', `WebGpuDecodePlan: the fused pass with the ${this.rule.id} rule${typeof shape.layout === 'object' ? ' and a paged layout' : ''} binds ${buffers} storage buffers, expected at most the device's maxStorageBuffersPerShaderStage = ${limit} (use sparsePass 'split', or a device with a higher limit)`);
    }
  }

  /** Workgroups along y: scan groups of G heads. */
  get groups(): number {
    return this.shape.kvHeads * (this.group / this.G);
  }

  /**
   * Records the pass over `blocks` blocks (params: the plan's uniform with chunk and splits = blocks
   * written). `codes`: the int8 key codes and their meta (int8 rules; selection.ts encodeFusedInputs); `rule`:
   * the keep rule's buffers from RULE_BINDING on.
   */
  encode(enc: GPUCommandEncoder, b: { keys: GPUBuffer; values: GPUBuffer; queries: GPUBuffer; part: GPUBuffer; params: GPUBuffer; pageTable?: GPUBuffer },
    codes: readonly GPUBuffer[], blocks: number, rule: GPUBuffer[] = []): void {
    const s = this.shape, paged = typeof s.layout === 'object';
    const kpt = s.keysPerThread ?? 1, prefetch = s.prefetch === true, lean = s.lean === true, usedCount = s.usedCount ?? 'lanes';
    const key = `fused-${this.rule.id}-${this.G}-${s.T}-${s.D}-${s.DV}-${s.storage}-${s.weighting}-${s.alpha}-${paged ? (s.layout as { pageSize: number }).pageSize : 0}-${s.kvHeads}-${this.group}-${kpt}-${prefetch ? 'pf' : ''}-${lean ? 'lean' : ''}-${usedCount}`;
    const pipe = this.pipelines.get(key, () => fusedSource({ D: s.D, DV: s.DV, G: this.G, T: s.T, storage: s.storage, weighting: s.weighting, alpha: s.alpha,
      layout: s.layout, group: this.group, keysPerThread: kpt, prefetch, lean, usedCount }, this.rule));
    this.pipelines.dispatch(enc, pipe, [b.keys, b.values, b.queries, b.part, b.params, codes[0] ?? null, codes[1] ?? null, null, null, paged ? b.pageTable! : null, ...rule],
      blocks, this.groups);
  }
}
