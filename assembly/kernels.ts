// WebAssembly SIMD kernels (AssemblyScript 0.28, compiled with --enable simd -O3 --runtime stub).
// Semantics are those of src/kernels/types.ts; src/kernels/js/js-kernels.ts is the readable
// definition and the conformance suite (test/kernels/) holds both to the float64 reference.
//
// Every argument is a byte offset into the imported linear memory (owned and laid out by the
// TypeScript side, src/kernels/wasm/) or a count. Nothing here allocates and there are no data
// segments, so one module instance per thread can share one (shared) memory.
//
// Speed notes (AMD Zen 5, V8 11; measurements in docs/performance.md): WebAssembly SIMD 1.0 has no
// fused multiply-add, so in the plain build a dot product costs a mul and an add per 4 floats (madd); the multi-query loops
// keep 4 accumulators (with 8, V8 hoists the loads and spills accumulators to the stack) and read
// each key once for all the queries of a grouped-query group.

const BLOCK: i32 = 64; // keys per block in attendRange (the TS side sizes its scratch as BLOCK·m floats)
let sink: v128 = f32x4.splat(0); // keeps touchLines' loads alive (a global, so never optimised away)

import { loadLanes, storeLanes } from './sweep';

// ---------------------------------------------------------------- dot products

/**
 * a·b + c per lane. The relaxed-SIMD build (assembly/kernels-relaxed.ts, --enable relaxed-simd)
 * uses f32x4.relaxed_madd, which V8 compiles to one fused multiply-add where the CPU has FMA
 * (vfmadd213ps on x64) and to a multiply and an add where not: either rounding is within the
 * float32 error bounds the kernels promise (a fused one rounds once instead of twice). The plain
 * build keeps the separate multiply and add (WebAssembly SIMD 1.0 has no FMA).
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
         (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** ⟨a, b⟩ over n floats: 4 vector accumulators over 16-float steps, then 4-float steps, then scalars. */
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let c: i32 = 0;
  for (; c + 16 <= n; c += 16) {
    const o = <usize>c << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
    s2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), s2);
    s3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), s3);
  }
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
  }
  let s = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
  for (; c < n; c++) {
    const o = <usize>c << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

/** out[i] = ⟨q, k_i⟩ for the `count` rows starting at `k`. */
function scoreBlock(q: usize, k: usize, count: i32, dim: i32, out: usize): void {
  const row = <usize>dim << 2;
  for (let i = 0; i < count; i++) store<f32>(out + (<usize>i << 2), dot(q, k + <usize>i * row, dim));
}

/** out[i] = ⟨q, k_{ids[i]}⟩; `keys` is row 0. */
export function scoreIds(q: usize, keys: usize, ids: usize, count: i32, dim: i32, out: usize): void {
  const row = <usize>dim << 2;
  for (let i = 0; i < count; i++) {
    const id = <usize>load<u32>(ids + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), dot(q, keys + id * row, dim));
  }
}

/**
 * Four queries (rows q, q+dim, …) against one key, the key read once: writes the four dots to
 * out, out+stride, out+2·stride, out+3·stride (bytes). Two accumulators per query hide add latency.
 */
@inline function dot4(q: usize, qRow: usize, k: usize, n: i32, out: usize, stride: usize): void {
  // Four accumulators only: with more, V8 (11.x) hoists the loads and spills accumulators to the stack.
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const q1 = q + qRow, q2 = q1 + qRow, q3 = q2 + qRow;
  let c: i32 = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    const k0 = v128.load(k + o);
    a0 = madd(v128.load(q + o), k0, a0);
    a1 = madd(v128.load(q1 + o), k0, a1);
    a2 = madd(v128.load(q2 + o), k0, a2);
    a3 = madd(v128.load(q3 + o), k0, a3);
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
  for (; c < n; c++) {
    const o = <usize>c << 2;
    const kc = load<f32>(k + o);
    s0 += load<f32>(q + o) * kc; s1 += load<f32>(q1 + o) * kc;
    s2 += load<f32>(q2 + o) * kc; s3 += load<f32>(q3 + o) * kc;
  }
  store<f32>(out, s0); store<f32>(out + stride, s1);
  store<f32>(out + 2 * stride, s2); store<f32>(out + 3 * stride, s3);
}

