/**
 * The GPU's per-key bounds on a head's scaled logits, in float64 (the studies' models of what the
 * kernels compute): the int8 codes' bound (codes-wgsl.ts BOUND_FNS on quantize.ts's codes) and the
 * projection's (proj-wgsl.ts: keys projected on R principal directions of sampled keys), and the
 * certified scan's bucket byte of a bound.
 */
import { encodeKey, encodeQuery } from '../../src/webgpu/quantize.js';
import { ABOVE } from '../../src/webgpu/select-wgsl.js';
import { BYTES } from '../../src/webgpu/certified-cut.js';
import { f16BitsToNumber, numberToF16Bits } from '../../src/tensor/half.js';
import { seededRandom } from '../../src/report/random.js';

export interface KeyBounds { hi: Float64Array; lo: Float64Array }

/** Bucket byte of a bound x below anchor `at` (select-wgsl.ts bucketOf, saturated at 255). */
export const byteOf = (at: number, x: number): number => Math.min(BYTES - 1, Math.max(0, Math.floor((at - x) * 8) + ABOVE));

/** The int8 codes' bounds of one head (codes-wgsl.ts BOUND_FNS, in float64). */
export function int8Bounds(K: Float32Array, n: number, d: number, q: Float32Array, scale: number): KeyBounds {
  const D = Math.ceil(d / 16) * 16, qc = new Int8Array(2 * D), coef = new Float32Array(4);
  encodeQuery(q, d, D, scale, qc, 0, coef, 0);
  const qhat = Float64Array.from({ length: d }, (_, i) => 128 * qc[i]! + qc[D + i]!);
  const codes = new Int8Array(D), meta = new Float32Array(4), hi = new Float64Array(n), lo = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    encodeKey(K.subarray(j * d, (j + 1) * d), d, codes, 0, meta, 0);
    let o = 0;
    for (let i = 0; i < d; i++) o += codes[i]! * qhat[i]!;
    const est = coef[0]! * meta[0]! * o, w = (coef[1]! * meta[1]! + coef[2]! * meta[2]! + Math.abs(est) * 2 ** -20) * (1 + 2 ** -20);
    hi[j] = est + w; lo[j] = est - w;
  }
  return { hi, lo };
}

const dot = (x: ArrayLike<number>, y: ArrayLike<number>, d: number) => { let s = 0; for (let i = 0; i < d; i++) s += x[i]! * y[i]!; return s; };

/** Centre μ and orthonormal basis B [r][d] of a KV head's keys, and the share of the sample's variance B holds. */
export interface ProjBasis { mu: Float64Array; B: Float64Array; r: number; captured: number }

/**
 * μ and the top-r principal directions of S keys spread evenly over [0, n) (orthogonal iteration
 * from a seeded start, `rounds` rounds; the GPU takes 256 keys and 10 rounds: proj-wgsl.ts).
 */
export function sampleBasis(K: Float32Array, n: number, d: number, r: number, S: number, rounds: number): ProjBasis {
  const m = Math.min(n, S), X = new Float64Array(m * d), mu = new Float64Array(d);
  for (let t = 0; t < m; t++) { const j = Math.floor((t * n) / m); for (let i = 0; i < d; i++) { X[t * d + i] = K[j * d + i]!; mu[i] += K[j * d + i]! / m; } }
  for (let t = 0; t < m; t++) for (let i = 0; i < d; i++) X[t * d + i] -= mu[i]!;
  const rand = seededRandom(12345), B = Float64Array.from({ length: r * d }, () => rand.gauss()), XB = new Float64Array(m * r);
  const orthonormalize = () => {
    for (let pass = 0; pass < 2; pass++) for (let c = 0; c < r; c++) {
      for (let p = 0; p < c; p++) { let t = 0; for (let i = 0; i < d; i++) t += B[c * d + i]! * B[p * d + i]!; for (let i = 0; i < d; i++) B[c * d + i] -= t * B[p * d + i]!; }
      let t = 0; for (let i = 0; i < d; i++) t += B[c * d + i]! ** 2;
      const inv = t > 1e-24 ? 1 / Math.sqrt(t) : 0; // rank < r: a zero row (still a valid basis for the bound)
      for (let i = 0; i < d; i++) B[c * d + i] *= inv;
    }
  };
  const projectSample = () => { for (let t = 0; t < m; t++) for (let c = 0; c < r; c++) { let s = 0; for (let i = 0; i < d; i++) s += X[t * d + i]! * B[c * d + i]!; XB[t * r + c] = s; } };
  orthonormalize();
  for (let it = 0; it < rounds; it++) {
    projectSample();
    B.fill(0);
    for (let t = 0; t < m; t++) for (let c = 0; c < r; c++) { const w = XB[t * r + c]!; for (let i = 0; i < d; i++) B[c * d + i] += w * X[t * d + i]!; }
    orthonormalize();
  }
  projectSample();
  const total = X.reduce((s, x) => s + x * x, 0), held = XB.reduce((s, x) => s + x * x, 0);
  return { mu, B, r, captured: total > 0 ? held / total : 1 };
}

