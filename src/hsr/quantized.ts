import { HsrError } from '../errors.js';
import { createKernels } from '../kernels/index.js';
import { float32DotAbsolute, float32DotRelative, insideBand } from '../kernels/float32-error.js';
import type { CoreKernels, F32Buffer, I16Buffer, I32Buffer, I8Buffer, QuantizedSweepKernels, U32Buffer } from '../kernels/types.js';
import { dotRow } from './dot.js';
import { grownBuffer, grownTo } from '../kernels/growable.js';
import { IdList } from './id-list.js';
import { normUp, roundingSlack } from './rounding.js';
import { emptyStats, setStats, type HalfSpaceReporter, type QueryStats } from './types.js';

/** Keys per kernel call: the chunk's codes (CHUNK·dim bytes) stay in L2 while every head of a batch reads them. */
const CHUNK = 2048;
/**
 * Keys per call of the fused candidate sweep: candidates are few (the active set plus ~10%), so
 * larger calls only save per-call overhead (kernel entry, the per-chunk verification calls).
 */
const CANDIDATE_CHUNK = 16384;
/** Heads per call of the fused kernels (sweepCandidatesI8 / sweepBoundsI8 read each code row once for all of them). */
const GROUP = 4;
/** scoreBlockI8I16's int32 sums stay exact up to this dimension (2¹⁴·127·1024 < 2³¹). */
const MAX_INT_DIM = 1024;
/**
 * Keys with a coordinate beyond this take the exact path (see the class comment): far below
 * float32's 3.4e38, so no float32 value derived from the other keys (s·dot, slack, s‖c‖) overflows.
 */
const WIDE = 2 ** 64;

/**
 * The key rows of a store that keeps them itself, in the index's kernel memory (the decode pool's
 * DenseDecoder): a fresh view of rows [≥ size, dim], row id = key id. An index given one keeps no
 * float32 copy of the keys; verification reads these rows.
 */
export type KeyRowsView = () => Float32Array;

/** Byte addresses of {@link QuantizedIndex.sweepAddresses}: the fused sweep's inputs in kernel memory. */
export interface SweepAddresses { queries: number; coef: number; codes: number; scales: number; slacks: number; codeNorms: number }

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
 * Integer sweep (dim ≤ 1024, the usual case): the query is quantised too, to the kernels' precision
 * s = `sweepQueryShift` (13: int16 for js, wasm-simd and wasm-relaxed-simd; 5: 7-bit for
 * wasm-relaxed-simd-q7), as Q = clamp(round(q'·2^s), −2^(s+1), 2^(s+1) − 1) and q̂ = Q·2^−s, and the
 * kernels compute o = ⟨Q, c⟩ exactly in int32 for every head of the batch at once
 * (`scoreBlockI8I16`, or fused in `sweepBoundsI8` / `sweepCandidatesI8`; each code block loaded
 * once). With δ = q' − q̂,
 *   ⟨q', c⟩ = 2^−s·o + ⟨δ, c⟩  and  |⟨δ, c⟩| ≤ ‖δ‖·‖c‖ (Cauchy–Schwarz),
 * so each key's bound gains the term 2^−e·‖δ‖·s‖c‖, whatever s is. ‖δ‖ is computed exactly (each
 * δ_j is exact in float64: q'_j is a float32 below 2 in magnitude and Q_j·2^−s a short binary
 * fraction, so δ_j needs at most s + 25 bits), then rounded up. Size: |δ_j| ≤ 2^−(s+1), or 2^−s
 * where clamping applies (only at q'_j ≥ (2^(s+1) − ½)·2^−s, and q' < 2), so
 * ‖δ‖ ≤ 2^−s·√d/2 (a little more if clamped) against ‖q'‖ ≥ 1: at d = 64 and s = 13 the term is
 * ≈ 1% of the key's own quantisation term; at s = 5 (7-bit query) ‖δ‖ ≈ 2^−5·√(d/12) ≈ 0.07, about
 * 2% of ‖q'‖ for typical queries (docs/kernels.md: measured effect on keys selected). The exact
 * integer sums fit int32: |o| ≤ 2^(s+1)·128·d ≤ 2³¹ for s = 13 and d ≤ 1024. The float32 term G32
 * is then not needed but kept (one slack per key serves both sweeps).
 *
 * Verification: each candidate is scored from its float32 point by the kernels' `scoreIds` (float32,
 * SIMD), v = 2^−e·⟨q', p⟩, with the certified margin m = 2^−e·(G32·‖q'‖·‖p‖ + d·2⁻¹⁴⁰) (float32
 * rounding as above, plus subnormal products). v − m ≥ b accepts and v + m < b rejects; only the
 * rare candidates inside that band are decided by the float64 `dotRow`, so results equal `scan`'s.
 * pointsScored counts every candidate once (float32 full-precision score; band cases add a float64 one).
 *
 * Wide keys (a coordinate beyond 2⁶⁴, up to float32's 3.4e38: their norms leave float32's range)
 * would overflow the float32 sweep and verification. They are stored with zero codes, scale and
 * slack, listed in `wide`, and decided by the float64 `dotRow` alone: every result drops whatever
 * the sweep said about them and merges in their exact answers (bounds likewise).
 *
 * Layout (ids in insertion order):
 *   points [capacity, dim] float32 in the kernels' memory (verification reads them in place; the
 *                          view `points()` returns is replaced when an insert grows the buffer), or
 *                          none: with a {@link KeyRowsView} the index reads the store's rows instead
 *                          (at 10⁶ keys of dim 128 per KV head that saves 512 MiB per head)
 *   codes  [capacity, dim] int8 in the kernels' memory (so WebAssembly reads them in place)
 *   scales, slacks, norms, codeNorms [capacity] float64 (norms = ‖p‖, codeNorms = s·‖c‖)
 *   ones [CHUNK], q [heads, dim] (grows to the largest batch), out and candidate ids [CANDIDATE_CHUNK]
 *   kernel scratch, int16 queries [heads, dim] and int32 dots [3, CHUNK] for the integer sweep,
 *   all in kernel memory so no kernel call has to stage (copy in) an argument
 * Appends encode one key: O(dim), arrays grow by doubling.
 */
