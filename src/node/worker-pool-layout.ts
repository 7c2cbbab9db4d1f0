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
export const HEADS_BASE = 16;                      // then per KV head g: key block, value block addresses
export function threadBase(kvHeads: number, t: number): number { return HEADS_BASE + 2 * kvHeads + 4 * t; }
// Per thread t at threadBase(kvHeads, t): line start, line end, states address, scratch address.
export const T_START = 0, T_END = 1, T_STATES = 2, T_SCRATCH = 3;
export function controlSlots(kvHeads: number, threads: number): number { return threadBase(kvHeads, threads); }
/** Keys per block in the kernels' attendRange: scratch per thread is BLOCK · group floats. */
export const BLOCK = 64;

/**
 * The status block: a separate SharedArrayBuffer of STATUS_INTS int32s through which a thread
 * whose slice threw reports it (slot number ≥ 1, then its message as UTF-8 bytes).
 */
export const STATUS_FAILED_SLOT = 0, STATUS_MESSAGE_BYTES = 1, STATUS_MESSAGE = 2;
export const STATUS_INTS = 2 + 256;
