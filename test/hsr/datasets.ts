import { rng } from '../../bench/lib/measure.js';

/** Point sets that stress HSR indexes; every generator is seeded. */
export type Shape = 'gaussian' | 'clustered' | 'anisotropic' | 'wide-norms' | 'degenerate';
export const SHAPES: Shape[] = ['gaussian', 'clustered', 'anisotropic', 'wide-norms', 'degenerate'];

/**
 * n points of dimension d, row-major:
 * - gaussian: isotropic N(0, I);
 * - clustered: 6 Gaussian clusters (spread 0.1) around N(0, 9·I) centres;
 * - anisotropic: N(0, diag(σ_j²)) with σ_j = 10^(−3j/d) (three decades of spread), plus a shared offset;
 * - wide-norms: Gaussian directions with norms 10^U(−20, 20);
 * - degenerate: small integers from a pool of 5 rows (duplicates), a third of them zero vectors.
 */
export function points(shape: Shape, n: number, d: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n * d);
  if (shape === 'clustered') {
    const centres = Array.from({ length: 6 }, () => Float64Array.from({ length: d }, () => 3 * r.gauss()));
    for (let i = 0; i < n; i++) {
      const c = centres[Math.floor(r.uniform() * 6)]!;
      for (let j = 0; j < d; j++) out[i * d + j] = c[j]! + 0.1 * r.gauss();
    }
  } else if (shape === 'degenerate') {
    const pool = Array.from({ length: 5 }, (_, k) => Float32Array.from({ length: d }, () => (k < 2 ? 0 : Math.round(4 * r.gauss()))));
    for (let i = 0; i < n; i++) out.set(pool[Math.floor(r.uniform() * 5)]!, i * d);
  } else {
    for (let i = 0; i < n; i++) {
      const norm = shape === 'wide-norms' ? 10 ** (40 * r.uniform() - 20) : 1;
      for (let j = 0; j < d; j++) {
        const sigma = shape === 'anisotropic' ? 10 ** ((-3 * j) / d) : 1;
        out[i * d + j] = norm * sigma * r.gauss() + (shape === 'anisotropic' ? 0.5 : 0);
      }
    }
  }
  return out;
}

/** A query normal: Gaussian, scaled by 10^U(−20, 20) for wide-norms, small integers for degenerate. */
export function normal(shape: Shape, d: number, seed: number): Float32Array {
  const r = rng(seed ^ 0x5bd1e995);
  const scale = shape === 'wide-norms' ? 10 ** (40 * r.uniform() - 20) : 1;
  return Float32Array.from({ length: d }, () => (shape === 'degenerate' ? Math.round(3 * r.gauss()) : scale * r.gauss()));
}