export class QuantizedIndex implements HalfSpaceReporter {
  readonly kind = 'quantized';
  readonly lastQueryStats: QueryStats = emptyStats();
  /** The keys' float32 rows when this index keeps them (no KeyRowsView), else null. */
  private pts: F32Buffer | null;
  private count: number;
  private readonly g: number;
  private readonly g32: number;
  private codes: I8Buffer;
  private scales: Float64Array;
  private slacks: Float64Array;
  private norms: Float64Array;
  /** s·‖c‖ per key, rounded up (the integer sweep's query-quantisation term). */
  private codeNorms: Float64Array;
  /**
   * Float32 copies for the fused kernels (sweepBoundsI8 / sweepCandidatesI8), in kernel memory:
   * scale rounded to nearest, slack and s·‖c‖ rounded up; the slack copy also absorbs the scale's
   * rounding (see encode).
   */
  private scales32: F32Buffer;
  private slacks32: F32Buffer;
  private codeNorms32: F32Buffer;
  /** Fused kernels' per-head coefficients (a, n, e, t) for a group of ≤ GROUP heads. */
  private readonly coef: F32Buffer;
  /** The same for every normal of a logitBoundsBatch call (sweepBoundsRows), grown to the largest batch. */
  private rowsCoef: F32Buffer;
  /** sweepCandidatesI8's output: candidate ids [GROUP, CANDIDATE_CHUNK] and counts [GROUP], in kernel memory. */
  private readonly groupCandidates: U32Buffer;
  private readonly groupCountsBuf: I32Buffer;
  /** Integer sweep scratch in kernel memory: int16 queries [heads, dim] and int32 dots [heads, CHUNK]. */
  private q16Buf: I16Buffer;
  /** The integer sweep's query precision: Q = round(q'·2^qShift) (QuantizedSweepKernels.sweepQueryShift). */
  private readonly qShift: number;
  private readonly dotsBuf: I32Buffer;
  private readonly o64 = new Float64Array(CHUNK);
  private readonly candBuf: U32Buffer;
  private readonly ones: F32Buffer;
  private qBuf: F32Buffer;
  private readonly outBuf: F32Buffer;
  private readonly hits: IdList[] = [];
  /** Ids of the wide keys, ascending, and a flag per id (1 = wide; ids past its length are not wide). */
  private readonly wide: number[] = [];
  private isWide = new Uint8Array(0);

