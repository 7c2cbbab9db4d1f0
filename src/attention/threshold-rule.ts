import { dotRow } from '../hsr/dot.js';
import { insideBand } from '../kernels/float32-error.js';
import { BUCKETS_PER_NAT } from './buckets.js';
import type { KeyMoments } from './moments.js';
import type { KeyValueView, RowEvaluator } from './row-evaluator.js';
import { massBelow, massOf, scoreCandidates } from './row-loops.js';
import type { SweptBounds } from './swept-bounds.js';
import type { TopKRule } from './top-k-rule.js';
import { massCut, tvBound } from './tv-bound.js';

/**
 * Selection rule: the keys with scaled logit ≥ t — a fixed threshold, or the paper's per-query
 * threshold ({@link paperThreshold}). Returns the certified bound of each row; the kept ids are
 * folded by the evaluator.
 */
export class ThresholdRule {
  constructor(private readonly ev: RowEvaluator, private readonly scale: number, private readonly topK: TopKRule) {}

  /**
   * Keys with logit ≥ t. Candidates are the keys whose upper bound reaches t; they are scored
   * exactly. Skipped mass: the non-candidates' upper bounds plus the rejected candidates' exact
   * logits. A row where no key reaches t keeps its single best key instead (softmax needs ≥ 1).
   */
  row(kv: KeyValueView, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    const up = this.ev.upper[h]!, scale = this.scale, ids = this.ev.ids, scores = this.ev.scores, spare = this.ev.spare, res = this.ev.res;
    const candidates = scoreCandidates(q, kv.keys, kv.dim, up, this.ev.lower[h]!, limit, scale, t, ids, scores, res);
    const m0 = res[0]!;
    this.ev.work.keysScored += res[1]!;
    let kept = 0, rejected = 0, m = -Infinity;
    for (let p = 0; p < candidates; p++) {
      const s = scores[p]!;
      if (s >= t) { ids[kept] = ids[p]!; scores[kept++] = s; if (s > m) m = s; }
      else spare[rejected++] = s;
    }
    if (kept === 0) return this.topK.row(kv, q, h, limit, 1, out, off);
    const cut = massCut(m, m0), floor = Math.exp(cut);
    const mass = massBelow(up, limit, scale, t, m0, cut, floor) + massOf(spare, 0, rejected, m0, cut, floor);
    const w = this.ev.finishKept(kv, kept, m, out, off);
    if (kept === limit) this.ev.work.denseQueries++;
    return tvBound(w, m, mass, m0);
  }

  /** A threshold row on the fused sweep's bounds when there are some, else on the float64 bounds. */
  anyRow(kv: KeyValueView, sb: SweptBounds | null, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    return sb ? this.sweptRow(kv, sb, q, h, limit, t, out, off) : this.row(kv, q, h, limit, t, out, off);
  }

  /**
   * `row` on the fused sweep's float32 bounds: the candidates are the buckets that may hold
   * an upper bound ≥ t (gapBucket ≤ W·(top − t), plus one for this product's rounding), scored in
   * float32; a key whose logit lies within the certified margin of t is decided by the float64
   * `dotRow`, so the kept set is exactly the float64 path's. Skipped mass: the buckets after the
   * candidates (edges) and the rejected candidates' logits + margin; the kept mass is taken at
   * logit − margin. Rows where no key reaches t fall back to the float64 path (its top-1 rule).
   */
  sweptRow(kv: KeyValueView, sb: SweptBounds, q: Float32Array, h: number, limit: number, t: number,
    out: Float32Array, off: number): number {
    const kr = this.ev.rowsFor(kv)!, scale = this.scale, ids = this.ev.ids, scores = this.ev.scores;
    sb.histogram(h, limit);
    const top = sb.top;
    let kept = 0, rejectedMass = 0, m = -Infinity;
    const marginLogit = kr.margin(this.ev.sweptNorm[h]!, kv.keyNormMax!, scale);
    const bt = t <= top ? Math.min(sb.buckets - 1, Math.floor((top - t) * BUCKETS_PER_NAT) + 1) : -1;
    if (bt >= 0) {
      const count = sb.select(h, limit, -1, bt, 0), cand = sb.ids();
      const dots = kr.dotsOf(q, kv.keys, cand, count);
      // One view of the keys for the loop (KVCache's `keys` is a getter that re-views kernel
      // memory), taken after the kernel call, which may grow that memory.
      const keys = kv.keys, dim = kv.dim;
      this.ev.work.keysScored += count;
      for (let p = 0; p < count; p++) {
        const j = cand[p]!;
        const x = decidedLogit(dots[p]!, q, keys, j, dim, scale, t, marginLogit);
        if (x >= t) { ids[kept] = j; scores[kept++] = x; if (x > m) m = x; }
        else rejectedMass += Math.exp(x + marginLogit - top);
      }
    }
    if (kept === 0) {
      // No key reaches t: the float64 path keeps the single best key.
      kv.index!.scoreBounds(q, this.ev.upper[h]!, this.ev.lower[h]!, limit);
      return this.row(kv, q, h, limit, t, out, off);
    }
    const w = this.ev.finishKept(kv, kept, m, out, off, kr);
    if (kept === limit) this.ev.work.denseQueries++;
    return tvBound(w * Math.exp(-marginLogit), m, sb.massAfter(bt) + rejectedMass, top);
  }
}

/**
 * The float64 logit that decides whether key j reaches a threshold: what the float64 path scores
 * (row-loops.ts scoreCandidates) and what the fused-sweep rows fall back to near t, so every path
 * that selects by threshold (here, the decode pool's slices) keeps the same keys.
 */
export function exactLogit(q: Float32Array, keys: Float32Array, j: number, dim: number, scale: number): number {
  return dotRow(q, keys, j, dim) * scale;
}

/**
 * The logit that decides key j against threshold t, from its float32 dot `dot32` whose scaled
 * error is ≤ `margin`: dot32·scale when that lies outside the margin band around t (the exact
 * logit is then on the same side), else the float64 {@link exactLogit}. So `≥ t` keeps exactly
 * the keys the float64 path keeps.
 */
export function decidedLogit(dot32: number, q: Float32Array, keys: Float32Array, j: number, dim: number, scale: number,
  t: number, margin: number): number {
  const x = dot32 * scale;
  return insideBand(x, t, margin) ? exactLogit(q, keys, j, dim, scale) : x;
}

/** The paper's threshold μ + σ·√(0.4·ln n) on scaled logits, μ and σ from the keys' moments. */
export function paperThreshold(q: Float32Array, moments: KeyMoments, n: number, scale: number): number {
  const mu = moments.meanDot(q) * scale;
  const sigma = Math.sqrt(moments.varianceDot(q)) * scale;
  return mu + sigma * Math.sqrt(0.4 * Math.log(n));
}
