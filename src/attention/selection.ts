/**
 * Partial selection (quickselect) for top-k: O(n) on average instead of a full sort.
 * Order used everywhere: higher score first, ties broken by the smaller id (the earlier position),
 * so "the top k" is always one well-defined set.
 */

/** The k-th largest (1-based) of values[0..count); reorders `values`. Requires 1 ≤ k ≤ count. */
export function kthLargest(values: Float64Array, count: number, k: number): number {
  let lo = 0, hi = count - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = medianOfThree(values[lo]!, values[(lo + hi) >> 1]!, values[hi]!);
    // Three-way partition (descending): [> pivot | = pivot | < pivot], robust to many ties.
    let lt = lo, i = lo, gt = hi;
    while (i <= gt) {
      const x = values[i]!;
      if (x > pivot) { values[i] = values[lt]!; values[lt] = x; lt++; i++; }
      else if (x < pivot) { values[i] = values[gt]!; values[gt] = x; gt--; }
      else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  return values[target]!;
}

/**
 * Reorders the parallel arrays ids/scores [0..count) so that their first k entries are the top k
 * by (score desc, id asc). Requires 1 ≤ k ≤ count. Ids are distinct, so the order is total.
 */
export function selectTop(ids: Uint32Array, scores: Float64Array, count: number, k: number): void {
  let lo = 0, hi = count - 1;
  const target = k - 1;
  while (lo < hi) {
    const p = (lo + hi) >> 1;
    const ps = scores[p]!, pid = ids[p]!;
    // Hoare-style partition around (ps, pid): entries better than the pivot go left.
    swap(ids, scores, p, hi);
    let store = lo;
    for (let i = lo; i < hi; i++) {
      const s = scores[i]!;
      if (s > ps || (s === ps && ids[i]! < pid)) swap(ids, scores, i, store++);
    }
    swap(ids, scores, store, hi);
    if (store === target) return;
    if (target < store) hi = store - 1;
    else lo = store + 1;
  }
}

function swap(ids: Uint32Array, scores: Float64Array, a: number, b: number): void {
  const i = ids[a]!; ids[a] = ids[b]!; ids[b] = i;
  const s = scores[a]!; scores[a] = scores[b]!; scores[b] = s;
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
}