  /**
   * An index over points [n, dim]. With `keyRows` the index keeps no copy of the keys: `points` is
   * not read, the first n rows of keyRows() are the keys, and every later {@link insert} must come
   * after the store appended its key as the next row.
   */
  constructor(points: Float32Array, n: number, readonly dim: number, private readonly kernels: CoreKernels & QuantizedSweepKernels = createKernels(),
    private readonly keyRows: KeyRowsView | null = null) {
    this.g = roundingSlack(dim);
    this.g32 = float32DotRelative(dim);
    this.qShift = kernels.sweepQueryShift;
    this.codes = kernels.allocI8(Math.max(1, n) * Math.max(1, dim));
    this.scales = new Float64Array(Math.max(1, n));
    this.slacks = new Float64Array(Math.max(1, n));
    this.norms = new Float64Array(Math.max(1, n));
    this.codeNorms = new Float64Array(Math.max(1, n));
    this.q16Buf = kernels.allocI16(Math.max(1, dim));
    this.dotsBuf = kernels.allocI32(3 * CHUNK);
    this.scales32 = kernels.allocF32(Math.max(1, n));
    this.slacks32 = kernels.allocF32(Math.max(1, n));
    this.codeNorms32 = kernels.allocF32(Math.max(1, n));
    this.coef = kernels.allocF32(4 * GROUP);
    this.rowsCoef = kernels.allocF32(4 * GROUP);
    this.groupCandidates = kernels.allocU32(GROUP * CANDIDATE_CHUNK);
    this.groupCountsBuf = kernels.allocI32(GROUP);
    this.pts = keyRows ? null : kernels.allocF32(Math.max(1, n) * Math.max(1, dim));
    this.pts?.view().set(points.subarray(0, n * dim));
    this.count = n;
    this.ones = kernels.allocF32(CHUNK);
    this.qBuf = kernels.allocF32(Math.max(1, dim));
    this.outBuf = kernels.allocF32(CANDIDATE_CHUNK);
    this.candBuf = kernels.allocU32(CANDIDATE_CHUNK);
    this.ones.view().fill(1);
    for (let i = 0; i < n; i++) this.encode(i);
  }

  get size(): number { return this.count; }
  points(): Float32Array { return this.pts ? this.pts.view() : this.keyRows!(); }

  memoryBytes(): number {
    return 4 * (this.pts?.length ?? 0) + this.codes.length + this.scales.byteLength + this.slacks.byteLength + this.norms.byteLength
      + this.codeNorms.byteLength + this.o64.byteLength
      + 4 * (this.ones.length + this.qBuf.length + this.outBuf.length + this.candBuf.length + this.q16Buf.length + this.dotsBuf.length
        + this.scales32.length + this.slacks32.length + this.codeNorms32.length + this.coef.length + this.rowsCoef.length + this.groupCandidates.length
        + this.groupCountsBuf.length);
  }

  /**
   * Grows every per-key buffer to hold `capacity` keys at once, so inserting that many never
   * doubles a buffer (a doubling briefly holds both copies: at 10⁶ keys of dim 128 that is the
   * difference between fitting a 4 GiB WebAssembly memory or not).
   */
  reserve(capacity: number): void {
    const n = this.count, d = this.dim, f32 = (length: number) => this.kernels.allocF32(length);
    if (capacity <= n) return;
    if (this.pts) this.pts = grownBuffer(this.pts, capacity * d, n * d, f32);
    this.codes = grownBuffer(this.codes, capacity * d, n * d, (length) => this.kernels.allocI8(length));
    this.scales32 = grownBuffer(this.scales32, capacity, n, f32);
    this.slacks32 = grownBuffer(this.slacks32, capacity, n, f32);
    this.codeNorms32 = grownBuffer(this.codeNorms32, capacity, n, f32);
    this.scales = grownTo(this.scales, capacity);
    this.slacks = grownTo(this.slacks, capacity);
    this.norms = grownTo(this.norms, capacity);
    this.codeNorms = grownTo(this.codeNorms, capacity);
  }

  /** Appends one key (with a KeyRowsView, the store's row `size`, which must already be `point`); returns its id. */
  insert(point: Float32Array): number {
    const id = this.count;
    const need = (id + 1) * this.dim, f32 = (length: number) => this.kernels.allocF32(length);
    if (this.pts) this.pts = grownBuffer(this.pts, need, id * this.dim, f32);
    this.codes = grownBuffer(this.codes, need, id * this.dim, (length) => this.kernels.allocI8(length));
    this.scales32 = grownBuffer(this.scales32, id + 1, id, f32);
    this.slacks32 = grownBuffer(this.slacks32, id + 1, id, f32);
    this.codeNorms32 = grownBuffer(this.codeNorms32, id + 1, id, f32);
    this.pts?.view().set(point, id * this.dim);
    this.scales = grownTo(this.scales, id + 1);
    this.slacks = grownTo(this.slacks, id + 1);
    this.norms = grownTo(this.norms, id + 1);
    this.codeNorms = grownTo(this.codeNorms, id + 1);
    this.count++;
    this.encode(id);
    return id;
  }

  query(normal: Float32Array, offset: number, limit = this.size): Uint32Array {
    return this.queryBatch([normal], [offset], limit)[0]!;
  }

  queryBatch(normals: readonly Float32Array[], offsets: readonly number[], limit = this.size): Uint32Array[] {
    return this.report(normals, offsets, limit, true);
  }

  /**
   * The candidates of {@link queryBatch} without its exact check: per normal, ascending, every id
   * whose certified upper bound reaches the offset — a superset of the answer (1.06–1.17× it on
   * real keys). For callers that score the candidates exactly anyway (ReLU rows), which saves the
   * index's own scoring of them. nodesVisited = normals.length · limit, pointsScored = 0.
   */
  candidateBatch(normals: readonly Float32Array[], offsets: readonly number[], limit = this.size): Uint32Array[] {
    return this.report(normals, offsets, limit, false);
  }

