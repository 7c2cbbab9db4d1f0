import { dotRow } from '../hsr/dot.js';
import { insideBand } from '../kernels/float32-error.js';

/**
 * The inner loops of attention rows, as plain functions of typed arrays and numbers. Keeping hot
 * loops out of large methods matters in V8: a long loop inside a method is compiled by on-stack
 * replacement, and a property access after it that the compiled code has no feedback for throws
 * the method back to the interpreter — on every call. Small loop functions are optimized whole.
 *
 * Conventions: keys row-major [·, dim], values [·, dv]; `scale` turns ⟨q,k⟩ into a logit;
 * `res` is a small Float64Array for secondary results (documented per function).
 */

/** Dense logits: scores[j] = ⟨q, k_j⟩·scale and ids[j] = j for j < limit; returns the maximum. */
export function scoreAll(q: Float32Array, keys: Float32Array, dim: number, limit: number, scale: number,
  scores: Float64Array, ids: Uint32Array): number {
  let m = -Infinity;
  for (let j = 0; j < limit; j++) {
    const s = dot4(q, keys, j, dim) * scale;
    scores[j] = s; ids[j] = j;
    if (s > m) m = s;
  }
  return m;
}

/**
 * ⟨q, keys[row]⟩ in float64 with four partial sums: ~40% faster than the sequential `dotRow` in
 * V8. Dense softmax rows use it (softmax is continuous in the logits); ReLU and sparse rows keep
 * `dotRow`, the arithmetic the indexes verify with, so a key's logit is the very value its
 * certified bounds and the threshold tests refer to.
 */
export function dot4(q: Float32Array, keys: Float32Array, row: number, dim: number): number {
  const base = row * dim;
  let a = 0, b = 0, c = 0, e = 0, j = 0;
  for (; j + 3 < dim; j += 4) {
    a += q[j]! * keys[base + j]!;
    b += q[j + 1]! * keys[base + j + 1]!;
    c += q[j + 2]! * keys[base + j + 2]!;
    e += q[j + 3]! * keys[base + j + 3]!;
  }
  for (; j < dim; j++) a += q[j]! * keys[base + j]!;
  return (a + b) + (c + e);
}

/** x[p] = e^{x[p] − m} for from ≤ p < count (logits → weights relative to m); returns their sum. */
export function expRelative(x: Float64Array, count: number, m: number, from = 0): number {
  let sum = 0;
  for (let p = from; p < count; p++) { const e = Math.exp(x[p]! - m); x[p] = e; sum += e; }
  return sum;
}

/**
 * acc += Σ_p w[p]·values[rows[p]] over from ≤ p < count, four rows per sweep over acc (a quarter of the
 * accumulator traffic of one row at a time); returns Σ_p w[p].
 */
export function accumulateRows(acc: Float64Array, w: Float64Array, rows: Uint32Array, count: number,
  values: Float32Array, dv: number, from = 0): number {
  let p = from, sum = 0;
  for (; p + 3 < count; p += 4) {
    const w0 = w[p]!, w1 = w[p + 1]!, w2 = w[p + 2]!, w3 = w[p + 3]!;
    const b0 = rows[p]! * dv, b1 = rows[p + 1]! * dv, b2 = rows[p + 2]! * dv, b3 = rows[p + 3]! * dv;
    sum += (w0 + w1) + (w2 + w3);
    for (let c = 0; c < dv; c++) {
      acc[c]! += w0 * values[b0 + c]! + w1 * values[b1 + c]! + w2 * values[b2 + c]! + w3 * values[b3 + c]!;
    }
  }
  for (; p < count; p++) {
    const x = w[p]!, b = rows[p]! * dv;
    sum += x;
    for (let c = 0; c < dv; c++) acc[c]! += x * values[b + c]!;
  }
  return sum;
}

/**
 * ReLU^α weights of keys j < count (or of the ids hits[0..count) when `useHits`): the keys with
 * positive weight go to ids[0..used), their weights to w[0..used); returns used. Scores with
 * `dotRow`, the reference's arithmetic, so a key on the threshold gets exactly its weight (0 or not).
 */
export function reluWeights(q: Float32Array, keys: Float32Array, dim: number, count: number, hits: Uint32Array,
  useHits: boolean, scale: number, bias: number, alpha: number, ids: Uint32Array, w: Float64Array): number {
  let used = 0, max = 0;
  for (let p = 0; p < count; p++) {
    const j = useHits ? hits[p]! : p;
    const t = dotRow(q, keys, j, dim) * scale - bias;
    if (t > 0) { ids[used] = j; w[used++] = t; if (t > max) max = t; }
  }
  powRelative(w, used, max, alpha);
  return used;
}