/** Three queries against one key (the 6-over-2 grouped-query models): as dot4 without the fourth. */
@inline function dot3(q: usize, qRow: usize, k: usize, n: i32, out: usize, stride: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0);
  const q1 = q + qRow, q2 = q1 + qRow;
  let c: i32 = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    const k0 = v128.load(k + o);
    a0 = madd(v128.load(q + o), k0, a0);
    a1 = madd(v128.load(q1 + o), k0, a1);
    a2 = madd(v128.load(q2 + o), k0, a2);
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2);
  for (; c < n; c++) {
    const o = <usize>c << 2;
    const kc = load<f32>(k + o);
    s0 += load<f32>(q + o) * kc; s1 += load<f32>(q1 + o) * kc; s2 += load<f32>(q2 + o) * kc;
  }
  store<f32>(out, s0); store<f32>(out + stride, s1); store<f32>(out + 2 * stride, s2);
}

/** out[j·count + i] = ⟨q_j, k_i⟩ for j < m, i < count. */
export function scoreBlockMulti(qs: usize, m: i32, k: usize, count: i32, dim: i32, out: usize): void {
  const row = <usize>dim << 2;
  const stride = <usize>count << 2;
  let j = 0;
  for (; j + 4 <= m; j += 4) {
    const qj = qs + <usize>j * row, oj = out + <usize>j * stride;
    for (let i = 0; i < count; i++) dot4(qj, row, k + <usize>i * row, dim, oj + (<usize>i << 2), stride);
  }
  if (m - j == 3) {
    const qj = qs + <usize>j * row, oj = out + <usize>j * stride;
    for (let i = 0; i < count; i++) dot3(qj, row, k + <usize>i * row, dim, oj + (<usize>i << 2), stride);
    return;
  }
  for (; j < m; j++) scoreBlock(qs + <usize>j * row, k, count, dim, out + <usize>j * stride);
}

/** out[i] = scales[i] · ⟨q, k8_i⟩ for int8 rows starting at k8 (row = dim bytes). */
export function scoreBlockI8(q: usize, k8: usize, scales: usize, count: i32, dim: i32, out: usize): void {
  for (let i = 0; i < count; i++) {
    const k = k8 + <usize>i * <usize>dim;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let c: i32 = 0;
    for (; c + 16 <= dim; c += 16) {
      const raw = v128.load(k + <usize>c);
      const lo = i16x8.extend_low_i8x16_s(raw), hi = i16x8.extend_high_i8x16_s(raw);
      const o = <usize>c << 2;
      s0 = madd(v128.load(q + o), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), s0);
      s1 = madd(v128.load(q + o, 16), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), s1);
      s2 = madd(v128.load(q + o, 32), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), s2);
      s3 = madd(v128.load(q + o, 48), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), s3);
    }
    let s = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
    for (; c < dim; c++) s += load<f32>(q + (<usize>c << 2)) * <f32>load<i8>(k + <usize>c);
    store<f32>(out + (<usize>i << 2), load<f32>(scales + (<usize>i << 2)) * s);
  }
}

/**
 * Exact integer dots of m int16 queries with int8 keys (the quantized index's sweep with a
 * quantised query): out[j·count + i] = Σ_c q16[j·dim + c] · k8[i·dim + c] as i32, each code block
 * loaded and widened once for up to three queries; i32x4.dot_i16x8_s does 8 multiply-adds per
 * instruction. No rounding at all; the caller keeps |q16| ≤ 2¹⁴ and dim ≤ 1024 so no sum overflows.
 */
export function scoreBlockI8I16(q16: usize, m: i32, k8: usize, count: i32, dim: i32, out: usize): void {
  let j: i32 = 0;
  for (; j + 3 <= m; j += 3) {
    const qa = q16 + (<usize>j * <usize>dim << 1), qb = qa + (<usize>dim << 1), qc = qb + (<usize>dim << 1);
    const oa = out + (<usize>j * <usize>count << 2), ob = oa + (<usize>count << 2), oc = ob + (<usize>count << 2);
    for (let i = 0; i < count; i++) {
      const k = k8 + <usize>i * <usize>dim;
      let a = i32x4.splat(0), b = i32x4.splat(0), e = i32x4.splat(0);
      let c: i32 = 0;
      for (; c + 16 <= dim; c += 16) {
        const raw = v128.load(k + <usize>c);
        const lo = i16x8.extend_low_i8x16_s(raw), hi = i16x8.extend_high_i8x16_s(raw);
        const o = <usize>c << 1;
        a = i32x4.add(a, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(qa + o)), i32x4.dot_i16x8_s(hi, v128.load(qa + o, 16))));
        b = i32x4.add(b, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(qb + o)), i32x4.dot_i16x8_s(hi, v128.load(qb + o, 16))));
        e = i32x4.add(e, i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(qc + o)), i32x4.dot_i16x8_s(hi, v128.load(qc + o, 16))));
      }
      let sa = hsumI32(a), sb = hsumI32(b), sc = hsumI32(e);
      for (; c < dim; c++) {
        const x = <i32>load<i8>(k + <usize>c), o = <usize>c << 1;
        sa += x * <i32>load<i16>(qa + o); sb += x * <i32>load<i16>(qb + o); sc += x * <i32>load<i16>(qc + o);
      }
      const w = <usize>i << 2;
      store<i32>(oa + w, sa); store<i32>(ob + w, sb); store<i32>(oc + w, sc);
    }
  }
  for (; j < m; j++) {
    const qa = q16 + (<usize>j * <usize>dim << 1), oa = out + (<usize>j * <usize>count << 2);
    for (let i = 0; i < count; i++) {
      const k = k8 + <usize>i * <usize>dim;
      let a = i32x4.splat(0);
      let c: i32 = 0;
      for (; c + 16 <= dim; c += 16) {
        const raw = v128.load(k + <usize>c), o = <usize>c << 1;
        a = i32x4.add(a, i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(raw), v128.load(qa + o)),
          i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(raw), v128.load(qa + o, 16))));
      }
      let sa = hsumI32(a);
      for (; c < dim; c++) sa += <i32>load<i8>(k + <usize>c) * <i32>load<i16>(qa + (<usize>c << 1));
      store<i32>(oa + (<usize>i << 2), sa);
    }
  }
}

