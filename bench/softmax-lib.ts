// Oracles shared by the softmax benchmarks (not a benchmark itself).

/** Exact softmax weights (float64, summing to 1) of query q over keys [0, limit) of a [·, dim] array. */
export function exactWeights(q: Float32Array, keys: Float32Array, limit: number, dim: number, scale: number): Float64Array {
  const w = new Float64Array(limit);
  let m = -Infinity;
  for (let j = 0; j < limit; j++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += q[c]! * keys[j * dim + c]!;
    w[j] = s * scale;
    if (w[j]! > m) m = w[j]!;
  }
  let total = 0;
  for (let j = 0; j < limit; j++) { w[j] = Math.exp(w[j]! - m); total += w[j]!; }
  for (let j = 0; j < limit; j++) w[j]! /= total;
  return w;
}

/** The fewest keys whose exact mass reaches 1 − ε (weights sorted descending). */
export function oracleMinimum(sortedDesc: Float64Array, eps: number): number {
  let acc = 0;
  for (let c = 0; c < sortedDesc.length; c++) { acc += sortedDesc[c]!; if (acc >= 1 - eps) return c + 1; }
  return sortedDesc.length;
}

/** Weights sorted descending (a copy). */
export function sortedDescending(w: Float64Array): Float64Array {
  return Float64Array.from(w).sort().reverse();
}

/** True total-variation distance of keeping only `kept`: the exact mass left out. */
export function droppedMass(w: Float64Array, kept: Uint32Array): number {
  let used = 0;
  for (const j of kept) used += w[j]!;
  return Math.max(0, 1 - used);
}

export function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]!;
}
