import type { KeyValueView, RowEvaluator } from './row-evaluator.js';
import { massBelow, massOf, scaleInto, scoreCandidates } from './row-loops.js';
import { kthLargest, selectTop } from './selection.js';
import { massCut, tvBound } from './tv-bound.js';

/** Selection rule: the k best keys by (logit desc, id asc), on float64 bounds. Returns the certified bound of each row. */
export class TopKRule {
  constructor(private readonly ev: RowEvaluator, private readonly scale: number) {}

  /**
   * The k best keys by (logit desc, id asc). The k-th largest lower bound L is a logit at least
   * k keys reach, so only keys with upper bound ≥ L can be among the k best: those are scored
   * exactly and the top k of them kept.
   */
  row(kv: KeyValueView, q: Float32Array, h: number, limit: number, topK: number,
    out: Float32Array, off: number): number {
    const up = this.ev.upper[h]!, scale = this.scale, ids = this.ev.ids, scores = this.ev.scores, res = this.ev.res;
    const k = Math.min(topK, limit);
    scaleInto(this.ev.lower[h]!, limit, scale, this.ev.spare);
    const kth = kthLargest(this.ev.spare, limit, k);
    const candidates = scoreCandidates(q, kv.keys, kv.dim, up, this.ev.lower[h]!, limit, scale, kth, ids, scores, res);
    const m0 = res[0]!;
    this.ev.work.keysScored += res[1]!;
    selectTop(ids, scores, candidates, k);
    let m = -Infinity;
    for (let p = 0; p < k; p++) if (scores[p]! > m) m = scores[p]!;
    const cut = massCut(m, m0), floor = Math.exp(cut);
    const mass = massOf(scores, k, candidates, m0, cut, floor) + massBelow(up, limit, scale, kth, m0, cut, floor);
    const w = this.ev.finishKept(kv, k, m, out, off);
    if (k === limit) this.ev.work.denseQueries++;
    return tvBound(w, m, mass, m0);
  }
}