/**
 * The quantized index's bounds from one head's scoreBlockI8I16 dots: for i < count,
 *   centre = (scales[i]·f)·(dots[i]·2⁻ᵘ),  radius = qn·slacks[i] + qe·codeNorms[i],
 *   up[i] = centre + radius,  lo[i] = centre − radius       (float64, the index's plain-loop order).
 */
export function boundsFromDots(dots: usize, count: i32, shift: i32, scales: usize, slacks: usize, codeNorms: usize,
  f: f64, qn: f64, qe: f64, up: usize, lo: usize): void {
  const unit = reinterpret<f64>(<u64>(1023 - shift) << 52);
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 3;
    const centre = load<f64>(scales + o) * f * (<f64>load<i32>(dots + (<usize>i << 2)) * unit);
    const radius = qn * load<f64>(slacks + o) + qe * load<f64>(codeNorms + o);
    store<f64>(up + o, centre + radius);
    store<f64>(lo + o, centre - radius);
  }
}


// ---------------------------------------------------------------- quantized index: fused sweep and selection

export { sweepBoundsI8, sweepCandidatesI8, sweepBoundsRows } from './sweep';

/** fl(fl(fl(top − upper)·W)·(1 − 2⁻²²)) for four keys: types.ts gapBucket before its floor and clamp. */
@inline function gapScaled(top: v128, upper: v128, w: v128): v128 {
  return f32x4.mul(f32x4.mul(f32x4.sub(top, upper), w), f32x4.splat(reinterpret<f32>(0x3f7ffffc))); // 1 − 2⁻²²
}

/**
 * types.ts gapBucket for four keys, bit for bit, from their gapScaled g: truncated and clamped to
 * [0, buckets − 1] (trunc_sat: NaN → 0, +Infinity and huge → i32 max → clamped).
 */
@inline function gapBuckets(g: v128, last: v128): v128 {
  return i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(g), last), i32x4.splat(0));
}

/** counts[at] += 1 for one key (`at` a byte offset). */
@inline function bump(counts: usize, at: usize): void {
  store<i32>(counts + at, load<i32>(counts + at) + 1);
}

/**
 * Certified selection's histogram (types.ts gapHistogram): returns top = max upper (−Infinity for
 * count 0) and leaves in counts[0, buckets) each bucket's key count. counts is scratch of
 * 4·buckets entries: lane l of every group of four keys goes to copy l (entries
 * [l·buckets, (l+1)·buckets)), so two keys of one group never hit the same address and a load
 * never waits on the store of the key just before it; the copies are summed into copy 0 at the
 * end. Every key is scattered, all four lanes, with no data-dependent branch (flat attention puts
 * most keys within a few nats of the top, where a far-key shortcut rarely applies). Counts only:
 * a per-key mass estimate (one exp per key) doubled the time (15.6 vs 32.5 µs at n = 8192).
 */