  /** queryBatch (`exact`) or candidateBatch. */
  private report(normals: readonly Float32Array[], offsets: readonly number[], limit: number, exact: boolean): Uint32Array[] {
    const { scales, slacks, codeNorms, dim, kernels } = this;
    const lists = this.idLists(normals.length);
    let scored = 0;
    // Candidates of one head in one chunk (ids in candidates()[0..count)) → verified hits.
    const verify = (h: number, count: number, factor: number, qNorm: number): void => {
      if (count === 0) return;
      if (!exact) { lists[h]!.pushAll(this.candidates(), count); return; }
      scored += count;
      const candidates = this.candidates();
      // Wide keys are scored once, by withWide, whatever the sweep said of them.
      if (this.wide.length > 0) for (let k = 0; k < count; k++) if (this.isWide[candidates[k]!] === 1) scored--;
      const data = this.points(); // fetched after the sweep's kernel calls, which may move the memory
      const v32 = this.outBuf.view(), q = this.qBuf.view().subarray(h * dim, (h + 1) * dim);
      kernels.scoreIds(q, data, candidates, count, dim, v32);
      this.accept(normals[h]!, offsets[h]!, data, candidates, v32, count, factor, qNorm, lists[h]!);
    };
    if (dim <= MAX_INT_DIM) {
      // Fused integer sweep: the candidate test runs in the kernel (sweepCandidatesI8), per group.
      const { factors, norms } = this.prepare(normals);
      for (let start = 0; start < limit; start += CANDIDATE_CHUNK) {
        const count = Math.min(limit, start + CANDIDATE_CHUNK) - start;
        for (let h0 = 0; h0 < normals.length; h0 += GROUP) {
          const m = Math.min(GROUP, normals.length - h0);
          for (let j = 0; j < m; j++) this.setCoef(this.coef.view(), j, h0 + j, 1, offsets[h0 + j]!);
          const ids = this.groupCandidates.view(), counts = this.groupCountsBuf.view();
          kernels.sweepCandidatesI8(this.q16Buf.view().subarray(h0 * dim, (h0 + m) * dim), m,
            this.codes.view(), this.scales32.view(), this.slacks32.view(), this.codeNorms32.view(), start, count, dim,
            this.coef.view().subarray(0, 4 * m), ids, counts);
          for (let j = 0; j < m; j++) {
            const c = counts[j]!, row = ids.subarray(j * count, j * count + c);
            // Unchecked candidates go straight to the result; checked ones are verified from candidates().
            if (!exact) { lists[h0 + j]!.pushAll(row, c); continue; }
            this.candidates().set(row);
            verify(h0 + j, c, factors[h0 + j]!, norms[h0 + j]!);
          }
        }
      }
    } else {
      this.sweep(normals, limit, (h, start, end, o, _q, factor, qNorm, qErr) => {
        verify(h, collectCandidates(scales, slacks, codeNorms, o, start, end, factor, qNorm, factor * qErr, offsets[h]!, this.candidates()), factor, qNorm);
      });
    }
    const out = normals.map((_, h) => this.withWide(lists[h]!.toArray(), normals[h]!, offsets[h]!, limit));
    if (exact) scored += normals.length * this.wideBelow(limit);
    setStats(this.lastQueryStats, normals.length * limit, scored, out.reduce((sum, r) => sum + r.length, 0));
    return out;
  }

  /** Wide ids below `limit`. */
  private wideBelow(limit: number): number {
    let k = 0;
    while (k < this.wide.length && this.wide[k]! < limit) k++;
    return k;
  }

  /** `ids` (ascending) with the wide keys' entries replaced by their exact float64 answers. */
  private withWide(ids: Uint32Array, normal: Float32Array, offset: number, limit: number): Uint32Array {
    const n = this.wideBelow(limit);
    if (n === 0) return ids;
    const data = this.points(), flags = this.isWide;
    const out = new IdList();
    let k = 0;
    const mergeUpTo = (id: number) => {
      for (; k < n && this.wide[k]! < id; k++) if (dotRow(normal, data, this.wide[k]!, this.dim) >= offset) out.push(this.wide[k]!);
    };
    for (const id of ids) {
      if (flags[id] === 1) continue;
      mergeUpTo(id);
      out.push(id);
    }
    mergeUpTo(limit);
    return out.toArray();
  }

  /** Exact float64 score of wide key `id` and a certified radius around it (dotRow's rounding). */
  private wideScore(normal: Float32Array, id: number): { score: number; radius: number } {
    return { score: dotRow(normal, this.points(), id, this.dim), radius: this.g * normUp(normal, this.g) * this.norms[id]! };
  }

