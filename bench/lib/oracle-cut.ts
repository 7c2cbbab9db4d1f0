// The certified cut's yardstick in the float64 studies (bench/local-cut.ts, bench/certified-filter.ts):
// the fewest keys any rule could keep for a given ε, knowing every true logit.

/** Fewest keys by true logit whose left-out mass is ≤ ε of the total: 1 marks a kept key. */
export function oracleCut(s: Float64Array, eps: number): Uint8Array {
  const idx = Array.from(s.keys()).sort((x, y) => s[y]! - s[x]!), m = s[idx[0]!]!;
  const total = s.reduce((t, x) => t + Math.exp(x - m), 0), kept = new Uint8Array(s.length);
  let tail = total;
  for (const j of idx) { if (tail <= eps * total) break; kept[j] = 1; tail -= Math.exp(s[j]! - m); }
  return kept;
}

/** How many keys a 0/1 mark array keeps. */
export const countKept = (f: Uint8Array): number => f.reduce((t, x) => t + x, 0);
