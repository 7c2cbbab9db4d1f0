// The quantized index's fused sweep (src/kernels/types.ts sweepBoundsI8 / sweepCandidatesI8):
// int8 codes × quantised queries → certified float32 bounds. Part of the kernels module
// (assembly/kernels.ts exports the int16-query sweep; assembly/kernels-relaxed.ts adds the
// 7-bit-query sweep of the relaxed-SIMD build).
/**
 * Two keys' i32x4 accumulators x, y → [x0+x2, y0+y2, x1+x3, y1+y3]: the first half of the
 * transpose-reduction that turns four keys' accumulators into one vector of their four dots.
 */
@inline function pairFold(x: v128, y: v128): v128 {
  return i32x4.add(i32x4.shuffle(x, y, 0, 4, 1, 5), i32x4.shuffle(x, y, 2, 6, 3, 7));
}

/** pairFold(x, y) and pairFold(z, w) → [Σx, Σy, Σz, Σw]. */
@inline function quadFold(p: v128, q: v128): v128 {
  return i32x4.add(i32x4.shuffle(p, q, 0, 1, 4, 5), i32x4.shuffle(p, q, 2, 3, 6, 7));
}

/** Lanes 0..nk−1 of a float32 array at p (nk ≤ 4; lanes past nk repeat lane 0, never read beyond). */
@inline export function loadLanes(p: usize, nk: i32): v128 {
  if (nk == 4) return v128.load(p);
  let v = f32x4.splat(load<f32>(p));
  if (nk > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (nk > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores lanes 0..nk−1 of v at p. */
@inline export function storeLanes(p: usize, v: v128, nk: i32): void {
  if (nk == 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (nk > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (nk > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * centre = a·scale·dot for four keys, as float32, the careful way: (a·scale) is exact in float64
 * (24 + 24 significant bits), ·dot is one float64 rounding, the demotion one float32 rounding.
 * Used when a float32 a·scale could be subnormal (abs error 2⁻¹⁵⁰, which ·dot would blow up to
 * 2⁻¹¹⁹) or overflow while the centre does not; sweptCentreF32 otherwise.
 */
@inline function sweptCentre(dots: v128, a: v128, sLo: v128, sHi: v128): v128 {
  const lo = f64x2.mul(f64x2.mul(a, sLo), f64x2.convert_low_i32x4_s(dots));
  const hi = f64x2.mul(f64x2.mul(a, sHi), f64x2.convert_low_i32x4_s(i32x4.shuffle(dots, dots, 2, 3, 2, 3)));
  return f32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * centre = fl(fl(a·scale)·fl(dot)) in float32, for a and scales in [2⁻⁶⁰, 2⁶⁰]: then a·scale lies in
 * [2⁻¹²⁰, 2¹²⁰] (normal, no overflow), fl(dot) is exact or within u = 2⁻²⁴, so |c − C| ≤ (3u + 3u²)|C|
 * (an overflow of the last product only gives ±Infinity, which sweptUpper turns into +Infinity).
 */
@inline function sweptCentreF32(dots: v128, a: v128, s: v128): v128 {
  return f32x4.mul(f32x4.mul(a, s), f32x4.convert_i32x4_s(dots));
}

/** True when all four lanes' |x| lie in [2⁻⁶⁰, 2⁶⁰] (sweptCentreF32's range): one unsigned compare on the bits. */
@inline function inF32Range(x: v128): bool {
  const lo = (127 - 60) << 23, hi = (127 + 60) << 23;
  return i32x4.all_true(i32x4.le_u(i32x4.sub(v128.and(x, i32x4.splat(0x7fffffff)), i32x4.splat(lo)), i32x4.splat(hi - lo)));
}

/**
 * upper = fl(fl(c + r) + fl(fl(fl(|c| + r)·2⁻¹⁹) + 2⁻¹²⁰)) ≥ C + R, with C, R the exact centre and
 * radius, c = sweptCentre and r = fl(fl(n·slack) + fl(e·codeNorm)). Why the allowance suffices
 * (u = 2⁻²⁴, each rounding is relative ≤ u, or absolute ≤ 2⁻¹⁵⁰ where a result is subnormal):
 *   |c − C| ≤ (3u + 3u²)|C| + 2⁻¹⁵⁰ (either centre),  |r − R| ≤ (2u + u²)R + 2·2⁻¹⁵⁰,
 *   |fl(c + r) − (c + r)| ≤ u(|c| + r),
 * so fl(c + r) ≥ C + R − (6u + O(u²))(|C| + R) − 3·2⁻¹⁵⁰. The allowance computed in float32 is
 * ≥ 2⁻¹⁹(1 − 4u)(|C| + R)·(1 − u) + 2⁻¹²⁰(1 − u) − 2⁻¹⁵⁰ (the ·2⁻¹⁹ is exact unless subnormal),
 * and the final add loses ≤ u(|c| + r + allowance). 2⁻¹⁹ = 32u covers the ≈ 8u of relative loss,
 * 2⁻¹²⁰ the few 2⁻¹⁵⁰ of absolute loss. Overflow: any ±Infinity on the way makes the sum +Infinity
 * or NaN (−Infinity + Infinity), and NaN is replaced by +Infinity, so upper ≥ C + R always holds.
 * Tight: upper ≤ C + R + (2⁻¹⁹ + 10u)(|C| + R) + 2⁻¹²⁰ + 4·2⁻¹⁵⁰ when nothing overflows.
 */
@inline function sweptUpper(c: v128, r: v128): v128 {
  const allowance = f32x4.add(f32x4.mul(f32x4.add(f32x4.abs(c), r), f32x4.splat(reinterpret<f32>(0x36000000))), // 2⁻¹⁹
    f32x4.splat(reinterpret<f32>(0x03800000))); // 2⁻¹²⁰
  const u = f32x4.add(f32x4.add(c, r), allowance);
  return v128.bitselect(u, f32x4.splat(Infinity), f32x4.eq(u, u));
}

/** Head j's centres of four keys from their dots (sweptCentreF32 when `fast`, else sweptCentre). */
@inline function sweptCentreOf(dots: v128, coefJ: usize, fast: bool, s: v128): v128 {
  if (fast) return sweptCentreF32(dots, v128.load32_splat(coefJ), s);
  const sLo = f64x2.promote_low_f32x4(s), sHi = f64x2.promote_low_f32x4(f32x4.shuffle(s, s, 2, 3, 2, 3));
  return sweptCentre(dots, f64x2.promote_low_f32x4(v128.load32_splat(coefJ)), sLo, sHi);
}

/** Head j's radii n_j·slack + e_j·codeNorm of four keys. */
@inline function sweptRadius(coefJ: usize, slack: v128, norm: v128): v128 {
  return f32x4.add(f32x4.mul(v128.load32_splat(coefJ, 4), slack), f32x4.mul(v128.load32_splat(coefJ, 8), norm));
}

/**
 * Head j's four bounds (centre, upper) from their dots: bounds mode stores both, candidates mode
 * appends the ids of lanes with upper ≥ t_j (rare: usually no lane, checked with one bitmask).
 * Returns head j's new candidate count.
 */
@inline function sweptEmit(mode: i32, dots: v128, coefJ: usize, fast: bool, s: v128, slack: v128, norm: v128,
  nk: i32, out0: usize, out1: usize, id: i32, c: i32): i32 {
  const centre = sweptCentreOf(dots, coefJ, fast, s);
  const upper = sweptUpper(centre, sweptRadius(coefJ, slack, norm));
  if (mode == 0) {
    storeLanes(out0, upper, nk);
    storeLanes(out1, centre, nk);
    return c;
  }
  let bits = i32x4.bitmask(f32x4.ge(upper, v128.load32_splat(coefJ, 12))) & ((1 << nk) - 1);
  while (bits != 0) {
    store<u32>(out0 + (<usize>c << 2), <u32>(id + ctz(bits)));
    c++;
    bits &= bits - 1;
  }
  return c;
}

/**
 * The 7-bit sweep's query encoding (relaxed build only): one byte per component, q̂ + QUERY_BIAS
 * with q̂ ∈ [−64, 63] (src/kernels/wasm/wasm-kernels.ts packs the caller's int16 q̂ so). The
 * int16 sweep reads the caller's q̂ as they are.
 */
const QUERY_BIAS: i8 = 64;

/** Component c of a query row of the sweep (see QUERY_BIAS) as the signed q̂. */
@inline function queryCode(q: usize, c: i32, q7: bool): i32 {
  if (ASC_FEATURE_RELAXED_SIMD && q7) return <i32>load<u8>(q + <usize>c) - QUERY_BIAS;
  return <i32>load<i16>(q + (<usize>c << 1));
}

/**
 * The shared core of sweepBoundsI8 (mode 0: out0 = upper, out1 = centre) and sweepCandidatesI8
 * (mode 1: out0 = ids, out1 = counts) for M = m heads (a constant after inlining). Keys go four
 * at a time, as two pairs: each pair's code row is loaded and widened once for all M heads and
 * dotted with i32x4.dot_i16x8_s (2 keys × M ≤ 4 heads = at most 8 accumulators: V8 11 keeps them
 * in registers); the accumulators fold into one i32x4 of four keys' dots per head, and the bounds
 * of four keys are evaluated at once. A last partial group re-reads the last key in its spare
 * lanes (never memory past the arrays) and writes only its valid lanes. With q7 (relaxed build
 * only) the int8 codes are dotted with 7-bit queries instead (i32x4.relaxed_dot_i8x16_i7x16_add_s:
 * 16 multiply-adds per instruction and no widening — one vpdpbusd where V8 sees AVX-VNNI; without
 * it V8 emits vpmaddubsw + vpmaddwd, no faster than the int16 path).
 */
@inline export function sweepI8(q7: bool, mode: i32, M: i32, q16: usize, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  base: i32, count: i32, dim: i32, coef: usize, out0: usize, out1: usize, rowOut: usize): void {
  const dim16 = dim & ~15, rowQ = ASC_FEATURE_RELAXED_SIMD && q7 ? <usize>dim : <usize>dim << 1;
  const qa = q16, qb = qa + rowQ, qc = qb + rowQ, qd = qc + rowQ;
  const zero = i32x4.splat(0);
  let na: i32 = 0, nb: i32 = 0, nc: i32 = 0, nd: i32 = 0; // candidate counts (mode 1)
  // The float32 centre needs head j's a_j (and, checked per group of keys, every scale) in
  // [2⁻⁶⁰, 2⁶⁰]. Decided per head, so a head's bounds do not depend on which heads share the call.
  const fa = inF32Range(v128.load32_splat(coef)), fb = M > 1 && inF32Range(v128.load32_splat(coef, 16));
  const fc = M > 2 && inF32Range(v128.load32_splat(coef, 32)), fd = M > 3 && inF32Range(v128.load32_splat(coef, 48));
  for (let i: i32 = 0; i < count; i += 4) {
    const nk = min(4, count - i);
    let pa = zero, pb = zero, pc = zero, pd = zero; // pairFold of the first pair
    let da = zero, db = zero, dc = zero, dd = zero; // the four keys' dots per head
    for (let h: i32 = 0; h < 4; h += 2) {
      const k0 = k8 + <usize>min(i + h, count - 1) * <usize>dim, k1 = k8 + <usize>min(i + h + 1, count - 1) * <usize>dim;
      let a0 = zero, a1 = zero, b0 = zero, b1 = zero, c0 = zero, c1 = zero, e0 = zero, e1 = zero;
      if (ASC_FEATURE_RELAXED_SIMD && q7) {
        // Query bytes are q̂ + 64 ∈ [0, 127]: the 7-bit operand, the same for every lowering (VNNI's
        // vpdpbusd reads it unsigned, pmaddubsw too — whose int16 pair sums 2·127·127 never saturate —
        // and ARM's sdot signed). The codes' sum against 64 (s0, s1) removes the bias: exact in int32.
        const bias = i8x16.splat(QUERY_BIAS);
        let s0 = zero, s1 = zero;
        for (let c: i32 = 0; c < dim16; c += 16) {
          const x0 = v128.load(k0 + <usize>c), x1 = v128.load(k1 + <usize>c);
          s0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, bias, s0);
          s1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, bias, s1);
          let y = v128.load(qa + <usize>c);
          a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, y, a0); a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, y, a1);
          if (M > 1) {
            y = v128.load(qb + <usize>c);
            b0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, y, b0); b1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, y, b1);
          }
          if (M > 2) {
            y = v128.load(qc + <usize>c);
            c0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, y, c0); c1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, y, c1);
          }
          if (M > 3) {
            y = v128.load(qd + <usize>c);
            e0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, y, e0); e1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, y, e1);
          }
        }
        a0 = i32x4.sub(a0, s0); a1 = i32x4.sub(a1, s1);
        if (M > 1) { b0 = i32x4.sub(b0, s0); b1 = i32x4.sub(b1, s1); }
        if (M > 2) { c0 = i32x4.sub(c0, s0); c1 = i32x4.sub(c1, s1); }
        if (M > 3) { e0 = i32x4.sub(e0, s0); e1 = i32x4.sub(e1, s1); }
      } else for (let c: i32 = 0; c < dim16; c += 16) {
        // load8x8_s widens while loading (one pmovsxbw with a memory operand on x64).
        const l0 = v128.load8x8_s(k0 + <usize>c), h0 = v128.load8x8_s(k0 + <usize>c, 8);
        const l1 = v128.load8x8_s(k1 + <usize>c), h1 = v128.load8x8_s(k1 + <usize>c, 8);
        const o = <usize>c << 1;
        let x = v128.load(qa + o), y = v128.load(qa + o, 16);
        a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(l0, x), i32x4.dot_i16x8_s(h0, y)));
        a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(l1, x), i32x4.dot_i16x8_s(h1, y)));
        if (M > 1) {
          x = v128.load(qb + o); y = v128.load(qb + o, 16);
          b0 = i32x4.add(b0, i32x4.add(i32x4.dot_i16x8_s(l0, x), i32x4.dot_i16x8_s(h0, y)));
          b1 = i32x4.add(b1, i32x4.add(i32x4.dot_i16x8_s(l1, x), i32x4.dot_i16x8_s(h1, y)));
        }
        if (M > 2) {
          x = v128.load(qc + o); y = v128.load(qc + o, 16);
          c0 = i32x4.add(c0, i32x4.add(i32x4.dot_i16x8_s(l0, x), i32x4.dot_i16x8_s(h0, y)));
          c1 = i32x4.add(c1, i32x4.add(i32x4.dot_i16x8_s(l1, x), i32x4.dot_i16x8_s(h1, y)));
        }
        if (M > 3) {
          x = v128.load(qd + o); y = v128.load(qd + o, 16);
          e0 = i32x4.add(e0, i32x4.add(i32x4.dot_i16x8_s(l0, x), i32x4.dot_i16x8_s(h0, y)));
          e1 = i32x4.add(e1, i32x4.add(i32x4.dot_i16x8_s(l1, x), i32x4.dot_i16x8_s(h1, y)));
        }
      }
      if (dim16 < dim) {
        // General dims: the last dim % 16 codes scalar, added into lane 0 (the fold sums all lanes).
        let sa0: i32 = 0, sa1: i32 = 0, sb0: i32 = 0, sb1: i32 = 0, sc0: i32 = 0, sc1: i32 = 0, sd0: i32 = 0, sd1: i32 = 0;
        for (let c = dim16; c < dim; c++) {
          const x0 = <i32>load<i8>(k0 + <usize>c), x1 = <i32>load<i8>(k1 + <usize>c);
          let q = queryCode(qa, c, q7); sa0 += x0 * q; sa1 += x1 * q;
          if (M > 1) { q = queryCode(qb, c, q7); sb0 += x0 * q; sb1 += x1 * q; }
          if (M > 2) { q = queryCode(qc, c, q7); sc0 += x0 * q; sc1 += x1 * q; }
          if (M > 3) { q = queryCode(qd, c, q7); sd0 += x0 * q; sd1 += x1 * q; }
        }
        a0 = i32x4.add(a0, i32x4.replace_lane(zero, 0, sa0)); a1 = i32x4.add(a1, i32x4.replace_lane(zero, 0, sa1));
        b0 = i32x4.add(b0, i32x4.replace_lane(zero, 0, sb0)); b1 = i32x4.add(b1, i32x4.replace_lane(zero, 0, sb1));
        c0 = i32x4.add(c0, i32x4.replace_lane(zero, 0, sc0)); c1 = i32x4.add(c1, i32x4.replace_lane(zero, 0, sc1));
        e0 = i32x4.add(e0, i32x4.replace_lane(zero, 0, sd0)); e1 = i32x4.add(e1, i32x4.replace_lane(zero, 0, sd1));
      }
      if (h == 0) {
        pa = pairFold(a0, a1); pb = pairFold(b0, b1); pc = pairFold(c0, c1); pd = pairFold(e0, e1);
      } else {
        da = quadFold(pa, pairFold(a0, a1)); db = quadFold(pb, pairFold(b0, b1));
        dc = quadFold(pc, pairFold(c0, c1)); dd = quadFold(pd, pairFold(e0, e1));
      }
    }
    const o = <usize>i << 2;
    const s = loadLanes(scales + o, nk), slack = loadLanes(slacks + o, nk), norm = loadLanes(codeNorms + o, nk);
    const sFast = inF32Range(s);
    const id = base + i;
    if (mode == 0) {
      const oa = o, ob = oa + rowOut, oc = ob + rowOut, od = oc + rowOut;
      sweptEmit(0, da, coef, fa && sFast, s, slack, norm, nk, out0 + oa, out1 + oa, id, 0);
      if (M > 1) sweptEmit(0, db, coef + 16, fb && sFast, s, slack, norm, nk, out0 + ob, out1 + ob, id, 0);
      if (M > 2) sweptEmit(0, dc, coef + 32, fc && sFast, s, slack, norm, nk, out0 + oc, out1 + oc, id, 0);
      if (M > 3) sweptEmit(0, dd, coef + 48, fd && sFast, s, slack, norm, nk, out0 + od, out1 + od, id, 0);
    } else {
      na = sweptEmit(1, da, coef, fa && sFast, s, slack, norm, nk, out0, 0, id, na);
      if (M > 1) nb = sweptEmit(1, db, coef + 16, fb && sFast, s, slack, norm, nk, out0 + rowOut, 0, id, nb);
      if (M > 2) nc = sweptEmit(1, dc, coef + 32, fc && sFast, s, slack, norm, nk, out0 + 2 * rowOut, 0, id, nc);
      if (M > 3) nd = sweptEmit(1, dd, coef + 48, fd && sFast, s, slack, norm, nk, out0 + 3 * rowOut, 0, id, nd);
    }
  }
  if (mode == 1) {
    store<i32>(out1, na);
    if (M > 1) store<i32>(out1, nb, 4);
    if (M > 2) store<i32>(out1, nc, 8);
    if (M > 3) store<i32>(out1, nd, 12);
  }
}

