/**
 * Honest wall-clock timing in the browser-safe core (the report runs its experiments here;
 * bench/lib/measure.ts re-exports it for the benchmarks): contenders alternate in
 * rounds so that load from other processes hits all of them alike, each is warmed up once, and
 * the median per contender is reported. Ratios are taken between medians of the same run.
 */
import { median } from '../analysis/stats.js';

const now = (): number => (globalThis as unknown as { performance: { now(): number } }).performance.now();

/** Milliseconds for one call of fn. */
export function timeMs(fn: () => void): number {
  const t0 = now();
  fn();
  return now() - t0;
}

/** Runs fn once and returns its result with the milliseconds it took. */
export function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = now();
  const value = fn();
  return { value, ms: now() - t0 };
}

/**
 * Median milliseconds per contender over `rounds` alternating rounds (A, B, C, A, B, C, …) after
 * one untimed warm-up call each.
 */
/** {@link alternateRounds} for contenders that may return a promise (awaited inside the timing). */
export async function alternateRoundsAsync(contenders: Record<string, () => unknown>, rounds: number): Promise<Record<string, number>> {
  const names = Object.keys(contenders);
  for (const n of names) await contenders[n]!();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (const n of names) {
      const t0 = now();
      await contenders[n]!();
      samples[n]!.push(now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}

export function alternateRounds(contenders: Record<string, () => void>, rounds: number): Record<string, number> {
  const names = Object.keys(contenders);
  for (const n of names) contenders[n]!();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) for (const n of names) samples[n]!.push(timeMs(contenders[n]!));
  return Object.fromEntries(names.map((n) => [n, median(samples[n]!)]));
}