export function gapHistogram(upper: usize, count: i32, invWidth: f32, buckets: i32, counts: usize): f32 {
  const entries = buckets << 2, copy = <usize>buckets << 2;
  const zero = f32x4.splat(0);
  let b: i32 = 0;
  for (; b + 4 <= entries; b += 4) v128.store(counts + (<usize>b << 2), zero);
  for (; b < entries; b++) store<i32>(counts + (<usize>b << 2), 0);
  let m4 = f32x4.splat(-Infinity);
  let i: i32 = 0;
  for (; i + 4 <= count; i += 4) m4 = f32x4.max(m4, v128.load(upper + (<usize>i << 2)));
  let top = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  for (; i < count; i++) top = max(top, load<f32>(upper + (<usize>i << 2)));
  const t4 = f32x4.splat(top), w4 = f32x4.splat(invWidth), last = i32x4.splat(buckets - 1);
  // Byte offset of lane l's copy, added to the buckets' byte offsets in one vector op.
  const lanes = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(0), 1, <i32>copy), 2, <i32>(2 * copy)), 3, <i32>(3 * copy));
  for (i = 0; i + 4 <= count; i += 4) {
    const at = i32x4.add(i32x4.shl(gapBuckets(gapScaled(t4, v128.load(upper + (<usize>i << 2)), w4), last), 2), lanes);
    bump(counts, <usize>i32x4.extract_lane(at, 0));
    bump(counts, <usize>i32x4.extract_lane(at, 1));
    bump(counts, <usize>i32x4.extract_lane(at, 2));
    bump(counts, <usize>i32x4.extract_lane(at, 3));
  }
  if (i < count) { // the last count % 4 keys, once
    const nk = count - i;
    const at = i32x4.add(i32x4.shl(gapBuckets(gapScaled(t4, loadLanes(upper + (<usize>i << 2), nk), w4), last), 2), lanes);
    bump(counts, <usize>i32x4.extract_lane(at, 0));
    if (nk > 1) bump(counts, <usize>i32x4.extract_lane(at, 1));
    if (nk > 2) bump(counts, <usize>i32x4.extract_lane(at, 2));
  }
  const c1 = counts + copy, c2 = c1 + copy, c3 = c2 + copy;
  for (b = 0; b + 4 <= buckets; b += 4) {
    const o = <usize>b << 2;
    v128.store(counts + o, i32x4.add(i32x4.add(v128.load(counts + o), v128.load(c1 + o)), i32x4.add(v128.load(c2 + o), v128.load(c3 + o))));
  }
  for (; b < buckets; b++) {
    const o = <usize>b << 2;
    store<i32>(counts + o, (load<i32>(counts + o) + load<i32>(c1 + o)) + (load<i32>(c2 + o) + load<i32>(c3 + o)));
  }
  return top;
}

/**
 * Ids base + i (ascending) of the keys whose gapBuckets lies in [from, to]; returns their number n.
 * In a group of four with a match, every lane stores its id at the current end of the list and
 * advances the end only if it matches (no per-lane branch; the stores reach ids[n], one past the
 * last match, but never ids[count]: a store lands at most at the number of keys before it). Groups without a match are skipped: with ≤ 15 % of keys selected that branch is
 * mostly right and saves 15–25 %; at 30–60 % selected it costs ≤ 7 % (measured A/B, flat logits).
 */
export function selectBuckets(upper: usize, count: i32, top: f32, invWidth: f32, buckets: i32, from: i32, to: i32,
  base: i32, ids: usize): i32 {
  const t4 = f32x4.splat(top), w4 = f32x4.splat(invWidth), last = i32x4.splat(buckets - 1);
  const lo = i32x4.splat(from), hi = i32x4.splat(to);
  let c: i32 = 0;
  let i: i32 = 0;
  for (; i + 4 <= count; i += 4) {
    const b = gapBuckets(gapScaled(t4, v128.load(upper + (<usize>i << 2)), w4), last);
    const hit = v128.and(i32x4.ge_s(b, lo), i32x4.le_s(b, hi)); // −1 where taken
    if (!v128.any_true(hit)) continue; // the one branch: predictable where selection is sparse
    const id = <u32>(base + i);
    store<u32>(ids + (<usize>c << 2), id); c -= i32x4.extract_lane(hit, 0);
    store<u32>(ids + (<usize>c << 2), id + 1); c -= i32x4.extract_lane(hit, 1);
    store<u32>(ids + (<usize>c << 2), id + 2); c -= i32x4.extract_lane(hit, 2);
    store<u32>(ids + (<usize>c << 2), id + 3); c -= i32x4.extract_lane(hit, 3);
  }
  if (i < count) {
    const nk = count - i;
    const b = gapBuckets(gapScaled(t4, loadLanes(upper + (<usize>i << 2), nk), w4), last);
    const hit = v128.and(i32x4.ge_s(b, lo), i32x4.le_s(b, hi));
    const id = <u32>(base + i);
    store<u32>(ids + (<usize>c << 2), id); c -= i32x4.extract_lane(hit, 0);
    if (nk > 1) { store<u32>(ids + (<usize>c << 2), id + 1); c -= i32x4.extract_lane(hit, 1); }
    if (nk > 2) { store<u32>(ids + (<usize>c << 2), id + 2); c -= i32x4.extract_lane(hit, 2); }
  }
  return c;
}

