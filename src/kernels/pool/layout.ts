import { BUCKETS } from '../../attention/buckets.js';

/**
 * The control block the decode pool (decode-pool.ts) and its threads (thread.ts) share, as int32
 * slots in the shared WebAssembly memory. One attend = one task generation: the calling thread
 * writes the parameters, bumps SEQ and notifies; each thread works on its slice of
 * the "line" of kvHeads × length positions (KV head g's positions are line g·n .. g·n + n) and
 * adds 1 to DONE. Addresses are byte offsets into the same memory; past 2 GiB they read back
 * negative from the int32 slots, which the kernels' i32 arguments take as the same bits, but JS
 * views must read them unsigned (`>>> 0`).
 */
export const SEQ = 0;      // task generation, bumped by the main thread
export const DONE = 1;     // threads finished with the current generation
export const QUIT = 2;     // 1: threads exit their loop
export const KV_HEADS = 3;
export const GROUP = 4;    // query heads per KV head (m)
export const DIM = 5;
export const VDIM = 6;
export const KIND = 7;     // 0 softmax, 1 relu
export const ALPHA = 8;
export const LENGTH = 9;   // positions per KV head (n)
export const SCALE = 10;   // float32 bits
export const BIAS = 11;    // float32 bits
export const QUERIES = 12; // address of [heads, dim] float32
export const MODE = 13;    // one of the MODE_* below
export const PLAN = 14;    // certified modes: address of the plan, PLAN_SLOTS int32 per query head; threshold mode: of the float64 thresholds (THRESHOLDS)
export const BUCKET_COUNT = 15; // certified modes: gap buckets per row (buckets.ts, ≤ BUCKETS)
export const HEADS_BASE = 16;
/** Dense rows (attendRange). */
export const MODE_DENSE = 0;
/** Sparse ReLU rows: the fused candidate sweep, then attendIds over the candidates. */
export const MODE_RELU = 1;
/** Certified softmax rows, round 1: bounds of the slice (fused sweep) and each head's gap histogram of them. */
export const MODE_BOUNDS = 2;
/** Certified softmax rows, later rounds: fold what the plan says (buckets of the merged histogram, or dense). */
export const MODE_FOLD = 3;
/**
 * Threshold and paper softmax rows: the candidate sweep (as MODE_RELU, offsets just below each
 * head's threshold), each candidate decided by its float32 dot and, near the threshold, its
 * float64 logit (threshold-rule.ts decidedLogit), attendIds over the kept ones.
 */
export const MODE_THRESHOLD = 4;
/**
 * Threshold mode: float64 words at PLAN: per query head h its threshold t (scaled logits) at 2h and
 * the float32 logits' certified margin at 2h + 1, then the scale.
 */
export function thresholdWords(heads: number): number { return 2 * heads + 1; }
// The plan of certified rows, per query head h at PLAN + 4·PLAN_SLOTS·h: what this round folds
// (P_NONE, P_BUCKETS: merged buckets [P_FROM, P_TO] of the row's histogram, P_DENSE: every key of
// the slice) and the row's top upper bound over all slices (float32 bits), which the merged buckets count from.
export const P_ACTION = 0, P_FROM = 1, P_TO = 2, P_TOP = 3;
export const PLAN_SLOTS = 4;
export const P_NONE = 0, P_BUCKETS = 1, P_DENSE = 2;
// Per KV head g at HEADS_BASE + HEAD_SLOTS·g: key block, value block, then (sparse mode) the
// quantized index's sweep inputs (hsr/quantized.ts SweepAddresses): queries, coef, codes, scales, slacks, codeNorms,
// and (certified modes) the group's float32 upper bounds and estimates, [m, b − a] for each slice [a, b)
// at float m·a of the buffer (so every slice writes its own part).
export const H_KEYS = 0, H_VALUES = 1, H_QUERIES16 = 2, H_COEF = 3, H_CODES = 4, H_SCALES = 5, H_SLACKS = 6, H_CODE_NORMS = 7;
export const H_UPPER = 8, H_CENTRE = 9;
export const HEAD_SLOTS = 10;
export const THREAD_SLOTS = 5;
export function threadBase(kvHeads: number, t: number): number { return HEADS_BASE + HEAD_SLOTS * kvHeads + THREAD_SLOTS * t; }
// Per thread t at threadBase(kvHeads, t): line start, line end, states address, scratch address, and
// (certified and threshold modes) its report: certWords(heads) int32 at T_CERT (see certTop and the
// ones after it; threshold mode writes only certTaken, the keys it kept per query head).
export const T_START = 0, T_END = 1, T_STATES = 2, T_SCRATCH = 3, T_CERT = 4;
export function controlSlots(kvHeads: number, threads: number): number { return threadBase(kvHeads, threads); }
/** Keys per block in the kernels' attendRange: scratch per thread is BLOCK · group floats. */
export const BLOCK = 64;
/**
 * Sparse mode: keys per candidate sweep call; scratch per thread is then SPARSE_CHUNK · (group + 1)
 * 32-bit words (candidate ids per head, the gathered dots) plus 4 counts.
 */
export const SPARSE_CHUNK = 16384;
export function scratchWords(group: number, sparse: boolean): number {
  return sparse ? Math.max(BLOCK * group, SPARSE_CHUNK * (group + 1) + 4) : BLOCK * group;
}

/**
 * A thread's certified report, int32 words from T_CERT: per query head h its slice's top upper bound
 * (float32 bits; −Infinity when its slice holds none of the head's keys), the keys it folded and
 * the attendIds calls that folded them, then h's gap histogram over its slice ([BUCKETS] counts at
 * certCounts, with 3·BUCKETS more words of gapHistogram scratch after the last head's).
 */
export function certTop(h: number): number { return 3 * h; }
export function certTaken(h: number): number { return 3 * h + 1; }
export function certCalls(h: number): number { return 3 * h + 2; }
export function certCounts(heads: number, h: number): number { return 3 * heads + BUCKETS * h; }
export function certWords(heads: number): number { return 3 * heads + BUCKETS * (heads + 3); }

/**
 * The status block: a separate SharedArrayBuffer of STATUS_INTS int32s through which a thread
 * whose slice threw reports it (slot number ≥ 1, then its message as UTF-8 bytes).
 */
export const STATUS_FAILED_SLOT = 0, STATUS_MESSAGE_BYTES = 1, STATUS_MESSAGE = 2;
export const STATUS_INTS = 2 + 256;
