/**
 * The control block the decode pool (worker-pool.ts) and its threads (worker-pool-thread.ts)
 * share, as int32 slots in the shared WebAssembly memory. One attend = one task generation:
 * the main thread writes the parameters, bumps SEQ and notifies; each thread works on its slice of
 * the "line" of kvHeads × length positions (KV head g's positions are line g·n .. g·n + n) and
 * adds 1 to DONE. Addresses are byte offsets into the same memory.
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
export const MODE = 13;    // 0: dense rows (attendRange); 1: sparse ReLU rows (fused candidate sweep + attendIds)
export const HEADS_BASE = 16;
// Per KV head g at HEADS_BASE + HEAD_SLOTS·g: key block, value block, then (sparse mode) the
// quantized index's sweep inputs (hsr/quantized.ts SweepAddresses): queries, coef, codes, scales, slacks, codeNorms.
export const H_KEYS = 0, H_VALUES = 1, H_QUERIES16 = 2, H_COEF = 3, H_CODES = 4, H_SCALES = 5, H_SLACKS = 6, H_CODE_NORMS = 7;
export const HEAD_SLOTS = 8;
export function threadBase(kvHeads: number, t: number): number { return HEADS_BASE + HEAD_SLOTS * kvHeads + 4 * t; }
// Per thread t at threadBase(kvHeads, t): line start, line end, states address, scratch address.
export const T_START = 0, T_END = 1, T_STATES = 2, T_SCRATCH = 3;
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
 * The status block: a separate SharedArrayBuffer of STATUS_INTS int32s through which a thread
 * whose slice threw reports it (slot number ≥ 1, then its message as UTF-8 bytes).
 */
export const STATUS_FAILED_SLOT = 0, STATUS_MESSAGE_BYTES = 1, STATUS_MESSAGE = 2;
export const STATUS_INTS = 2 + 256;