  /**
   * Float32 certified bounds on logits, one pass over the codes for all the normals (the kernels'
   * sweepBoundsRows, sweepBoundsI8's bounds for any number of rows): for h < normals.length and i < limit,
   *   upper[h·limit + i] ≥ scale·⟨normals[h], p_i⟩ (the exact real value; scale > 0)
   * and centre[h·limit + i] = the quantised estimate of it. Both buffers are the kernels' (this
   * index's) and hold ≥ normals.length·limit floats. Returns false — and writes nothing — when the
   * integer sweep does not apply (dim > 1024); callers then use {@link scoreBoundsBatch}.
   */
  logitBoundsBatch(normals: readonly Float32Array[], scale: number, upper: F32Buffer, centre: F32Buffer, limit = this.size): boolean {
    const { dim, kernels } = this, m = normals.length;
    if (dim > MAX_INT_DIM) return false;
    this.prepare(normals);
    // All normals in one sweepBoundsRows call: an int8 matrix product that fetches each block of
    // codes once for the whole batch (a prefill tile's rows, or a decode step's heads).
    this.rowsCoef = grownBuffer(this.rowsCoef, 4 * m, 0, (length) => kernels.allocF32(length));
    const coef = this.rowsCoef.view();
    for (let j = 0; j < m; j++) this.setCoef(coef, j, j, scale, 0);
    kernels.sweepBoundsRows(this.q16Buf.view().subarray(0, m * dim), m, this.codes.view(), this.scales32.view(), this.slacks32.view(),
      this.codeNorms32.view(), 0, limit, dim, coef.subarray(0, 4 * m), upper.view(), centre.view(), limit);
    for (let k = 0, n = this.wideBelow(limit); k < n; k++) {
      const id = this.wide[k]!;
      for (let h = 0; h < normals.length; h++) {
        const { score, radius } = this.wideScore(normals[h]!, id);
        upper.view()[h * limit + id] = ceil32(scale * (score + radius));
        centre.view()[h * limit + id] = clamp32(scale * score);
      }
    }
    setStats(this.lastQueryStats, normals.length * limit, 0, 0);
    return true;
  }

  /**
   * The fused candidate sweep's arguments as byte addresses in this index's kernel memory, for
   * threads that call the kernels' raw exports over a shared memory (src/node/worker-pool.ts): the
   * ≤ 4 normals are prepared (quantised queries, coefficients with their offsets) exactly as
   * {@link candidateBatch} prepares them, so `sweepCandidatesI8` over any key range [a, b) finds
   * the candidates candidateBatch reports there. Per-key arrays start at key 0 (add 4·a, codes
   * dim·a). Addresses stay valid until the next insert (which may reallocate). UNSUPPORTED for more
   * than 4 normals or dim > 1024 (no integer sweep). With `scale` (> 0), the coefficients are
   * {@link logitBoundsBatch}'s instead, so `sweepBoundsI8` over [a, b) writes the bounds it would
   * write there (offsets are then ignored: pass zeros).
   */
  sweepAddresses(normals: readonly Float32Array[], offsets: readonly number[], scale = 1): SweepAddresses {
    if (normals.length > GROUP || this.dim > MAX_INT_DIM) {
      throw new HsrError('UNSUPPORTED', `QuantizedIndex.sweepAddresses: expected ≤ ${GROUP} normals of dim ≤ ${MAX_INT_DIM}, got ${normals.length} of dim ${this.dim}`);
    }
    this.prepare(normals);
    for (let j = 0; j < normals.length; j++) this.setCoef(this.coef.view(), j, j, scale, offsets[j]!);
    return {
      queries: this.q16Buf.view().byteOffset, coef: this.coef.view().byteOffset,
      codes: this.codes.view().byteOffset, scales: this.scales32.view().byteOffset, slacks: this.slacks32.view().byteOffset,
      codeNorms: this.codeNorms32.view().byteOffset,
    };
  }

  /**
   * Coefficients of head h (prepared by {@link prepare}) for the fused kernels, slot j, bounds
   * scaled by `scale` > 0, offset t. a = fl32(2^−e·2^−qShift·scale) is off by ≤ 2⁻²⁴ relatively, so
   * |a·s·dot − exact| ≤ 2⁻²⁴·scale·‖q‖·s‖c‖·(1 + small): the codeNorm coefficient e takes
   * 2⁻²¹·‖q‖·scale on top of the query-quantisation term. n and e are rounded up, t down, so the
   * kernel's test is never stricter than the float64 one of {@link collectCandidates}.
   */
  private setCoef(c: Float32Array, j: number, h: number, scale: number, offset: number): void {
    const p = this.prepared;
    c[4 * j] = Math.fround(p.factors[h]! * 2 ** -this.qShift * scale);
    c[4 * j + 1] = up32(p.norms[h]! * scale);
    c[4 * j + 2] = up32((p.factors[h]! * p.errs[h]! + 2 ** -21 * p.norms[h]!) * scale);
    c[4 * j + 3] = down32(offset);
  }