@inline function hsumI32(v: v128): i32 {
  return (i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1)) + (i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

// ---------------------------------------------------------------- weights

/**
 * e^x for x ≤ 0, four lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by the Cephes degree-6
 * polynomial (relative error ~1e-7), 2^n by building the exponent bits. x < −87 gives 0.
 */
@inline function expNeg4(x: v128): v128 {
  const tiny = f32x4.lt(x, f32x4.splat(-87.0));
  const xc = f32x4.max(x, f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, pow2n), tiny);
}

/**
 * Turns dots[0..count) into weights in place and folds them into the state's max/sum
 * (state layout: acc[dv], max, sum). Softmax: rescales acc when the block raises the running max.
 * ReLU^α: the weights are t^α·e^{−max} (reluReference), so the caller's t^α never overflows or
 * underflows float32. kind 0 = softmax, 1 = relu. Returns nothing; the caller accumulates values
 * with the weights.
 */
function weighBlock(dots: usize, count: i32, kind: i32, scale: f32, bias: f32, alpha: i32, state: usize, dv: i32): void {
  const maxAt = state + (<usize>dv << 2);
  let sum = load<f32>(maxAt, 4);
  const vs = f32x4.splat(scale);
  let c: i32 = 0;
  // The block's largest dot: pmax (one maxps on x64; max's NaN rules cost several instructions),
  // the same answer for the finite dots that reach here.
  let m4 = f32x4.splat(-Infinity);
  for (; c + 4 <= count; c += 4) m4 = f32x4.pmax(m4, v128.load(dots + (<usize>c << 2)));
  let bm = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  for (; c < count; c++) bm = max(bm, load<f32>(dots + (<usize>c << 2)));
  bm *= scale; // scale > 0, so the max of the logits is the scaled max of the dots
  c = 0;
  if (kind == 0) {
    let mx = load<f32>(maxAt);
    if (bm > mx) {
      const f = f32x4.extract_lane(expNeg4(f32x4.splat(mx - bm)), 0); // e^−∞ = 0 clears an empty state
      sum *= f;
      mx = bm;
      rescaleState(state, dv, f, mx);
    }
    const vm = f32x4.splat(mx);
    let s4 = f32x4.splat(0);
    for (; c + 4 <= count; c += 4) {
      const o = dots + (<usize>c << 2);
      const p = expNeg4(f32x4.sub(f32x4.mul(v128.load(o), vs), vm));
      v128.store(o, p);
      s4 = f32x4.add(s4, p);
    }
    for (; c < count; c++) {
      const o = dots + (<usize>c << 2);
      const p = f32x4.extract_lane(expNeg4(f32x4.splat(load<f32>(o) * scale - mx)), 0);
      store<f32>(o, p);
      sum += p;
    }
    sum += hsum(s4);
  } else {
    // r = e^{−max/α} once the block's reference is settled, so (t·r)^α = t^α·e^{−max}; r is folded
    // into scale and bias (r = 1, exactly the unscaled arithmetic, in the common case).
    let r: f32 = 1;
    if (!(load<f32>(maxAt) == 0 && reluAbsolute(bm - bias, alpha))) {
      r = reluReference(bm - bias, alpha, state, dv, sum);
      sum = load<f32>(maxAt, 4);
    }
    const sr = scale * r, br = bias * r;
    const vsr = f32x4.splat(sr), vb = f32x4.splat(br);
    const zero = f32x4.splat(0);
    let s4 = f32x4.splat(0);
    for (; c + 4 <= count; c += 4) {
      const o = dots + (<usize>c << 2);
      const t = f32x4.pmax(f32x4.sub(f32x4.mul(v128.load(o), vsr), vb), zero); // pmax: one maxps
      let p = t;
      for (let a = 1; a < alpha; a++) p = f32x4.mul(p, t);
      v128.store(o, p);
      s4 = f32x4.add(s4, p);
    }
    for (; c < count; c++) {
      const o = dots + (<usize>c << 2);
      const t = max<f32>(load<f32>(o) * sr - br, 0);
      let p = t;
      for (let a = 1; a < alpha; a++) p *= t;
      store<f32>(o, p);
      sum += p;
    }
    sum += hsum(s4);
  }
  store<f32>(maxAt + 4, sum);
}