/**
 * sweepI8 for m ≤ 4 heads, with M a constant in each branch (the exports below and the relaxed
 * build's 7-bit ones): mode 0 bounds (base 0, out0 = upper, out1 = centre; rows rowOut bytes
 * apart), 1 candidates.
 */
@inline export function sweepHeads(q7: bool, mode: i32, m: i32, q: usize, k8: usize, scales: usize, slacks: usize,
  codeNorms: usize, base: i32, count: i32, dim: i32, coef: usize, out0: usize, out1: usize, rowOut: usize): void {
  if (m == 1) sweepI8(q7, mode, 1, q, k8, scales, slacks, codeNorms, base, count, dim, coef, out0, out1, rowOut);
  else if (m == 2) sweepI8(q7, mode, 2, q, k8, scales, slacks, codeNorms, base, count, dim, coef, out0, out1, rowOut);
  else if (m == 3) sweepI8(q7, mode, 3, q, k8, scales, slacks, codeNorms, base, count, dim, coef, out0, out1, rowOut);
  else if (m == 4) sweepI8(q7, mode, 4, q, k8, scales, slacks, codeNorms, base, count, dim, coef, out0, out1, rowOut);
}

/** Keys per block of the tile sweep: a block's codes (TILE_KEYS·dim bytes, 16 KiB at d = 64) stay in L1 while every row group reads them. */
const TILE_KEYS: i32 = 256;