  /**
   * Pushes the candidates whose float32 score v (kernel `scoreIds`, q' = 2^e·q) certainly reaches
   * the offset, deciding the band cases with the float64 `dotRow` (see the class comment).
   */
  private accept(normal: Float32Array, offset: number, data: Float32Array, candidates: Uint32Array, v32: Float32Array,
    count: number, factor: number, qNorm: number, hits: IdList): void {
    const { norms, dim } = this;
    const absolute = float32DotAbsolute(dim), qNormScaled = qNorm / factor;
    for (let k = 0; k < count; k++) {
      const id = candidates[k]!;
      const v = v32[k]! * factor;
      const margin = (this.g32 * qNormScaled * norms[id]! + absolute) * factor;
      if (insideBand(v, offset, margin) ? dotRow(normal, data, id, dim) >= offset : v >= offset) hits.push(id);
    }
  }

  scoreBounds(normal: Float32Array, upper: Float64Array, lower: Float64Array, limit = this.size): void {
    this.scoreBoundsBatch([normal], [upper], [lower], limit);
  }

  scoreBoundsBatch(normals: readonly Float32Array[], upper: readonly Float64Array[], lower: readonly Float64Array[], limit = this.size): void {
    const { scales, slacks, codeNorms } = this;
    this.sweep(normals, limit, (h, start, end, o, _q, factor, qNorm, qErr) => {
      boundsInto(scales, slacks, codeNorms, o, start, end, factor, qNorm, factor * qErr, upper[h]!, lower[h]!);
    }, (h0, m, start, count, _dots, factors, norms, errs) => {
      // Integer sweep: the bounds are computed by the kernels too (boundsFromDots, same float64 order).
      // The dots view is fetched per call: staging the previous call's arguments may have moved memory.
      for (let j = 0; j < m; j++) {
        const h = h0 + j, f = factors[h]!;
        this.kernels.boundsFromDots(this.dotsBuf.view().subarray(j * count, (j + 1) * count), count, this.qShift, scales, slacks, codeNorms, start,
          f, norms[h]!, f * errs[h]!, upper[h]!, lower[h]!);
      }
    });
    for (let k = 0, n = this.wideBelow(limit); k < n; k++) {
      const id = this.wide[k]!;
      for (let h = 0; h < normals.length; h++) {
        const { score, radius } = this.wideScore(normals[h]!, id);
        upper[h]![id] = score + radius;
        lower[h]![id] = score - radius;
      }
    }
    setStats(this.lastQueryStats, normals.length * limit, 0, 0);
  }

  /**
   * Candidate ids for one chunk, as a Uint32Array over kernel memory so `scoreIds` reads them in
   * place (nothing staged, so the kernel call never grows memory under our views).
   */
  private candidates(): Uint32Array {
    return this.candBuf.view();
  }

  /** `count` cleared hit lists (scratch reused across queries). */
  private idLists(count: number): IdList[] {
    while (this.hits.length < count) this.hits.push(new IdList());
    for (let h = 0; h < count; h++) this.hits[h]!.clear();
    return this.hits;
  }

  /** Per-head query data of the last {@link prepare}. */
  private readonly prepared = { factors: [] as number[], norms: [] as number[], errs: [] as number[], live: [] as boolean[] };

