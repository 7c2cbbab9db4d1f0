/**
 * Small descriptive statistics used by the analyses and the report (browser-safe, no allocation
 * beyond one sorted copy where a quantile needs it).
 */
import { HsrError } from '../errors.js';

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : NaN;
}

/** Quantile p ∈ [0, 1] by linear interpolation between order statistics (NaN for an empty list). */
export function quantile(xs: ArrayLike<number>, p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const pos = p * (s.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function median(xs: ArrayLike<number>): number {
  return quantile(xs, 0.5);
}

export function max(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > m) m = xs[i]!;
  return m;
}

/** y ≈ coefficient · x^exponent, fitted by least squares on (ln x, ln y); r2 of that linear fit. */
export interface PowerLawFit {
  exponent: number;
  coefficient: number;
  r2: number;
}

/**
 * Fits y = c·x^e by ordinary least squares on log-log (the usual way an empirical scaling exponent
 * is read off a sweep). Needs ≥ 2 points with x, y > 0 and at least two distinct x.
 */
export function fitPowerLaw(xs: readonly number[], ys: readonly number[]): PowerLawFit {
  if (xs.length !== ys.length || xs.length < 2) {
    throw new HsrError('SHAPE_MISMATCH', `fitPowerLaw: expected ≥ 2 (x, y) pairs of equal length, got ${xs.length} and ${ys.length}`);
  }
  if (![...xs, ...ys].every((v) => v > 0 && Number.isFinite(v))) {
    throw new HsrError('BAD_OPTION', 'fitPowerLaw: expected finite x, y > 0 (log-log fit), got a value ≤ 0 or non-finite');
  }
  const lx = xs.map(Math.log), ly = ys.map(Math.log);
  const mx = mean(lx), my = mean(ly);
  let sxx = 0, sxy = 0, syy = 0;
  for (let i = 0; i < lx.length; i++) {
    const dx = lx[i]! - mx, dy = ly[i]! - my;
    sxx += dx * dx; sxy += dx * dy; syy += dy * dy;
  }
  if (sxx === 0) throw new HsrError('BAD_OPTION', 'fitPowerLaw: expected at least two distinct x values, got one');
  const exponent = sxy / sxx;
  // A flat y (syy at rounding level) is fitted perfectly by exponent 0.
  const r2 = syy <= 1e-20 * lx.length ? 1 : (sxy * sxy) / (sxx * syy);
  return { exponent, coefficient: Math.exp(my - exponent * mx), r2 };
}
