import { createKernels } from '../kernels/index.js';
import type { F32Buffer, I8Buffer, Kernels } from '../kernels/types.js';
import { dotRow } from './dot.js';
import { grownTo } from './growable.js';
import { IdList } from './id-list.js';
import { normUp, roundingSlack } from './rounding.js';
import { emptyStats, setStats, type HalfSpaceReporter, type QueryStats } from './types.js';

/** Keys per kernel call: the chunk's codes (CHUNK·dim bytes) stay in L2 while every head of a batch reads them. */
const CHUNK = 2048;

/**
 * Int8 keys with one scale per key and a certified per-key error bound; candidates are verified
 * exactly in float64 from the stored float32 points, so results equal `scan`'s.
 *
 * Per key p: s = max|p_j| / 127 (float64), c_j = round(p_j / s) ∈ [−127, 127]. The sweep over the
 * codes is the kernels' `scoreBlockI8` (WebAssembly SIMD where available, else plain JS), which
 * works in float32. To keep float32 away from overflow and underflow whatever the norms (1e-45 …
 * 3e38), the kernel sees q' = fl32(2^e·q) with e chosen so that max|q'_j| ∈ [1, 2), and unit
 * scales; the per-key scale s and 2^−e are applied afterwards in float64. With o = kernel output:
 *   |⟨q,p⟩ − s·2^−e·o| ≤ ‖q‖·slack,
 *   slack = (‖p − s·c‖ + G·(s‖c‖ + ‖p‖) + G32·s‖c‖)·(1 + G).
 * - ‖p − s·c‖: Cauchy–Schwarz on the quantisation residual (the bound from the issue).
 * - G32 = (d + 8)·2⁻²² ≥ 4·γ_{d+8} in float32 covers the kernel's float32 products and sums
 *   (≤ γ_d·Σ|q'_j·c_j| ≤ γ_d·‖q'‖·‖c‖) and q''s rounding; absolute subnormal errors (≤ d·2⁻¹⁴²)
 *   are far below G32·‖q'‖·‖c‖ ≥ G32·127 because ‖q'‖ ≥ 1 and a nonzero key has ‖c‖ ≥ 127.
 * - G = roundingSlack(d) (rounding.ts) covers the float64 `dotRow` that verification uses
 *   (≤ γ_d·‖q‖·‖p‖), computing the slack, and s·2^−e·o + ‖q‖·slack.
 * So `upper = s·2^−e·o + ‖q‖·slack ≥ dotRow(q, p)` and ≥ the real ⟨q,p⟩: a key is pruned only if
 * it cannot reach the offset. A zero key has s = 0, slack = 0.
 *
 * Verification: each candidate is scored from its float32 point by the kernels' `scoreIds` (float32,
 * SIMD), v = 2^−e·⟨q', p⟩, with the certified margin m = 2^−e·(G32·‖q'‖·‖p‖ + d·2⁻¹⁴⁰) (float32
 * rounding as above, plus subnormal products). v − m ≥ b accepts and v + m < b rejects; only the
 * rare candidates inside that band are decided by the float64 `dotRow`, so results equal `scan`'s.
 * pointsScored counts every candidate once (float32 full-precision score; band cases add a float64 one).
 *
 * Layout (ids in insertion order):
 *   points [capacity, dim] float32 in the kernels' memory (verification reads them in place; the
 *                          view `points()` returns is replaced when an insert grows the buffer)
 *   codes  [capacity, dim] int8 in the kernels' memory (so WebAssembly reads them in place)
 *   scales, slacks, norms [capacity] float64 (norms = ‖p‖)
 *   ones [CHUNK], q [heads, dim] (grows to the largest batch), out [CHUNK], candidate ids [CHUNK]
 *   kernel scratch, all in kernel memory so no kernel call has to stage (copy in) an argument
 * Appends encode one key: O(dim), arrays grow by doubling.
 */
export class QuantizedIndex implements HalfSpaceReporter {
  readonly kind = 'quantized';
  readonly lastQueryStats: QueryStats = emptyStats();
  private pts: F32Buffer;
  private count: number;
  private readonly g: number;
  private readonly g32: number;
  private codes: I8Buffer;
  private scales: Float64Array;
  private slacks: Float64Array;
  private norms: Float64Array;
  private readonly candBuf: F32Buffer;
  private candView: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private readonly ones: F32Buffer;
  private qBuf: F32Buffer;
  private readonly outBuf: F32Buffer;
  private readonly hits: IdList[] = [];