  /**
   * Scales every normal to q' = 2^e·q with max|q'_j| ∈ [1, 2) into qBuf and, for the integer sweep
   * (dim ≤ 1024), quantises it to Q = round(q'·2^qShift) (clamped, int16) into q16Buf: per head the factor 2^−e,
   * ‖q‖ rounded up, ‖q' − q̂‖ rounded up (errs) and whether q ≠ 0. Grows both buffers first, so
   * earlier views of kernel memory may be detached afterwards.
   */
  private prepare(normals: readonly Float32Array[]): QuantizedIndex['prepared'] {
    const { dim, kernels } = this;
    const heads = normals.length, integer = dim <= MAX_INT_DIM;
    if (this.qBuf.length < heads * dim) {
      this.qBuf.free();
      this.qBuf = kernels.allocF32(heads * dim);
    }
    if (integer && this.q16Buf.length < heads * dim) {
      this.q16Buf.free();
      this.q16Buf = kernels.allocI16(heads * dim);
    }
    const qAll = this.qBuf.view(), q16 = integer ? this.q16Buf.view() : null;
    const { factors, norms, live, errs } = this.prepared;
    factors.length = norms.length = live.length = errs.length = 0;
    for (let h = 0; h < heads; h++) {
      const a = normals[h]!;
      let maxAbs = 0;
      for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(a[j]!));
      const e = maxAbs > 0 ? unitExponent(maxAbs) : 0;
      const err2 = scaleQuery(a, 2 ** e, qAll, q16, this.qShift, h * dim, dim);
      factors.push(2 ** -e); norms.push(normUp(a, this.g)); live.push(maxAbs > 0);
      errs.push(Math.sqrt(err2) * (1 + 4 * this.g));
    }
    return this.prepared;
  }

  /**
   * One pass over the codes of ids [0, limit) in chunks, every normal reading a chunk while it is
   * in cache: `visit(h, start, end, o, q', factor, ‖q_h‖↑, qErr)` gets o[i − start] with
   * |Σ_j q'_j·c_ij − o[i − start]| ≤ qErr·‖c_i‖ + (float32 rounding, covered by G32 in the slack)
   * for q' = 2^e·q_h in float32 and factor = 2^−e: the integer sweep's exact ⟨q̂, c⟩ (qErr =
   * ‖q' − q̂‖↑) when dim ≤ MAX_INT_DIM, else scoreBlockI8's float32 dots (qErr = 0). On the
   * integer path `visitGroup`, when given, replaces `visit`: it gets the raw int32 dots of up to 3
   * heads (o = dots·2^−qShift, row j·count + i) with each head's factor, ‖q‖↑ and qErr (scoreBoundsBatch
   * uses it; queryBatch and logitBoundsBatch use the fused kernels instead).
   */
  private sweep(normals: readonly Float32Array[], limit: number,
    visit: (head: number, start: number, end: number, o: Float64Array, q: Float32Array, factor: number, qNorm: number, qErr: number) => void,
    visitGroup?: (h0: number, m: number, start: number, count: number, dots: Int32Array<ArrayBufferLike>,
      factors: readonly number[], norms: readonly number[], errs: readonly number[]) => void): void {
    const { dim, kernels, o64 } = this;
    const heads = normals.length;
    const integer = dim <= MAX_INT_DIM;
    const { factors, norms, live, errs } = this.prepare(normals);
    const q16 = integer ? this.q16Buf.view() : null;
    for (let start = 0; start < limit; start += CHUNK) {
      const end = Math.min(limit, start + CHUNK), count = end - start;
      if (q16) {
        for (let h0 = 0; h0 < heads; h0 += 3) {
          const m = Math.min(3, heads - h0);
          // Views are fetched per call: a kernel call that stages arguments may grow (and move) memory.
          const dots = this.dotsBuf.view();
          kernels.scoreBlockI8I16(this.q16Buf.view().subarray(h0 * dim, (h0 + m) * dim), m,
            this.codes.view().subarray(start * dim, end * dim), 0, count, dim, dots);
          if (visitGroup) { visitGroup(h0, m, start, count, this.dotsBuf.view(), factors, norms, errs); continue; }
          for (let h = h0; h < h0 + m; h++) {
            const base = (h - h0) * count;
            widen(dots, base, count, 2 ** -this.qShift, o64);
            visit(h, start, end, o64, this.qBuf.view().subarray(h * dim, (h + 1) * dim), factors[h]!, norms[h]!, errs[h]!);
          }
        }
        continue;
      }
      for (let h = 0; h < heads; h++) {
        const q = this.qBuf.view().subarray(h * dim, (h + 1) * dim), o = this.outBuf.view();
        if (live[h]) kernels.scoreBlockI8(q, this.codes.view().subarray(start * dim, end * dim), this.ones.view(), 0, count, dim, o);
        else o.fill(0);
        widen(o, 0, count, 1, o64);
        visit(h, start, end, o64, q, factors[h]!, norms[h]!, 0);
      }
    }
  }

  /** Quantises point `id` (row `id` of the stored points) into codes, scale and slack. */
  private encode(id: number): void {
    const { dim, g } = this;
    const source = this.points();
    const codes = this.codes.view();
    const base = id * dim;
    let maxAbs = 0;
    for (let j = 0; j < dim; j++) maxAbs = Math.max(maxAbs, Math.abs(source[base + j]!));
    if (maxAbs > WIDE) { this.encodeWide(id); return; }
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
    this.codeNorms[id] = sc * (1 + g);
    // Float32 copies for the fused kernels. The scale's rounding moves a·s·dot by at most
    // |s − s32|·‖c‖·‖q̂‖ (scaled back) ≤ 2·|s − s32|·‖c‖·‖q‖ (‖q̂‖ ≤ ‖q'‖ + 2^−qShift·√d ≤ 2‖q'‖ for
    // qShift ≥ 5 and d ≤ 1024, as ‖q'‖ ≥ 1):
    // the slack copy, which the kernels multiply by ‖q‖, takes that term.
    const s32 = Math.fround(s);
    this.scales32.view()[id] = s32;
    this.slacks32.view()[id] = up32(this.slacks[id]! + 2 * Math.abs(s - s32) * Math.sqrt(code2) * (1 + g));
    this.codeNorms32.view()[id] = up32(this.codeNorms[id]!);
  }

  /** A wide key: zero codes, scale and slacks (the sweep treats it as the zero key), listed for the exact path. */
  private encodeWide(id: number): void {
    const { dim, g } = this;
    const source = this.points();
    let norm2 = 0;
    for (let j = 0; j < dim; j++) norm2 += source[id * dim + j]! ** 2;
    this.codes.view().fill(0, id * dim, (id + 1) * dim);
    this.scales[id] = this.slacks[id] = this.codeNorms[id] = 0;
    this.norms[id] = Math.sqrt(norm2) * (1 + g);
    this.scales32.view()[id] = this.slacks32.view()[id] = this.codeNorms32.view()[id] = 0;
    this.isWide = grownTo(this.isWide, id + 1);
    this.isWide[id] = 1;
    this.wide.push(id);
  }
}

