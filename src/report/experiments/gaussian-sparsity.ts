/**
 * Claim 1 (sparsity): under Gaussian scores the paper's threshold μ + σ·√(0.4·ln n) keeps about
 * n^{4/5} keys per query. We draw n Gaussian keys and queries (d = 64), take each query's exact
 * score mean and standard deviation over the first n keys (the same μ = ⟨q, mean k⟩,
 * σ² = qᵀΣq the library's 'paper' mode estimates from key moments), count the keys at or above the
 * threshold, and fit the exponent on log-log. The exact Gaussian expectation n·Q(√(0.4·ln n)) is
 * shown beside it: its local slope is below 4/5 because of the tail's 1/√(ln n) factor.
 */
import { fitPowerLaw, type PowerLawFit } from '../../analysis/stats.js';
import { seededRandom } from '../random.js';

export interface GaussianSparsityOptions {
  minLog2: number;
  maxLog2: number;
  dim: number;
  queries: number;
  seed: number;
}

export interface GaussianSparsityResult {
  dim: number;
  queries: number;
  points: { n: number; keptMean: number; keptFraction: number; expected: number }[];
  fit: PowerLawFit;
  expectedFit: PowerLawFit;
}

export function gaussianPaperSparsity(o: GaussianSparsityOptions): GaussianSparsityResult {
  const N = 2 ** o.maxLog2, d = o.dim, Q = o.queries, scale = 1 / Math.sqrt(d);
  const r = seededRandom(o.seed);
  const queries = Float64Array.from({ length: Q * d }, () => r.gauss());
  const scores = Array.from({ length: Q }, () => new Float32Array(N));   // [query][key] scaled scores
  const key = new Float64Array(d);
  for (let j = 0; j < N; j++) {
    for (let c = 0; c < d; c++) key[c] = Math.fround(r.gauss());
    for (let i = 0; i < Q; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += queries[i * d + c]! * key[c]!;
      scores[i]![j] = s * scale;
    }
  }
  const points: GaussianSparsityResult['points'] = [];
  for (let e = o.minLog2; e <= o.maxLog2; e++) {
    const n = 2 ** e;
    let kept = 0;
    for (const s of scores) {
      let sum = 0, sq = 0;
      for (let j = 0; j < n; j++) { sum += s[j]!; sq += s[j]! * s[j]!; }
      const mu = sum / n, sigma = Math.sqrt(Math.max(0, sq / n - mu * mu));
      const t = mu + sigma * Math.sqrt(0.4 * Math.log(n));
      for (let j = 0; j < n; j++) if (s[j]! >= t) kept++;
    }
    points.push({ n, keptMean: kept / Q, keptFraction: kept / Q / n, expected: n * gaussianTail(Math.sqrt(0.4 * Math.log(n))) });
  }
  return {
    dim: d, queries: Q, points,
    fit: fitPowerLaw(points.map((p) => p.n), points.map((p) => Math.max(p.keptMean, 1e-9))),
    expectedFit: fitPowerLaw(points.map((p) => p.n), points.map((p) => p.expected)),
  };
}

/** P(Z ≥ x) for a standard normal Z: erfc(x/√2)/2. */
export function gaussianTail(x: number): number {
  return 0.5 * erfc(x / Math.SQRT2);
}

/** Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e−7). */
export function erfc(x: number): number {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}
