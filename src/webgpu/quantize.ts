/**
 * Int8 codes of keys and queries for the GPU's certified logit bounds (wgsl.ts `boundsSource`).
 *
 * Key k (as stored: float32, or its float16 rounding): s = max|k_i|/127, c_i = round(k_i/s), so
 * k = s·c + e with R ≥ ‖e‖; N ≥ ‖k‖. Query q: a = max|q_i|/(127·128), q̂_i = round(q_i/a) ∈
 * [−16256, 16256] split as q̂ = 128·hi + lo (hi ∈ [−127, 127], lo ∈ [−64, 64]: both int8, so the GPU
 * gets o = ⟨c, q̂⟩ exactly from two dot4I8Packed per word), and q = a·q̂ + r. Then
 *   scale·⟨q, k⟩ = scale·a·s·o + scale·a·⟨q̂, e⟩ + scale·⟨r, k⟩,
 *   |scale·⟨q, k⟩ − scale·a·s·o| ≤ E1·R + E2·N,   E1 ≥ scale·a·‖q̂‖,  E2 ≥ scale·‖r‖.
 * The shader evaluates est = fl32(fl32(A·s₃₂)·fl32(o)) with A = fl32(scale·a), s₃₂ = fl32(s): four
 * float32 roundings, |est − scale·a·s·o| ≤ 2⁻²¹·|est|, inside its |est|·2⁻²⁰ term; the width's own
 * roundings are inside its (1 + 2⁻²⁰) factor. E1, E2, R, N are rounded up here. Rounding q̂ to 16
 * bits makes the query's term (E2·N) about 1/128 of the key's (E1·R).
 */

const f32 = new Float32Array(1);
const bits = new Uint32Array(f32.buffer);

/** The smallest float32 ≥ x (x ≥ 0 finite). */
export function up32(x: number): number {
  f32[0] = x;
  if (f32[0]! >= x) return f32[0]!;
  bits[0]!++;
  return f32[0]!;
}

/** The largest float32 ≤ x (x ≥ 0 finite). */
export function down32(x: number): number {
  f32[0] = x;
  if (f32[0]! <= x) return f32[0]!;
  bits[0]!--;
  return f32[0]!;
}

/** Relative slack on float64 norms (≤ d roundings of ~1e-16 each, d ≤ 2¹⁶). */
const NORM_SLACK = 1 + 1e-11;

/**
 * Codes of one key (values k[0..d), padded to D with zeros) into codes[at..at+D) and its meta
 * (s, R, N, 0) into meta[4·row..].
 */
export function encodeKey(k: ArrayLike<number>, d: number, codes: Int8Array, at: number, meta: Float32Array, row: number): void {
  let amax = 0;
  for (let i = 0; i < d; i++) amax = Math.max(amax, Math.abs(k[i]!));
  const s = amax / 127;
  let e2 = 0, n2 = 0;
  for (let i = 0; i < d; i++) {
    const x = k[i]!;
    const c = s > 0 ? Math.max(-127, Math.min(127, Math.round(x / s))) : 0;
    codes[at + i] = c;
    const e = x - s * c;
    e2 += e * e; n2 += x * x;
  }
  meta[4 * row] = s;
  meta[4 * row + 1] = up32(Math.sqrt(e2) * NORM_SLACK);
  meta[4 * row + 2] = up32(Math.sqrt(n2) * NORM_SLACK);
  meta[4 * row + 3] = 0;
}

/**
 * The query's int8 parts (hi at codes[at..at+D), lo at codes[at+D..at+2D)) and coefficients
 * (A, E1, E2, 0) into coef[4·head..]; returns ‖q‖ rounded up.
 */
export function encodeQuery(q: ArrayLike<number>, d: number, D: number, scale: number, codes: Int8Array, at: number,
  coef: Float32Array, head: number): number {
  let amax = 0;
  for (let i = 0; i < d; i++) amax = Math.max(amax, Math.abs(q[i]!));
  const a = amax / (127 * 128);
  let qq = 0, rr = 0, nn = 0;
  for (let i = 0; i < d; i++) {
    const x = q[i]!;
    const qh = a > 0 ? Math.round(x / a) : 0;
    const hi = Math.round(qh / 128);
    codes[at + i] = hi;
    codes[at + D + i] = qh - 128 * hi;
    const r = x - a * qh;
    qq += qh * qh; rr += r * r; nn += x * x;
  }
  coef[4 * head] = scale * a;
  coef[4 * head + 1] = up32(scale * a * Math.sqrt(qq) * NORM_SLACK);
  coef[4 * head + 2] = up32(scale * Math.sqrt(rr) * NORM_SLACK);
  coef[4 * head + 3] = 0;
  return Math.sqrt(nn) * NORM_SLACK;
}
