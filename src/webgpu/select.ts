/// <reference types="@webgpu/types" />
/**
 * Threshold, 'paper' and top-k softmax selection on the GPU (kernels: select-kernels.ts), encoded
 * after the certified bounds pass and the histogram of bound gaps, before the gathered attention:
 * cut → compact (candidates) → score (double-float logits) → radix rounds (top-k) or best-key
 * rounds (threshold) → keep. Everything stays
 * in the decode step's command buffer; what comes back with the output is per head the candidate
 * and kept counts, the cut's skipped-mass bound and the rejected candidates' mass (errorBound).
 */
import { upload, type Pipelines } from './plan.js';
import { bestKeySource, keepSource, radixRounds, radixSource, rankCutSource, rankSplits, RW, scoreSource, TALLY, type RankRule } from './select-kernels.js';
import { compactSource, WG, type Storage } from './wgsl.js';

/** The decoder's scratch buffers: `buf` sized at least `bytes`, `cleared` also zeroed at this point of `enc`. */
export interface Scratch {
  buf(name: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer;
  cleared(enc: GPUCommandEncoder, name: string, bytes: number): GPUBuffer;
}

/** What the bounds and histogram passes left, and the buffers the selection reads. */
export interface RankInputs {
  K: GPUBuffer;
  /** Queries [heads, D] f32, unscaled. */
  Q: GPUBuffer;
  up: GPUBuffer;
  hist: GPUBuffer;
  edges: GPUBuffer;
  m0: GPUBuffer;
  /** wgsl.ts `Params` of the selection passes (n, cap, scale, groupSize). */
  params: GPUBuffer;
}

/** A row's rule on the host: a threshold t on scaled logits (fixed or the paper's), or the top k. */
export type RankRow = { threshold: number } | { topK: number };

export class RankSelection {
  /** Per-round uniforms (wgsl `Round`), rewritten when the capacity or the workgroups change. */
  private rounds: GPUBuffer[] = [];
  private roundsKey = '';

  constructor(readonly pipelines: Pipelines, readonly rule: RankRule,
    readonly shape: { heads: number; D: number; storage: Storage; scale: number }) {}

  /**
   * The `Sel` uniform's values for one row ([4] at `at` of `out`): t/scale as a double-float, the
   * candidate cut (t lowered past the score pass's tolerance, 2⁻³⁴·scale·‖q‖·max‖k‖ + 2⁻⁴⁰·|t|, and
   * the f32 rounding), and the rank the cut must cover. `qNorm · keyNormMax` bounds |⟨q, k⟩|.
   */
  static rowValues(row: RankRow, n: number, scale: number, qNorm: number, keyNormMax: number, out: Float32Array, at: number): void {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length);
    if ('topK' in row) {
      out[at] = out[at + 1] = out[at + 2] = 0;
      words[at + 3] = Math.min(row.topK, n);
      return;
    }
    const t = row.threshold;
    // Every |dot| < 1e30 (checked by the caller), so clamping t/scale there keeps every decision.
    const T = Math.max(-1e36, Math.min(1e36, t / scale));
    out[at] = Math.fround(T);
    out[at + 1] = Math.fround(T - out[at]!);
    const low = t - Math.abs(t) * 2 ** -30 - 2 ** -30 * scale * qNorm * keyNormMax - 1e-30;
    const c = Math.max(-1e37, Math.min(1e37, low));
    out[at + 2] = Math.fround(c) > c ? Math.fround(c - Math.abs(c) * 2 ** -23 - 1e-38) : Math.fround(c);
    words[at + 3] = 1;
  }