/** acc[0..dv) *= f, max = mx (sum is the caller's). */
function rescaleState(state: usize, dv: i32, f: f32, mx: f32): void {
  const vf = f32x4.splat(f);
  let d: i32 = 0;
  for (; d + 4 <= dv; d += 4) { const o = state + (<usize>d << 2); v128.store(o, f32x4.mul(v128.load(o), vf)); }
  for (; d < dv; d++) { const o = state + (<usize>d << 2); store<f32>(o, load<f32>(o) * f); }
  store<f32>(state + (<usize>dv << 2), mx);
}

/** Whether a block whose largest t is tmax keeps absolute weights: tmax^α within 2^±64 (or no weight at all). */
@inline function reluAbsolute(tmax: f32, alpha: i32): bool {
  if (!(tmax > 0)) return true;
  let pw: f64 = tmax;
  for (let a = 1; a < alpha; a++) pw *= <f64>tmax;
  return pw <= 1.8446744073709552e19 && pw >= 5.421010862427522e-20;
}

/**
 * The ReLU^α state's reference before a block whose largest t is tmax: returns r with the block's
 * weights (t·r)^α relative to e^{max}. A state at max = 0 whose block passes reluAbsolute keeps
 * absolute weights (r = 1, the common case: weighBlock does not call this); otherwise max becomes
 * α·ln tmax when that is larger or the state is empty (acc and sum rescaled by e^{old − new}),
 * as softmax's running max does: t^α alone overflows float32 from 100^20 on.
 */
function reluReference(tmax: f32, alpha: i32, state: usize, dv: i32, sum: f32): f32 {
  if (!(tmax > 0)) return 1; // every weight of the block is 0
  const maxAt = state + (<usize>dv << 2);
  const mx = load<f32>(maxAt);
  const mb = <f64>alpha * Math.log(<f64>tmax);
  if (!(sum > 0) || mb > <f64>mx) {
    const nm = <f32>mb;
    if (sum > 0) {
      const f = <f32>Math.exp(<f64>mx - <f64>nm);
      store<f32>(maxAt, sum * f, 4);
      rescaleState(state, dv, f, nm);
    } else {
      store<f32>(maxAt, nm);
    }
    return <f32>Math.exp(-<f64>nm / <f64>alpha);
  }
  return <f32>Math.exp(-<f64>mx / <f64>alpha);
}

/** One load per 64-byte line of [p, p + bytes), OR-ed together (no dependency chain): pulls a block toward L1. */
@inline function touchLines(p: usize, bytes: usize): void {
  let t = sink;
  for (let o: usize = 0; o < bytes; o += 64) t = v128.or(t, v128.load(p + o));
  sink = t;
}

// ---------------------------------------------------------------- weighted sums

/** acc[0..dv) += w · v[0..dv) */
@inline function axpy(acc: usize, w: f32, v: usize, dv: i32): void {
  const vw = f32x4.splat(w);
  let d: i32 = 0;
  for (; d + 8 <= dv; d += 8) {
    const o = acc + (<usize>d << 2), p = v + (<usize>d << 2);
    v128.store(o, madd(vw, v128.load(p), v128.load(o)));
    v128.store(o, madd(vw, v128.load(p, 16), v128.load(o, 16)), 16);
  }
  for (; d + 4 <= dv; d += 4) {
    const o = acc + (<usize>d << 2);
    v128.store(o, madd(vw, v128.load(v + (<usize>d << 2)), v128.load(o)));
  }
  for (; d < dv; d++) {
    const o = acc + (<usize>d << 2);
    store<f32>(o, load<f32>(o) + w * load<f32>(v + (<usize>d << 2)));
  }
}

/** acc += w0·v0 + w1·v1 + w2·v2 + w3·v3 (weights w[0..4), rows anywhere): one load and store of acc per 4 rows. */
@inline function axpy4(acc: usize, w: usize, v0: usize, v1: usize, v2: usize, v3: usize, dv: i32): void {
  const a = v128.load32_splat(w), b = v128.load32_splat(w + 4), c4 = v128.load32_splat(w + 8), e = v128.load32_splat(w + 12);
  let d: i32 = 0;
  for (; d + 4 <= dv; d += 4) {
    const o = <usize>d << 2;
    const s01 = madd(b, v128.load(v1 + o), f32x4.mul(a, v128.load(v0 + o)));
    const s23 = madd(e, v128.load(v3 + o), f32x4.mul(c4, v128.load(v2 + o)));
    v128.store(acc + o, f32x4.add(v128.load(acc + o), f32x4.add(s01, s23)));
  }
  for (; d < dv; d++) {
    const o = <usize>d << 2;
    store<f32>(acc + o, load<f32>(acc + o) + (load<f32>(w) * load<f32>(v0 + o) + load<f32>(w, 4) * load<f32>(v1 + o)) +
      (load<f32>(w, 8) * load<f32>(v2 + o) + load<f32>(w, 12) * load<f32>(v3 + o)));
  }
}

