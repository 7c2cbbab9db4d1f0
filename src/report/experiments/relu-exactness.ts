/**
 * Claim 2 (exactness): ReLU^α attention through the HSR index equals dense ReLU^α attention. We
 * compare the library's sparse path (every index kind) with its dense path and with the float64
 * reference, for α ∈ {1, 2, 3}, on Gaussian data and on the ReLU model's real queries and keys.
 */
import { attention } from '../../attention/attention.js';
import { referenceAttention } from '../../attention/reference.js';
import { matrix, type Matrix } from '../../tensor/matrix.js';

export interface ReluCase {
  data: string;
  alpha: number;
  bias: number;
  index: string;
  m: number;
  n: number;
  /** max |sparse − dense| over every output entry. */
  maxErrorVsDense: number;
  /** max |sparse − float64 reference|. */
  maxErrorVsReference: number;
  /** Keys with non-zero weight / keys visible, and keys the index scored exactly / keys visible. */
  usedFraction: number;
  scoredFraction: number;
}

export interface ReluProblem { name: string; q: Matrix; k: Matrix; v: Matrix; bias: number }

/** Causal ReLU^α attention of the problem's queries (the last m positions) for each α and index kind. */
export function reluExactness(problems: readonly ReluProblem[], alphas: readonly number[], kinds: readonly string[]): ReluCase[] {
  const out: ReluCase[] = [];
  for (const p of problems) {
    const m = p.q.rows, n = p.k.rows, visible = m * (2 * n - m + 1) / 2;
    for (const alpha of alphas) {
      const opts = { kind: 'relu' as const, alpha, bias: p.bias, causal: true };
      const dense = attention(p.q, p.k, p.v, { ...opts, sparsity: 'dense' }).output.data;
      const ref = referenceAttention({ q: p.q.data, m, k: p.k.data, n, v: p.v.data, d: p.q.cols, dv: p.v.cols, scale: 1 / Math.sqrt(p.q.cols), ...opts });
      for (const index of kinds) {
        const r = attention(p.q, p.k, p.v, { ...opts, index });
        let vsDense = 0, vsRef = 0;
        r.output.data.forEach((x, i) => {
          vsDense = Math.max(vsDense, Math.abs(x - dense[i]!));
          vsRef = Math.max(vsRef, Math.abs(x - ref[i]!));
        });
        out.push({ data: p.name, alpha, bias: p.bias, index, m, n, maxErrorVsDense: vsDense, maxErrorVsReference: vsRef,
          usedFraction: r.stats.keysUsed / visible, scoredFraction: r.stats.keysScored / visible });
      }
    }
  }
  return out;
}

/** Rows [first, first + count) of an [rows, cols] row-major array as a Matrix (a view). */
export function rowsOf(data: Float32Array, cols: number, first: number, count: number): Matrix {
  return matrix(data.subarray(first * cols, (first + count) * cols), count, cols);
}
