/**
 * Statistics of a set of keys that explain how well an index can prune them: a key set that is
 * low-rank (a few principal directions carry the variance) or has a few huge "outlier" channels
 * makes score bounds tight; isotropic keys make every bound loose.
 */
import { median } from './stats.js';

export interface KeyStatistics {
  /** exp(entropy of the normalised covariance eigenvalues): 1 for rank one, d for isotropic keys. */
  effectiveRank: number;
  /** (Σλ)² / Σλ²: another effective dimension, dominated by the largest eigenvalues. */
  participationRatio: number;
  /** Share of the total variance in the top `topComponents` principal components. */
  topVarianceShare: number;
  topComponents: number;
  /** Channels whose mean |k_c| exceeds `outlierFactor` × the median channel's, largest first. */
  outlierChannels: number[];
  outlierFactor: number;
  /** Mean |k_c| of the largest channel over the median channel's. */
  maxChannelRatio: number;
  /** Mean key norm and the norm of the mean key (a large common offset is easy to prune). */
  meanNorm: number;
  normOfMean: number;
}

/** Key statistics over keys [0, n) of a row-major [n, dim] array. */
export function keyStatistics(keys: Float32Array, n: number, dim: number,
  options: { topComponents?: number; outlierFactor?: number } = {}): KeyStatistics {
  const topComponents = Math.min(options.topComponents ?? 16, dim);
  const outlierFactor = options.outlierFactor ?? 5;
  const mu = new Float64Array(dim), absMean = new Float64Array(dim);
  let meanNorm = 0;
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) {
      const x = keys[i * dim + c]!;
      mu[c]! += x; absMean[c]! += Math.abs(x); sq += x * x;
    }
    meanNorm += Math.sqrt(sq);
  }
  for (let c = 0; c < dim; c++) { mu[c]! /= n; absMean[c]! /= n; }
  const eig = symmetricEigenvalues(covariance(keys, n, dim, mu), dim).sort().reverse();
  const total = eig.reduce((a, b) => a + Math.max(b, 0), 0);
  let entropy = 0, sumSq = 0, top = 0;
  eig.forEach((l, i) => {
    const p = Math.max(l, 0) / total;
    if (p > 0) entropy -= p * Math.log(p);
    sumSq += l * l;
    if (i < topComponents) top += Math.max(l, 0);
  });
  const med = median(absMean);
  const order = Array.from(absMean.keys()).sort((a, b) => absMean[b]! - absMean[a]!);
  return {
    effectiveRank: total > 0 ? Math.exp(entropy) : 0,
    participationRatio: sumSq > 0 ? (total * total) / sumSq : 0,
    topVarianceShare: total > 0 ? top / total : 0,
    topComponents,
    outlierChannels: order.filter((c) => absMean[c]! > outlierFactor * med),
    outlierFactor,
    maxChannelRatio: med > 0 ? absMean[order[0]!]! / med : Infinity,
    meanNorm: meanNorm / n,
    normOfMean: Math.hypot(...mu),
  };
}

/** Population covariance [dim, dim] (float64, full matrix) of keys [0, n) around `mu`. */
export function covariance(keys: Float32Array, n: number, dim: number, mu: Float64Array): Float64Array {
  const cov = new Float64Array(dim * dim), x = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < dim; c++) x[c] = keys[i * dim + c]! - mu[c]!;
    for (let a = 0; a < dim; a++) {
      const xa = x[a]!, o = a * dim;
      for (let b = a; b < dim; b++) cov[o + b]! += xa * x[b]!;
    }
  }
  for (let a = 0; a < dim; a++) for (let b = a; b < dim; b++) {
    const v = cov[a * dim + b]! / n;
    cov[a * dim + b] = v; cov[b * dim + a] = v;
  }
  return cov;
}

/**
 * Eigenvalues of a symmetric [dim, dim] matrix by cyclic Jacobi rotations (dim ≤ a few hundred:
 * simple, accurate, no dependency). `a` is overwritten.
 */
export function symmetricEigenvalues(a: Float64Array, dim: number): Float64Array {
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, diag = 0;
    for (let p = 0; p < dim; p++) {
      diag += a[p * dim + p]! ** 2;
      for (let q = p + 1; q < dim; q++) off += a[p * dim + q]! ** 2;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < dim - 1; p++) {
      for (let q = p + 1; q < dim; q++) {
        const apq = a[p * dim + q]!;
        if (apq === 0) continue;
        const app = a[p * dim + p]!, aqq = a[q * dim + q]!;
        // Rotation angle that zeroes a[p][q] (Numerical Recipes' stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < dim; k++) {
          const akp = a[k * dim + p]!, akq = a[k * dim + q]!;
          a[k * dim + p] = c * akp - s * akq;
          a[k * dim + q] = s * akp + c * akq;
        }
        for (let k = 0; k < dim; k++) {
          const apk = a[p * dim + k]!, aqk = a[q * dim + k]!;
          a[p * dim + k] = c * apk - s * aqk;
          a[q * dim + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Float64Array.from({ length: dim }, (_, i) => a[i * dim + i]!);
}