/**
 * w[p] = (w[p] / max)^α for p < count: ReLU^α weights relative to the row's largest t, which the
 * normalisation cancels. t^α itself overflows float64 (100^300); the ratio is ≤ 1.
 */
function powRelative(w: Float64Array, count: number, max: number, alpha: number): void {
  if (alpha === 1) return;
  for (let p = 0; p < count; p++) w[p] = (w[p]! / max) ** alpha;
}

/**
 * As {@link reluWeights} over the ids hits[0..count) from float32 dots (the kernels' scoreIds) with
 * |dots[p] − ⟨q,k⟩| ≤ margin: a key whose dot lies within the margin of bias/scale is decided by
 * `dotRow`, the reference's arithmetic, so the set of keys with positive weight is exactly the
 * reference's; the others take their weight from the float32 dot.
 */
export function reluWeightsF32(q: Float32Array, keys: Float32Array, dim: number, dots: Float32Array, hits: Uint32Array,
  count: number, scale: number, bias: number, alpha: number, margin: number, ids: Uint32Array, w: Float64Array): number {
  const edge = bias / scale;
  let used = 0, max = 0;
  for (let p = 0; p < count; p++) {
    const j = hits[p]!, x = dots[p]!;
    let t: number;
    if (insideBand(x, edge, margin)) t = dotRow(q, keys, j, dim) * scale - bias;
    else t = x * scale - bias;
    if (t > 0) { ids[used] = j; w[used++] = t; if (t > max) max = t; }
  }
  powRelative(w, used, max, alpha);
  return used;
}

/**
 * Keys j < limit whose scaled upper bound reaches `cutoff`, with their exact logits: ids[0..count),
 * scores[0..count); returns count. A key whose bounds coincide (the `scan` index) takes its logit
 * from them; others are scored in float64 (`dotRow`).
 * res[0] = the largest scaled upper bound over all keys (m0), res[1] = keys scored here.
 */
export function scoreCandidates(q: Float32Array, keys: Float32Array, dim: number, up: Float64Array, lo: Float64Array,
  limit: number, scale: number, cutoff: number, ids: Uint32Array, scores: Float64Array, res: Float64Array): number {
  let m0 = -Infinity, count = 0, scored = 0;
  for (let j = 0; j < limit; j++) {
    const u = up[j]!, su = u * scale;
    if (su > m0) m0 = su;
    if (su < cutoff) continue;
    let s: number;
    if (u === lo[j]!) s = su;
    else { s = dotRow(q, keys, j, dim) * scale; scored++; }
    ids[count] = j; scores[count++] = s;
  }
  res[0] = m0; res[1] = scored;
  return count;
}

/**
 * Σ over keys j < limit with up[j]·scale < below of e^{up[j]·scale − m0}, terms under e^{cut}
 * counted as `floor` = e^{cut} (an over-estimate, never an omission).
 */
export function massBelow(up: Float64Array, limit: number, scale: number, below: number, m0: number, cut: number, floor: number): number {
  let total = 0;
  for (let j = 0; j < limit; j++) {
    const su = up[j]! * scale;
    if (su >= below) continue;
    const e = su - m0;
    total += e < cut ? floor : Math.exp(e);
  }
  return total;
}

/** Σ_{from ≤ p < to} e^{x[p] − m0}, floored as in {@link massBelow}. */
export function massOf(x: Float64Array, from: number, to: number, m0: number, cut: number, floor: number): number {
  let total = 0;
  for (let p = from; p < to; p++) {
    const e = x[p]! - m0;
    total += e < cut ? floor : Math.exp(e);
  }
  return total;
}

/** out[j] = x[j]·scale for j < count (the input of top-k's selection). */
export function scaleInto(x: Float64Array, count: number, scale: number, out: Float64Array): void {
  for (let j = 0; j < count; j++) out[j] = x[j]! * scale;
}

/**
 * logits[p] = the exact logit of key ids[p] for p in [from, to): read off the bounds when they
 * coincide (the `scan` index), else ⟨q,k⟩·scale in float64 (`dot4`). Returns the number scored.
 */
export function scoreIdsExact(q: Float32Array, keys: Float32Array, dim: number, up: Float64Array, lo: Float64Array,
  ids: Uint32Array, from: number, to: number, scale: number, logits: Float64Array): number {
  let scored = 0;
  for (let p = from; p < to; p++) {
    const j = ids[p]!, u = up[j]!;
    if (u === lo[j]!) logits[p] = u * scale;
    else { logits[p] = dot4(q, keys, j, dim) * scale; scored++; }
  }
  return scored;
}
