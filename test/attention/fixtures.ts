// Shared inputs and oracles for the attention and KV cache tests (not a test file itself).
import { rng } from '../../bench/lib/measure.js';
import { matrix, type Matrix } from '../../src/index.js';
import { referenceAttention, referenceWeights, visibleKeys, type ReferenceInput } from '../../src/attention/reference.js';

export type Rand = ReturnType<typeof rng>;
export { rng };

/** rows × cols Gaussian entries times `scale`. */
export function gaussian(r: Rand, rows: number, cols: number, scale = 1): Matrix {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = r.gauss() * scale;
  return matrix(data, rows, cols);
}

/** Keys around a few random centres (clustered, anisotropic). */
export function clustered(r: Rand, rows: number, cols: number, clusters: number, spread = 0.2, scale = 1): Matrix {
  const centres = gaussian(r, clusters, cols, scale).data;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const c = Math.floor(r.uniform() * clusters);
    for (let j = 0; j < cols; j++) data[i * cols + j] = centres[c * cols + j]! + r.gauss() * spread * scale * (j % 4 === 0 ? 3 : 1);
  }
  return matrix(data, rows, cols);
}

export interface Problem { q: Matrix; k: Matrix; v: Matrix }

export function referenceInput(p: Problem, kind: 'softmax' | 'relu', o: { scale?: number; alpha?: number; bias?: number; causal?: boolean } = {}): ReferenceInput {
  return {
    q: p.q.data, m: p.q.rows, k: p.k.data, n: p.k.rows, v: p.v.data, d: p.q.cols, dv: p.v.cols, kind,
    scale: o.scale ?? 1 / Math.sqrt(Math.max(1, p.q.cols)), alpha: o.alpha ?? 1, bias: o.bias ?? 0, causal: o.causal ?? false,
  };
}

export { referenceAttention, referenceWeights, visibleKeys };

/** max_i ‖out_i − ref_i‖∞ / max(‖ref‖∞, tiny): the relative error measure of the tests. */
export function relativeError(out: Float32Array, ref: Float64Array): number {
  let err = 0, norm = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(out[i]! - ref[i]!));
    norm = Math.max(norm, Math.abs(ref[i]!));
  }
  return norm === 0 ? err : err / norm;
}