  /**
   * Records the selection for n keys of capacity `cap` with the rows' `Sel` values `sel` ([heads,
   * 4]) (`params`' splits: rankSplits(n)); returns the kept ids ([heads, cap]) and their counts (u32 per head) for the gathered
   * attention. Candidates stay in the scratch 'ids' / 'counts', the tally in 'tally'.
   */
  encode(enc: GPUCommandEncoder, s: Scratch, x: RankInputs, n: number, cap: number, sel: Float32Array): { ids: GPUBuffer; counts: GPUBuffer } {
    const p = this.pipelines, { heads, D, storage } = this.shape, rule = this.rule, blocks = Math.ceil(n / WG);
    const selU = s.buf('sel', sel.byteLength, GPUBufferUsage.UNIFORM);
    upload(p.device.queue, selU, 0, sel);
    const cut = s.buf('cut', heads * 16, GPUBufferUsage.STORAGE);
    p.dispatch(enc, p.get(`rank-cut-${heads}-${rule}`, () => rankCutSource(heads, rule)), [x.hist, x.edges, x.m0, cut, selU], heads, 1);
    const ids = s.buf('ids', heads * cap * 4, GPUBufferUsage.STORAGE), counts = s.cleared(enc, 'counts', heads * 4);
    p.dispatch(enc, p.get('compact', compactSource), [x.up, cut, ids, counts, x.params], blocks, heads);
    const sc = s.buf('scores', heads * cap * 16, GPUBufferUsage.STORAGE), tally = s.cleared(enc, 'tally', heads * TALLY * 4);
    const threshold = rule === 'threshold';
    const wgs = rankSplits(n);
    p.dispatch(enc, p.get(`rank-score-${D}-${heads}-${storage}-${rule}`, () => scoreSource(D, heads, storage, rule)),
      [x.K, x.Q, ids, counts, sc, threshold ? tally : null, x.params, threshold ? selU : null], wgs, heads);
    const { rounds, idBits } = radixRounds(cap);
    const radix = s.cleared(enc, 'radix', 4 * ((rounds + 1) * heads * 4 + rounds * heads * 256));
    const rp = this.roundUniforms(s, rounds, idBits, cap, (rounds + 1) * heads * 4, wgs);
    // Top-k: the radix rounds, then keep reads the state after the last. Threshold: the best-key
    // rounds write state slot 0, which keep reads as round 1's.
    const [pipe, passes] = threshold ? [p.get(`rank-best-${heads}`, () => bestKeySource(heads)), 3]
      : [p.get(`rank-radix-${heads}`, () => radixSource(heads)), rounds];
    for (let r = 0; r < passes; r++) p.dispatch(enc, pipe, [sc, ids, counts, radix, threshold ? tally : null, rp[r]!, threshold ? null : selU], wgs, heads);
    const keptIds = s.buf('keptIds', heads * cap * 4, GPUBufferUsage.STORAGE), keptCounts = s.cleared(enc, 'keptCounts', heads * 4);
    p.dispatch(enc, p.get(`rank-keep-${heads}`, () => keepSource(heads)),
      [sc, ids, counts, radix, tally, rp[threshold ? 1 : rounds]!, selU, keptIds, keptCounts, cut], wgs, heads);
    return { ids: keptIds, counts: keptCounts };
  }

  /**
   * U of a row, relative to m0: the cut's bound on the keys never scored plus the rejected
   * candidates' mass (the keep pass's f32 sums: ≤ m terms a thread, then 8 halvings, each addition
   * within 2⁻²⁴ relative) — an upper bound on the mass the kept set leaves out.
   */
  static skippedMass(cutU: number, tally: Uint32Array, head: number, candidates: number, n: number): number {
    const masses = new Float32Array(tally.buffer, tally.byteOffset + (head * TALLY + 4) * 4, RW);
    let sum = 0;
    for (const m of masses) sum += m;
    const perThread = Math.ceil(candidates / (rankSplits(n) * WG));
    return cutU + sum * (1 + (perThread + 10) * 2 ** -23);
  }

  private roundUniforms(s: Scratch, rounds: number, idBits: number, cap: number, hist: number, wgs: number): GPUBuffer[] {
    if (this.roundsKey !== `${cap}-${wgs}`) {
      const q = this.pipelines.device.queue;
      this.rounds = Array.from({ length: rounds + 1 }, (_, r) => {
        const u = new Uint32Array([r, idBits, cap, hist, 0, wgs, 0, 0]);
        new Float32Array(u.buffer)[4] = this.shape.scale;
        const b = s.buf(`round${r}`, u.byteLength, GPUBufferUsage.UNIFORM);
        upload(q, b, 0, u);
        return b;
      });
      this.roundsKey = `${cap}-${wgs}`;
    }
    return this.rounds;
  }
}
