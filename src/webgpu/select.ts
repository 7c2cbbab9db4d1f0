/// <reference types="@webgpu/types" />
/**
 * Threshold and top-k softmax selection of the sparse decode plans (kernels: select-kernels.ts),
 * around the certified scan and compaction of selection.ts: rank cut → (compact: candidates) →
 * score (double-float logits) → radix rounds (top-k) or best-key rounds (threshold) → keep → finish.
 * Everything stays in the plan's passes: nothing comes back to the CPU; the kept list feeds the
 * gathered attention and the cut's U (raised by the rejected candidates' mass) the merge's
 * certified errorBound.
 */
import { upload, type Pipelines } from './plan.js';
import type { KeyLayout } from './codes-wgsl.js';
import { bestKeySource, finishSource, keepSource, radixRounds, radixSource, rankCutSource, rankSplits, scoreSource, TALLY, type RankRule } from './select-kernels.js';
import type { Storage } from './wgsl.js';

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
  private readonly scores: GPUBuffer;
  private readonly tally: GPUBuffer;
  private readonly radix: GPUBuffer;
  private readonly sel: GPUBuffer;
  /** Per-round uniforms (wgsl `Round`), rewritten when the workgroups per head change. */
  private readonly rounds: GPUBuffer[];
  private roundsSplits = 0;
  private readonly radixRounds: { rounds: number; idBits: number };
  /** Threshold rows: t per head (the plan's threshold, or the KVCache's per-query 'paper' ones). */
  private readonly thresholds: Float64Array;

  constructor(private readonly pipelines: Pipelines, readonly shape: RankShape, readonly row: RankRow) {
    const { heads, stride } = shape, device = pipelines.device;
    this.rule = 'topK' in row ? 'top-k' : 'threshold';
    this.thresholds = new Float64Array(heads).fill('threshold' in row ? row.threshold : 0);
    const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, UNIFORM = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
    const make = (bytes: number, usage = STORAGE) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
      this.buffers.push(b);
      return b;
    };
    this.radixRounds = radixRounds(stride);
    const { rounds } = this.radixRounds;
    this.keptIds = make(heads * stride * 4);
    this.keptCounts = make(heads * 4);
    this.scores = make(heads * stride * 16);
    this.tally = make(heads * TALLY * 4);
    this.radix = make(4 * ((rounds + 1) * heads * 4 + rounds * heads * 256));
    this.sel = make(heads * 16, UNIFORM);
    this.rounds = Array.from({ length: rounds + 1 }, () => make(32, UNIFORM));
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
      [x.hist, x.edges, x.anchor, x.cut, this.sel, ...(rule === 'threshold' ? [x.coef, x.normMax, x.params] : [])], heads, 1);
  }

  /**
   * Records everything after the compaction listed the candidates (`ids`, `counts`): their scores,
   * the rank or best-key rounds, the kept list and the finished cut.
   */
  encodeKeep(enc: GPUCommandEncoder, x: RankInputs & { keys: GPUBuffer; queries: GPUBuffer; pageTable?: GPUBuffer; ids: GPUBuffer; counts: GPUBuffer }, n: number): void {
    const p = this.pipelines, { heads, D, storage, layout } = this.shape, rule = this.rule, threshold = rule === 'threshold';
    const wgs = rankSplits(n), rp = this.roundUniforms(wgs), paged = typeof layout === 'object';
    enc.clearBuffer(this.tally);
    enc.clearBuffer(this.radix);
    enc.clearBuffer(this.keptCounts);
    const scoreKey = `rank-score-${D}-${heads}-${storage}-${rule}-${paged ? `${layout.pageSize}-${layout.kvHeads}` : 0}`;
    p.dispatch(enc, p.get(scoreKey, () => scoreSource(D, heads, storage, layout, rule)),
      [x.keys, x.queries, x.ids, x.counts, this.scores, threshold ? this.tally : null, x.params, threshold ? this.sel : null, rp[0]!, paged ? x.pageTable! : null], wgs, heads);
    // Top-k: the radix rounds, then keep reads the state after the last. Threshold: the best-key
    // rounds write state slot 0, which keep reads as round 1's.
    const [pipe, passes] = threshold ? [p.get(`rank-best-${heads}`, () => bestKeySource(heads)), 3]
      : [p.get(`rank-radix-${heads}`, () => radixSource(heads)), this.radixRounds.rounds];
    const common = [this.scores, x.ids, x.counts, this.radix];
    for (let r = 0; r < passes; r++) p.dispatch(enc, pipe, [...common, threshold ? this.tally : null, rp[r]!, threshold ? null : this.sel], wgs, heads);
    p.dispatch(enc, p.get(`rank-keep-${heads}`, () => keepSource(heads)),
      [...common, this.tally, rp[threshold ? 1 : this.radixRounds.rounds]!, this.sel, this.keptIds, this.keptCounts, x.cut], wgs, heads);
    p.dispatch(enc, p.get('rank-finish', finishSource), [x.cut, this.tally, x.counts, rp[0]!], heads, 1);
  }

  private roundUniforms(wgs: number): GPUBuffer[] {
    if (this.roundsSplits !== wgs) {
      const q = this.pipelines.device.queue, { rounds, idBits } = this.radixRounds, { heads, stride, scale } = this.shape;
      this.rounds.forEach((b, r) => {
        const u = new Uint32Array([r, idBits, stride, (rounds + 1) * heads * 4, 0, wgs, 0, 0]);
        new Float32Array(u.buffer)[4] = scale;
        upload(q, b, 0, u);
      });
      this.roundsSplits = wgs;
    }
    return this.rounds;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
