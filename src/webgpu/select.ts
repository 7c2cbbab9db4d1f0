/// <reference types="@webgpu/types" />
/**
 * Threshold and top-k softmax selection of the sparse decode plans (kernels: select-kernels.ts),
 * around the certified scan and compaction of selection.ts: rank cut → (compact: candidates) →
 * top-k: score (double-float logits, many workgroups) → select (one workgroup a head: the k-th key,
 * the kept list, the rejected mass into the cut's U); threshold: keep (scored and listed over many
 * workgroups, each summarising the rest) → finish (one workgroup a head: the best key where no key
 * reaches t, the rejected mass into U). Everything stays in the plan's
 * passes, with no buffer to clear between steps: nothing comes back to the CPU; the kept list
 * feeds the gathered attention and the cut's U the merge's certified errorBound.
 */
import { upload, type Pipelines } from './pipelines.js';
import type { KeyLayout } from './codes-wgsl.js';
import { keepSplits, keptBytes, rankCutSource, scoreSource, scoreSplits, selectSource, thresholdFinishSource, thresholdKeepSource, type RankRule } from './select-kernels.js';
import type { Storage } from './wgsl.js';
import { gpuBuffer } from './device.js';

export interface RankShape {
  heads: number;
  D: number;
  storage: Storage;
  layout: KeyLayout;
  /** Positions the id lists hold per head (the plan's maxLength). */
  stride: number;
  scale: number;
}

/** A plan's rule: keys with scaled logit ≥ threshold (per head: {@link RankSelection.setThresholds}), or the top k. */
export type RankRow = { threshold: number } | { topK: number };

/** What the certified scan left and the plan's buffers the rank passes read. */
export interface RankInputs {
  hist: GPUBuffer; edges: GPUBuffer; anchor: GPUBuffer; cut: GPUBuffer; coef: GPUBuffer; normMax: GPUBuffer;
  /** The plan's uniform (wgsl.ts Params: n, cap, scale, groupSize, stride), written. */
  params: GPUBuffer;
}

export class RankSelection {
  /** Per head: the kept keys ([heads, stride] u32) and their number — the gathered attention's list. */
  readonly keptIds: GPUBuffer;
  readonly keptCounts: GPUBuffer;
  readonly rule: RankRule;
  private readonly buffers: GPUBuffer[] = [];
  /** Top-k: the candidates' scores (threshold rows keep as they score). */
  private readonly scores: GPUBuffer | null;
  private readonly sel: GPUBuffer;
  /** Threshold rows: t per head (the plan's threshold, or the KVCache's per-query 'paper' ones). */
  private readonly thresholds: Float64Array;

  constructor(private readonly pipelines: Pipelines, readonly shape: RankShape, readonly row: RankRow) {
    const { heads, stride } = shape, device = pipelines.device;
    this.rule = 'topK' in row ? 'top-k' : 'threshold';
    this.thresholds = new Float64Array(heads).fill('threshold' in row ? row.threshold : 0);
    const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const make = (bytes: number, usage = STORAGE) => {
      const b = gpuBuffer(device, Math.max(16, Math.ceil(bytes / 16) * 16), usage, `WebGpuDecodePlan (maxLength ${stride})`);
      this.buffers.push(b);
      return b;
    };
    this.keptIds = make(heads * stride * 4);
    this.keptCounts = make(this.rule === 'threshold' ? keptBytes(heads) : heads * 4);
    this.scores = this.rule === 'top-k' ? make(heads * stride * 16) : null;
    this.sel = make(heads * 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  /** Threshold rules: per-head thresholds t (scaled logits) for the next steps. */
  setThresholds(t: ArrayLike<number>): void {
    this.thresholds.set(t);
  }

  /** Records the rank cut over n keys (writes the rows' uniform now). */
  encodeCut(enc: GPUCommandEncoder, x: RankInputs, n: number): void {
    const p = this.pipelines, { heads, scale } = this.shape, rule = this.rule;
    const v = new Float32Array(4 * heads), w = new Uint32Array(v.buffer);
    for (let h = 0; h < heads; h++) {
      if ('topK' in this.row) { w[4 * h + 3] = Math.min(this.row.topK, n); continue; }
      // |⟨q, k⟩| < 1e30 (the caller's range), so t/scale clamped there decides every key the same.
      const t = this.thresholds[h]!, T = Math.max(-1e36, Math.min(1e36, t / scale));
      v[4 * h] = Math.fround(T); v[4 * h + 1] = Math.fround(T - v[4 * h]!);
      v[4 * h + 2] = Math.max(-1e37, Math.min(1e37, t)); w[4 * h + 3] = 1;
    }
    upload(p.device.queue, this.sel, 0, v);
    p.dispatch(enc, p.get(`rank-cut-${heads}-${rule}`, () => rankCutSource(heads, rule)),
      [x.hist, x.edges, x.anchor, x.cut, this.sel, ...(rule === 'threshold' ? [x.coef, x.normMax, x.params, this.keptCounts] : [])], heads, 1);
  }

  /**
   * Records everything after the compaction listed the candidates (`ids`, `counts`): threshold
   * rows' keep and finish passes, or top-k's scores and select pass (the kept list, the finished cut).
   */
  encodeKeep(enc: GPUCommandEncoder, x: RankInputs & { keys: GPUBuffer; queries: GPUBuffer; pageTable?: GPUBuffer; ids: GPUBuffer; counts: GPUBuffer }, n: number): void {
    const p = this.pipelines, { heads, D, storage, layout } = this.shape, paged = typeof layout === 'object';
    const layoutKey = `${D}-${storage}-${paged ? `${layout.pageSize}-${layout.kvHeads}` : 0}`;
    if (this.rule === 'threshold') {
      p.dispatch(enc, p.get(`threshold-keep-${layoutKey}-${heads}`, () => thresholdKeepSource(D, storage, layout, heads)),
        [x.keys, x.queries, x.ids, x.counts, this.keptIds, this.keptCounts, x.cut, x.params, this.sel, paged ? x.pageTable! : null], keepSplits(n), heads);
      p.dispatch(enc, p.get(`threshold-finish-${heads}`, () => thresholdFinishSource(heads)), [this.keptIds, this.keptCounts, x.cut, x.counts, x.params], heads, 1);
      return;
    }
    const scoreKey = `rank-score-${layoutKey}`;
    p.dispatch(enc, p.get(scoreKey, () => scoreSource(D, storage, layout)),
      [x.keys, x.queries, x.ids, x.counts, this.scores!, x.params, paged ? x.pageTable! : null], scoreSplits(n), heads);
    p.dispatch(enc, p.get(`rank-select-${heads}`, () => selectSource(heads)),
      [this.scores!, x.ids, x.counts, this.keptIds, this.keptCounts, x.cut, x.params, this.sel], heads, 1);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