/**
 * The prefill tile's bound pass (types.ts sweepBoundsRows): m rows (any number) against `count`
 * keys as an int8 matrix product blocked for the cache — per block of TILE_KEYS keys, every group
 * of four rows runs sweepI8 over it, so each code row is fetched from memory once for the whole
 * tile and loaded into registers once per four rows (more rows per register load would need more
 * than the 16 vector registers V8 allocates on x64). Row j's upper bounds and centres go to
 * upper + j·stride and centre + j·stride floats.
 */
@inline export function sweepRows(q7: bool, q: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  count: i32, dim: i32, coef: usize, upper: usize, centre: usize, stride: i32): void {
  const rowQ = ASC_FEATURE_RELAXED_SIMD && q7 ? <usize>dim : <usize>dim << 1, rowOut = <usize>stride << 2;
  for (let b: i32 = 0; b < count; b += TILE_KEYS) {
    const c = min(TILE_KEYS, count - b), o = <usize>b << 2;
    for (let j: i32 = 0; j < m; j += 4) {
      sweepHeads(q7, 0, min(4, m - j), q + <usize>j * rowQ, k8 + <usize>b * <usize>dim, scales + o, slacks + o, codeNorms + o,
        0, c, dim, coef + (<usize>j << 4), upper + <usize>j * rowOut + o, centre + <usize>j * rowOut + o, rowOut);
    }
  }
}

/**
 * The fused sweep's bounds (types.ts sweepBoundsI8): for m ≤ 4 heads and the `count` keys at k8
 * (per-key arrays already offset to the first key), upper and centre as [m, count] float32.
 */
export function sweepBoundsI8(q16: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  count: i32, dim: i32, coef: usize, upper: usize, centre: usize): void {
  sweepHeads(false, 0, m, q16, k8, scales, slacks, codeNorms, 0, count, dim, coef, upper, centre, <usize>count << 2);
}

/** The fused sweep as a half-space query (types.ts sweepCandidatesI8): ids base + i, counts [m]. */
export function sweepCandidatesI8(q16: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  base: i32, count: i32, dim: i32, coef: usize, ids: usize, counts: usize): void {
  sweepHeads(false, 1, m, q16, k8, scales, slacks, codeNorms, base, count, dim, coef, ids, counts, <usize>count << 2);
}

/** The prefill tile's bound pass on int16 queries (sweepRows; types.ts sweepBoundsRows). */
export function sweepBoundsRows(q16: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  count: i32, dim: i32, coef: usize, upper: usize, centre: usize, stride: i32): void {
  sweepRows(false, q16, m, k8, scales, slacks, codeNorms, count, dim, coef, upper, centre, stride);
}