/**
 * Adds the weighted value rows (weights at w[0..count)) into acc: rows `values + ids[i]·row` when
 * `gathered`, else `values + i·row`. Four rows per pass (one load and store of acc per four),
 * groups of four zero weights skipped (ReLU), the last count % 4 rows one by one.
 */
@inline function addRows(acc: usize, w: usize, count: i32, values: usize, ids: usize, gathered: bool, dv: i32): void {
  const row = <usize>dv << 2;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const wi = w + (<usize>i << 2);
    if (!v128.any_true(f32x4.ne(v128.load(wi), f32x4.splat(0)))) continue;
    if (gathered) {
      const at = ids + (<usize>i << 2);
      axpy4(acc, wi, values + <usize>load<u32>(at) * row, values + <usize>load<u32>(at, 4) * row,
        values + <usize>load<u32>(at, 8) * row, values + <usize>load<u32>(at, 12) * row, dv);
    } else {
      const v0 = values + <usize>i * row;
      axpy4(acc, wi, v0, v0 + row, v0 + 2 * row, v0 + 3 * row, dv);
    }
  }
  for (; i < count; i++) {
    const w0 = load<f32>(w + (<usize>i << 2));
    const r0 = gathered ? <usize>load<u32>(ids + (<usize>i << 2)) : <usize>i;
    if (w0 != 0) axpy(acc, w0, values + r0 * row, dv);
  }
}

/**
 * Folds dots (overwritten with weights) and value rows into one state. Rows: `values + ids[i]·row`
 * when ids ≠ 0, else `values + i·row` (values already points at the first row).
 */
export function accumulate(state: usize, dots: usize, count: i32, kind: i32, scale: f32, bias: f32, alpha: i32,
  values: usize, ids: usize, dv: i32): void {
  weighBlock(dots, count, kind, scale, bias, alpha, state, dv);
  if (ids != 0) addRows(state, dots, count, values, ids, true, dv);
  else addRows(state, dots, count, values, 0, false, dv);
}

/** Two keys' f32x4 partial sums x, y → [x0+x2, y0+y2, x1+x3, y1+y3] (pairFold for floats). */
@inline function pairFoldF(x: v128, y: v128): v128 {
  return f32x4.add(i32x4.shuffle(x, y, 0, 4, 1, 5), i32x4.shuffle(x, y, 2, 6, 3, 7));
}

/**
 * [⟨q, k0⟩, ⟨q, k1⟩, ⟨q, k2⟩, ⟨q, k3⟩] for four rows anywhere: each query vector is loaded once for
 * the four rows; two accumulators per row (8 floats per step) hide the add latency.
 */
@inline function dotRows4(q: usize, k0: usize, k1: usize, k2: usize, k3: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let c: i32 = 0;
  for (; c + 8 <= n; c += 8) {
    const o = <usize>c << 2;
    const x = v128.load(q + o), y = v128.load(q + o, 16);
    a0 = madd(x, v128.load(k0 + o), a0); b0 = madd(y, v128.load(k0 + o, 16), b0);
    a1 = madd(x, v128.load(k1 + o), a1); b1 = madd(y, v128.load(k1 + o, 16), b1);
    a2 = madd(x, v128.load(k2 + o), a2); b2 = madd(y, v128.load(k2 + o, 16), b2);
    a3 = madd(x, v128.load(k3 + o), a3); b3 = madd(y, v128.load(k3 + o, 16), b3);
  }
  if (c + 4 <= n) {
    const o = <usize>c << 2;
    const x = v128.load(q + o);
    a0 = madd(x, v128.load(k0 + o), a0); a1 = madd(x, v128.load(k1 + o), a1);
    a2 = madd(x, v128.load(k2 + o), a2); a3 = madd(x, v128.load(k3 + o), a3);
    c += 4;
  }
  const p = pairFoldF(f32x4.add(a0, b0), f32x4.add(a1, b1)), r = pairFoldF(f32x4.add(a2, b2), f32x4.add(a3, b3));
  let s = f32x4.add(i32x4.shuffle(p, r, 0, 1, 4, 5), i32x4.shuffle(p, r, 2, 3, 6, 7));
  if (c < n) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; c < n; c++) {
      const o = <usize>c << 2, x = load<f32>(q + o);
      t0 += x * load<f32>(k0 + o); t1 += x * load<f32>(k1 + o); t2 += x * load<f32>(k2 + o); t3 += x * load<f32>(k3 + o);
    }
    s = f32x4.add(s, f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(t0), 1, t1), 2, t2), 3, t3));
  }
  return s;
}