/** A KV head's keys coded on a basis: c = Bᵀ(k − μ) (f16 or int8 with a per-key scale), ρ ≥ ‖e‖, σ ≥ ‖Bᵀe‖. */
export interface ProjCodes { basis: ProjBasis; c: Float64Array; rho: Float64Array; sigma: Float64Array }

export function projCodes(K: Float32Array, n: number, d: number, basis: ProjBasis, codes: 'f16' | 'int8'): ProjCodes {
  const { mu, B, r } = basis, f16 = (x: number) => f16BitsToNumber(numberToF16Bits(x));
  const c = new Float64Array(n * r), rho = new Float64Array(n), sigma = new Float64Array(n), y = new Float64Array(d), be = new Float64Array(r);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < d; i++) y[i] = K[j * d + i]! - mu[i]!;
    const cj = c.subarray(j * r, (j + 1) * r);
    for (let t = 0; t < r; t++) cj[t] = dot(B.subarray(t * d), y, d);
    if (codes === 'f16') for (let t = 0; t < r; t++) cj[t] = f16(cj[t]!);
    else {
      const s = cj.reduce((m, x) => Math.max(m, Math.abs(x)), 0) / 127;
      for (let t = 0; t < r; t++) cj[t] = s > 0 ? s * Math.round(cj[t]! / s) : 0;
    }
    for (let t = 0; t < r; t++) for (let i = 0; i < d; i++) y[i] -= B[t * d + i]! * cj[t]!;
    for (let t = 0; t < r; t++) be[t] = dot(B.subarray(t * d), y, d);
    rho[j] = Math.sqrt(dot(y, y, d)); sigma[j] = Math.sqrt(dot(be, be, r));
  }
  return { basis, c, rho, sigma };
}

/**
 * One head's projection bounds: ⟨q, k⟩ = ⟨q, μ⟩ + ⟨a, c⟩ + ⟨a, Bᵀe⟩ + ⟨q_r, e⟩ with a = Bᵀq,
 * q_r = q − B·a, so scale·⟨q, k⟩ lies within scale·(‖a‖·σ + ‖q_r‖·ρ) of scale·(⟨q, μ⟩ + ⟨a, c⟩) for any B.
 */
export function projBounds(P: ProjCodes, n: number, d: number, q: ArrayLike<number>, scale: number): KeyBounds {
  const { mu, B, r } = P.basis, a = new Float64Array(r), qr = Float64Array.from(q);
  for (let t = 0; t < r; t++) a[t] = dot(B.subarray(t * d), q, d);
  for (let t = 0; t < r; t++) for (let i = 0; i < d; i++) qr[i] -= B[t * d + i]! * a[t]!;
  const qmu = dot(q, mu, d), an = Math.sqrt(dot(a, a, r)), qrn = Math.sqrt(dot(qr, qr, d));
  const hi = new Float64Array(n), lo = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const est = scale * (qmu + dot(a, P.c.subarray(j * r), r)), half = scale * (an * P.sigma[j]! + qrn * P.rho[j]!);
    hi[j] = est + half; lo[j] = est - half;
  }
  return { hi, lo };
}