  constructor(points: Float32Array, n: number, readonly dim: number, private readonly kernels: Kernels = createKernels()) {
    this.g = roundingSlack(dim);
    this.g32 = (dim + 8) * 2 ** -22;
    this.codes = kernels.allocI8(Math.max(1, n) * Math.max(1, dim));
    this.scales = new Float64Array(Math.max(1, n));
    this.slacks = new Float64Array(Math.max(1, n));
    this.norms = new Float64Array(Math.max(1, n));
    this.pts = kernels.allocF32(Math.max(1, n) * Math.max(1, dim));
    this.pts.view().set(points.subarray(0, n * dim));
    this.count = n;
    this.ones = kernels.allocF32(CHUNK);
    this.qBuf = kernels.allocF32(Math.max(1, dim));
    this.outBuf = kernels.allocF32(CHUNK);
    this.candBuf = kernels.allocF32(CHUNK);
    this.ones.view().fill(1);
    for (let i = 0; i < n; i++) this.encode(i);
  }

  get size(): number { return this.count; }
  points(): Float32Array { return this.pts.view(); }

  memoryBytes(): number {
    return 4 * this.pts.length + this.codes.length + this.scales.byteLength + this.slacks.byteLength + this.norms.byteLength
      + 4 * (this.ones.length + this.qBuf.length + this.outBuf.length + this.candBuf.length);
  }

  insert(point: Float32Array): number {
    const id = this.count;
    const need = (id + 1) * this.dim;
    if (need > this.pts.length) {
      const grown = this.kernels.allocF32(Math.max(need, 2 * this.pts.length));
      grown.view().set(this.pts.view());
      this.pts.free();
      this.pts = grown;
    }
    if (need > this.codes.length) {
      const grown = this.kernels.allocI8(Math.max(need, 2 * this.codes.length));
      grown.view().set(this.codes.view());
      this.codes.free();
      this.codes = grown;
    }
    this.pts.view().set(point, id * this.dim);
    this.scales = grownTo(this.scales, id + 1);
    this.slacks = grownTo(this.slacks, id + 1);
    this.norms = grownTo(this.norms, id + 1);
    this.count++;
    this.encode(id);
    return id;
  }

