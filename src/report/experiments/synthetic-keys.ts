/**
 * Keys for sweeps longer than the real dumps: drawn from N(mean, Σ) with the mean and covariance
 * of a real key set (its low rank and large common offset survive; its clusters do not). Scores of
 * a fixed query against such keys are exactly Gaussian: the paper's assumption, with real scales.
 */
import { covariance } from '../../analysis/key-stats.js';
import type { Random } from '../random.js';

export class FittedGaussianKeys {
  readonly mean: Float64Array;
  /** Lower-triangular Cholesky factor L of Σ (+ a tiny ridge), row-major [dim, dim]. */
  private readonly chol: Float64Array;
  private readonly z: Float64Array;

  constructor(keys: Float32Array, n: number, readonly dim: number) {
    const d = dim, mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c]! += keys[i * d + c]!;
    for (let c = 0; c < d; c++) mean[c]! /= n;
    this.mean = mean;
    this.chol = cholesky(covariance(keys, n, d, mean), d);
    this.z = new Float64Array(d);
  }

  /** Writes one key to out[offset .. offset + dim). */
  sample(r: Random, out: Float32Array, offset: number): void {
    const d = this.dim, L = this.chol, z = this.z;
    for (let c = 0; c < d; c++) z[c] = r.gauss();
    for (let a = 0; a < d; a++) {
      let s = this.mean[a]!;
      for (let b = 0; b <= a; b++) s += L[a * d + b]! * z[b]!;
      out[offset + a] = s;
    }
  }
}

/** Cholesky factor of a symmetric positive semi-definite matrix, with a ridge of 1e-9·trace/d on the diagonal. */
export function cholesky(a: Float64Array, d: number): Float64Array {
  let trace = 0;
  for (let i = 0; i < d; i++) trace += a[i * d + i]!;
  const ridge = (1e-9 * trace) / d;
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]! + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 0)) : L[j * d + j]! > 0 ? s / L[j * d + j]! : 0;
    }
  }
  return L;
}