/**
 * Sparse decode of one query over gathered keys (types.ts attendIds): scores the rows ids[0..count)
 * of keys four at a time into scratch (count floats), weighs them all against one max (weighBlock,
 * so the state is rescaled at most once per call and the float32 error is accumulate's), then adds
 * the weighted value rows ids[i] four at a time. = scoreIds + accumulate in one call. (Touching
 * each group's value rows while its keys are scored, to start fetching them early, measured slower.)
 */
export function attendIds(q: usize, keys: usize, values: usize, ids: usize, count: i32, dim: i32, dv: i32,
  kind: i32, scale: f32, bias: f32, alpha: i32, state: usize, scratch: usize): void {
  const row = <usize>dim << 2;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = ids + (<usize>i << 2);
    v128.store(scratch + (<usize>i << 2), dotRows4(q, keys + <usize>load<u32>(at) * row, keys + <usize>load<u32>(at, 4) * row,
      keys + <usize>load<u32>(at, 8) * row, keys + <usize>load<u32>(at, 12) * row, dim));
  }
  for (; i < count; i++) {
    store<f32>(scratch + (<usize>i << 2), dot(q, keys + <usize>load<u32>(ids + (<usize>i << 2)) * row, dim));
  }
  weighBlock(scratch, count, kind, scale, bias, alpha, state, dv);
  addRows(state, scratch, count, values, ids, true, dv);
}

/**
 * Fused dense decode over a key range for m queries of one grouped-query group: per block of
 * BLOCK keys, score all m queries (each key read once), turn the dots into weights per query,
 * then add each value row into all m accumulators (each value row read once).
 * scratch: BLOCK·m floats. states: m × (dv + 2) floats.
 */
export function attendRange(qs: usize, m: i32, k: usize, v: usize, count: i32, dim: i32, dv: i32,
  kind: i32, scale: f32, bias: f32, alpha: i32, states: usize, scratch: usize): void {
  const krow = <usize>dim << 2, vrow = <usize>dv << 2, srow = <usize>(dv + 2) << 2;
  for (let b = 0; b < count; b += BLOCK) {
    const c = min(BLOCK, count - b);
    const kb = k + <usize>b * krow, vb = v + <usize>b * vrow;
    scoreBlockMulti(qs, m, kb, c, dim, scratch);
    // Pull the block's value rows in with one independent load per line before they are used:
    // the accumulation below reads four rows at once, a pattern the prefetchers follow poorly
    // (−26 % time for one query per KV head streamed from DRAM, neutral for four).
    touchLines(vb, <usize>c * vrow);
    const stride = <usize>c << 2;
    for (let j = 0; j < m; j++) {
      weighBlock(scratch + <usize>j * stride, c, kind, scale, bias, alpha, states + <usize>j * srow, dv);
    }
    // Key-outer: each group of value rows is read once and added into all m accumulators (in L1).
    let i = 0;
    for (; i + 4 <= c; i += 4) {
      const v0 = vb + <usize>i * vrow;
      const wi = scratch + (<usize>i << 2);
      for (let j = 0; j < m; j++) {
        const wj = wi + <usize>j * stride;
        if (v128.any_true(f32x4.ne(v128.load(wj), f32x4.splat(0)))) axpy4(states + <usize>j * srow, wj, v0, v0 + vrow, v0 + 2 * vrow, v0 + 3 * vrow, dv);
      }
    }
    for (; i < c; i++) {
      const v0 = vb + <usize>i * vrow;
      for (let j = 0; j < m; j++) {
        const w0 = load<f32>(scratch + <usize>j * stride + (<usize>i << 2));
        if (w0 != 0) axpy(states + <usize>j * srow, w0, v0, dv);
      }
    }
  }
}

// ---------------------------------------------------------------- bandwidth probe

/**
 * Sums `bytes` bytes (a multiple of 64) of float32 from p with four vector accumulators: a pure
 * streaming read, the roof that bench/bandwidth.ts measures and decode is compared against.
 */
export function readSum(p: usize, bytes: usize): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  for (let o: usize = 0; o < bytes; o += 64) {
    a = f32x4.add(a, v128.load(p + o)); b = f32x4.add(b, v128.load(p + o, 16));
    c = f32x4.add(c, v128.load(p + o, 32)); d = f32x4.add(d, v128.load(p + o, 48));
  }
  return hsum(f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
}