  query(normal: Float32Array, offset: number, limit = this.size): Uint32Array {
    return this.queryBatch([normal], [offset], limit)[0]!;
  }

  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit = this.size): Uint32Array[] {
    const { scales, slacks, norms, dim, kernels } = this;
    const lists = this.idLists(normals.length);
    const absolute = dim * 2 ** -140;
    let scored = 0;
    this.sweep(normals, limit, (h, start, end, o, q, factor, qNorm) => {
      const offset = offsets[h]!;
      const candidates = this.candidates();
      let count = 0;
      for (let i = start; i < end; i++) {
        if (scales[i]! * factor * o[i - start]! + qNorm * slacks[i]! >= offset) candidates[count++] = i;
      }
      if (count === 0) return;
      scored += count;
      const data = this.pts.view(); // fetched after sweep's allocations, which may move the memory
      kernels.scoreIds(q, data, candidates, count, dim, o); // o is free again: reuse it for the scores
      const normal = normals[h]!;
      const hits = lists[h]!;
      const qNormScaled = qNorm / factor;
      for (let k = 0; k < count; k++) {
        const id = candidates[k]!;
        const v = o[k]! * factor;
        const margin = (this.g32 * qNormScaled * norms[id]! + absolute) * factor;
        if (v - margin >= offset || (v + margin >= offset && dotRow(normal, data, id, dim) >= offset)) hits.push(id);
      }
    });
    const out = normals.map((_, h) => lists[h]!.toArray());
    setStats(this.lastQueryStats, normals.length * limit, scored, out.reduce((sum, r) => sum + r.length, 0));
    return out;
  }

  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit = this.size): void {
    this.scoreBoundsBatch([normal], [upper], [lower], limit);
  }

  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit = this.size): void {
    const { scales, slacks } = this;
    this.sweep(normals, limit, (h, start, end, o, _q, factor, qNorm) => {
      const up = upper[h]!;
      const lo = lower[h]!;
      for (let i = start; i < end; i++) {
        const centre = scales[i]! * factor * o[i - start]!;
        const radius = qNorm * slacks[i]!;
        up[i] = centre + radius;
        lo[i] = centre - radius;
      }
    });
    setStats(this.lastQueryStats, normals.length * limit, 0, 0);
  }

  /**
   * Candidate ids for one chunk, as a Uint32Array over kernel memory so `scoreIds` reads them in
   * place (nothing staged, so the kernel call never grows memory under our views).
   */
  private candidates(): Uint32Array {
    const f = this.candBuf.view();
    if (this.candView.buffer !== f.buffer) this.candView = new Uint32Array(f.buffer, f.byteOffset, CHUNK);
    return this.candView;
  }

  /** `count` cleared hit lists (scratch reused across queries). */
  private idLists(count: number): IdList[] {
    while (this.hits.length < count) this.hits.push(new IdList());
    for (let h = 0; h < count; h++) this.hits[h]!.clear();
    return this.hits;
  }

  /**
   * One pass over the codes of ids [0, limit) in chunks, every normal reading a chunk while it is
   * in cache: `visit(h, start, end, o, q', factor, ‖q_h‖↑)` gets o[i − start] ≈ Σ_j q'_j·c_ij
   * (float32) for q' = 2^e·q_h in float32 and factor = 2^−e. `o` is the visitor's to reuse.
   */
  private sweep(normals: readonly Float32Array[], limit: number,
    visit: (head: number, start: number, end: number, o: Float32Array, q: Float32Array, factor: number, qNorm: number) => void): void {
    const { dim, kernels } = this;
    const heads = normals.length;
    if (this.qBuf.length < heads * dim) {
      this.qBuf.free();
      this.qBuf = kernels.allocF32(heads * dim);
    }
    const qAll = this.qBuf.view();
    const factors: number[] = [], norms: number[] = [], live: boolean[] = [];
    for (let h = 0; h < heads; h++) {
      const a = normals[h]!;
      let maxAbs = 0;
      for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(a[j]!));
      const e = maxAbs > 0 ? unitExponent(maxAbs) : 0;
      for (let j = 0; j < dim; j++) qAll[h * dim + j] = a[j]! * 2 ** e;
      factors.push(2 ** -e); norms.push(normUp(a, this.g)); live.push(maxAbs > 0);
    }
    for (let start = 0; start < limit; start += CHUNK) {
      const end = Math.min(limit, start + CHUNK);
      for (let h = 0; h < heads; h++) {
        // Views are fetched per call: a kernel call that stages arguments may grow (and move) memory.
        const q = this.qBuf.view().subarray(h * dim, (h + 1) * dim), o = this.outBuf.view();
        if (live[h]) kernels.scoreBlockI8(q, this.codes.view().subarray(start * dim, end * dim), this.ones.view(), 0, end - start, dim, o);
        else o.fill(0);
        visit(h, start, end, o, q, factors[h]!, norms[h]!);
      }
    }
  }

  /** Quantises point `id` (row `id` of the stored points) into codes, scale and slack. */
  private encode(id: number): void {
    const { dim, g } = this;
    const source = this.pts.view();
    const codes = this.codes.view();
    const base = id * dim;
    let maxAbs = 0;
    for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(source[base + j]!));
    const s = maxAbs / 127;
    let err2 = 0, code2 = 0, norm2 = 0;
    for (let j = 0; j < dim; j++) {
      const x = source[base + j]!;
      const c = s > 0 ? Math.max(-127, Math.min(127, Math.round(x / s))) : 0;
      const r = x - s * c;
      err2 += r * r; code2 += c * c; norm2 += x * x;
      codes[base + j] = c;
    }
    const sc = s * Math.sqrt(code2);
    this.scales[id] = s;
    this.slacks[id] = (Math.sqrt(err2) + g * (sc + Math.sqrt(norm2)) + this.g32 * sc) * (1 + g);
    this.norms[id] = Math.sqrt(norm2) * (1 + g);
  }
}

/** The integer e with 2^e·x ∈ [1, 2) for x > 0. */
function unitExponent(x: number): number {
  let e = -Math.floor(Math.log2(x));
  while (x * 2 ** e >= 2) e--;
  while (x * 2 ** e < 1) e++;
  return e;
}
