/**
 * Exact float64 softmax weights of one query (from the reference's logits) and the quantities read
 * off them: the oracle minimum number of keys for a mass of 1 − ε, the mass a selection drops (its
 * total-variation distance to the exact weights), and the mass on the first keys (attention sinks).
 */

/** Normalised softmax weights (float64) of scaled logits, stably (max subtracted). */
export function softmaxOfLogits(logits: ArrayLike<number>): Float64Array {
  const w = new Float64Array(logits.length);
  let m = -Infinity;
  for (let j = 0; j < logits.length; j++) if (logits[j]! > m) m = logits[j]!;
  let total = 0;
  for (let j = 0; j < logits.length; j++) { w[j] = Math.exp(logits[j]! - m); total += w[j]!; }
  for (let j = 0; j < w.length; j++) w[j]! /= total;
  return w;
}

/**
 * For each ε, the fewest keys whose exact mass reaches 1 − ε (the largest weights first): what an
 * oracle that knew every weight would keep. One sort serves all ε.
 */
export function oracleMinimumKeys(weights: ArrayLike<number>, epsilons: readonly number[]): number[] {
  const sorted = Float64Array.from(weights).sort().reverse();
  return epsilons.map((eps) => {
    let acc = 0;
    for (let c = 0; c < sorted.length; c++) {
      acc += sorted[c]!;
      if (acc >= 1 - eps) return c + 1;
    }
    return sorted.length;
  });
}

/**
 * Σ_{j ∉ kept} w_j (= 1 − Σ_{j ∈ kept} w_j): the total-variation distance between the exact weights
 * and their restriction to `kept`, renormalised. Summed over the dropped keys directly, so keeping
 * every key gives exactly 0 rather than the rounding of 1 − Σ.
 */
export function droppedMass(weights: ArrayLike<number>, kept: ArrayLike<number>): number {
  const isKept = new Uint8Array(weights.length);
  for (let i = 0; i < kept.length; i++) isKept[kept[i]!] = 1;
  let dropped = 0;
  for (let j = 0; j < weights.length; j++) if (!isKept[j]) dropped += weights[j]!;
  return dropped;
}

/** Σ_{j < count} w_j: the mass on the first `count` keys (attention sinks sit at position 0). */
export function leadingMass(weights: ArrayLike<number>, count: number): number {
  let s = 0;
  for (let j = 0; j < Math.min(count, weights.length); j++) s += weights[j]!;
  return s;
}

/** Number of logits ≥ t among the first `limit`. */
export function countAtLeast(logits: ArrayLike<number>, limit: number, t: number): number {
  let c = 0;
  for (let j = 0; j < limit; j++) if (logits[j]! >= t) c++;
  return c;
}
