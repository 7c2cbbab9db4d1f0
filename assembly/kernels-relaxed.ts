// The relaxed-SIMD build of the kernels: the same source (assembly/kernels.ts) compiled with
// --enable relaxed-simd, where ASC_FEATURE_RELAXED_SIMD selects fused multiply-adds in the float
// dots, plus the quantized sweep on 7-bit queries (sweepBoundsI8Q7 / sweepCandidatesI8Q7: the
// int16 sweep's contract with queries in [−64, 63], packed as bytes q̂ + 64). src/kernels/wasm/relaxed.ts
// allows this module only where relaxedDotProbe gives the known answers (see there).
import { sweepHeads, sweepRows } from './sweep';

export * from './kernels';

/** sweepBoundsI8 on 7-bit queries (q8: m rows of dim bytes q̂ + 64). */
export function sweepBoundsI8Q7(q8: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  count: i32, dim: i32, coef: usize, upper: usize, centre: usize): void {
  sweepHeads(true, 0, m, q8, k8, scales, slacks, codeNorms, 0, count, dim, coef, upper, centre, <usize>count << 2);
}

/** sweepCandidatesI8 on 7-bit queries (as sweepBoundsI8Q7). */
export function sweepCandidatesI8Q7(q8: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  base: i32, count: i32, dim: i32, coef: usize, ids: usize, counts: usize): void {
  sweepHeads(true, 1, m, q8, k8, scales, slacks, codeNorms, base, count, dim, coef, ids, counts, <usize>count << 2);
}

/** sweepBoundsRows on 7-bit queries (as sweepBoundsI8Q7). */
export function sweepBoundsRowsQ7(q8: usize, m: i32, k8: usize, scales: usize, slacks: usize, codeNorms: usize,
  count: i32, dim: i32, coef: usize, upper: usize, centre: usize, stride: i32): void {
  sweepRows(true, q8, m, k8, scales, slacks, codeNorms, count, dim, coef, upper, centre, stride);
}

/**
 * Lane 0 of i32x4.relaxed_dot_i8x16_i7x16_add_s(splat a, splat b, splat c) — 4·a·b + c where the
 * host computes the instruction as the sweep needs it (a int8, 0 ≤ b ≤ 127).
 */
export function relaxedDotProbe(a: i32, b: i32, c: i32): i32 {
  return i32x4.extract_lane(i32x4.relaxed_dot_i8x16_i7x16_add_s(i8x16.splat(<i8>a), i8x16.splat(<i8>b), i32x4.splat(c)), 0);
}