// Per-key loops of the sweep as plain functions: V8 optimises them whole (a long loop inside a
// method or closure is compiled by on-stack replacement and can fall back to the interpreter).

/**
 * q'[at + j] = a[j]·f (f a power of two: exact) and, when q16 is given,
 * q16[at + j] = clamp(round(q'_j·2^shift), −2^(shift+1), 2^(shift+1) − 1) (|q'| < 2); returns
 * ‖q' − q16·2^−shift‖² (each difference exact: short binary fractions).
 */
function scaleQuery(a: Float32Array, f: number, q: Float32Array, q16: Int16Array<ArrayBufferLike> | null, shift: number,
  at: number, dim: number): number {
  const up = 2 ** shift, down = 2 ** -shift, hi = 2 ** (shift + 1) - 1, lo = -(2 ** (shift + 1));
  let err2 = 0;
  for (let j = 0; j < dim; j++) {
    const x = a[j]! * f;
    q[at + j] = x;
    if (q16) {
      const r = Math.min(hi, Math.max(lo, Math.round(x * up)));
      q16[at + j] = r;
      const diff = x - r * down;
      err2 += diff * diff;
    }
  }
  return err2;
}

/** o[i] = x[from + i]·unit for i < count (exact: int32 or float32 times a power of two). */
function widen(x: Int32Array<ArrayBufferLike> | Float32Array, from: number, count: number, unit: number, o: Float64Array): void {
  for (let i = 0; i < count; i++) o[i] = x[from + i]! * unit;
}

/** Ids i in [start, end) whose upper bound s_i·factor·o + ‖q‖·slack_i + qe·s‖c‖_i reaches offset; returns their count. */
function collectCandidates(scales: Float64Array, slacks: Float64Array, codeNorms: Float64Array, o: Float64Array, start: number,
  end: number, factor: number, qNorm: number, qe: number, offset: number, out: Uint32Array): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    if (scales[i]! * factor * o[i - start]! + qNorm * slacks[i]! + qe * codeNorms[i]! >= offset) out[count++] = i;
  }
  return count;
}

/** up/lo[i] = centre ± radius for i in [start, end) (the same terms as collectCandidates). */
function boundsInto(scales: Float64Array, slacks: Float64Array, codeNorms: Float64Array, o: Float64Array, start: number,
  end: number, factor: number, qNorm: number, qe: number, up: Float64Array, lo: Float64Array): void {
  for (let i = start; i < end; i++) {
    const centre = scales[i]! * factor * o[i - start]!;
    const radius = qNorm * slacks[i]! + qe * codeNorms[i]!;
    up[i] = centre + radius;
    lo[i] = centre - radius;
  }
}

/** x ≥ 0 rounded up to float32 (never below x: the relative and absolute nudges cover the rounding). */
function up32(x: number): number {
  return Math.fround(x * (1 + 2 ** -22) + 2 ** -140);
}

const F32_MAX = 3.4028234663852886e38;

/** Any finite x rounded up to float32 (+Infinity above float32's range, never below x). */
function ceil32(x: number): number {
  const f = Math.fround(x);
  if (f >= x) return f;
  return f === -Infinity ? -F32_MAX : Math.fround(x + Math.abs(x) * 2 ** -22 + 2 ** -140);
}

/** x rounded to float32, kept finite (±F32_MAX beyond its range). */
function clamp32(x: number): number {
  return Math.fround(Math.max(-F32_MAX, Math.min(F32_MAX, x)));
}

/** x rounded down to float32 (never above x). */
function down32(x: number): number {
  const f = Math.fround(x);
  return f <= x ? f : Math.fround(x - Math.abs(x) * 2 ** -22 - 2 ** -140);
}

/** The integer e with 2^e·x ∈ [1, 2) for x > 0. */
function unitExponent(x: number): number {
  let e = -Math.floor(Math.log2(x));
  while (x * 2 ** e >= 2) e--;
  while (x * 2 ** e < 1) e++;
  return e;
}
