import type { Selection } from './options.js';

/**
 * The plan of a group's sparse softmax rows (flashinfer's plan/run split): before any bound is
 * computed, RowAttention decides where the group's bounds come from, and per head whether its row
 * runs on the fused sweep's float32 bounds with the kernel evaluator or on float64 bounds; the
 * dense switches below decide when a row is cheaper dense (exact, errorBound 0) than sparse.
 */
export interface GroupPlan {
  /**
   * 'none': every row is short enough to go dense ({@link DENSE_BELOW}); 'swept': the index's fused
   * float32 sweep (SweptBounds) for the heads with sweptHead[h], float64 bounds for the others;
   * 'float64': the index's float64 bounds (scoreBoundsBatch) for all.
   */
  bounds: 'none' | 'swept' | 'float64';
  /** Per head: whether its row runs on the swept bounds (float32SoftmaxSafe for its query). */
  readonly sweptHead: boolean[];
}

/**
 * Certified rows whose bound-order walk takes at least this fraction of the keys switch to dense
 * attention: phase 2 costs about 3 units per taken key (float64 dot, exp, accumulate) and 0.3 per
 * skipped key against 2.3 per key for a dense row, so the break-even is near 3/4.
 */
export const DENSE_SWITCH = 0.75;
/**
 * The same switch for rows on the fused sweep (CertifiedRule.sweptRow): there a taken key costs a few
 * times a key of the group's dense row (each head gathers its own K/V rows; dense reads them once
 * for the whole group), while a switched head joins the group's one dense pass, so past about half
 * the keys dense is cheaper (measurements: docs/softmax.md, docs/sparse-decode.md).
 */
export const SWEPT_DENSE_SWITCH = 0.5;
/**
 * Certified rows over at most this many keys are computed densely (exact, errorBound 0): the bound
 * pass and selection have a fixed cost per row that a short dense row does not; below about this
 * length it is not repaid (measurements: docs/sparse-decode.md).
 */
export const DENSE_BELOW = 1024;
/**
 * Certified groups whose every row went dense (scores too flat to skip any key) make the following
 * groups go dense at once, without the bound pass (exact, errorBound 0, counted in denseQueries),
 * so a flat cache costs what dense costs rather than bounds + dense. The bounds are tried again
 * after FLAT_RETRY_MIN, twice as many, … up to FLAT_RETRY_MAX such groups, so a cache whose scores
 * sharpen goes sparse again within 64 steps. A bound pass costs about half a dense step (the
 * fused sweep), so starting at 4 keeps a flat cache's first 20 steps within ~5 % of dense
 * (three passes there: steps 0, 5, 14).
 */
export const FLAT_RETRY_MIN = 4;
export const FLAT_RETRY_MAX = 64;

/** Whether rows of this rule can run on the fused sweep's float32 bounds (top-k needs lower bounds). */
export function sweepable(selection: Selection): boolean {
  return selection.rule === 'certified' || selection.rule === 'threshold' || selection.rule === 'paper';
}

/** Whether every row of a group over `limit` keys goes dense without bounds (certified rows over ≤ DENSE_BELOW keys). */
export function allShort(selection: Selection, limit: number): boolean {
  return selection.rule === 'certified' && limit <= DENSE_BELOW;
}
