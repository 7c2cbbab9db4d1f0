import { HsrError } from '../../errors.js';
import { DenseDecoder, type DenseDecoderOptions } from '../dense-decode.js';
import { createKernels, KERNEL_BACKENDS, type KernelBackend } from '../index.js';
import { finishState, lseMerge } from '../state.js';
import { STATE_EXTRA } from '../types.js';
import { relaxedSimdUsable } from '../wasm/relaxed.js';
import { simdSupported, type WasmMemory } from '../wasm/wasm-api.js';
import { createKernelMemory, createWasmKernels, type KernelExports } from '../wasm/wasm-kernels.js';
import { assertFinite, assertVector, describe } from '../../tensor/matrix.js';
import { QuantizedIndex } from '../../hsr/quantized.js';
import { DENSE_BELOW } from '../../attention/row-plan.js';
import { assertValueSumFits, maxAbs, reluKernelWeightMax } from '../../attention/value-range.js';
import { maxRowNorm } from '../../attention/kernel-rows.js';
import * as L from './layout.js';
import { runSlice } from './slice.js';
import { PoolCertified } from './certified.js';
import { PoolThreshold, type PoolThresholdSelection } from './threshold.js';
import type { PoolThread, ThreadHost } from './thread-host.js';
import { webThreads } from './web-threads.js';

// The core compiles without DOM or Node types; both have these.
const { performance, TextDecoder } = globalThis as unknown as { performance: { now(): number }; TextDecoder: new () => { decode(b: Uint8Array): string } };

export interface DecodePoolOptions extends Omit<DenseDecoderOptions, 'kernels'> {
  /** Threads in all, the calling thread included (default: the logical CPUs: os.availableParallelism(), navigator.hardwareConcurrency). */
  threads?: number;
  /**
   * Kernel backend (default: HSR_KERNELS from the environment under hsr-attention/node, else 'auto').
   * 'js' runs on one thread; the WebAssembly ones pick their build as createKernels does.
   */
  backend?: KernelBackend;
  /**
   * Fewest positions (summed over KV heads) worth a thread: shorter caches run on the calling
   * thread alone, since waking a thread costs tens of microseconds. Default 8192.
   */
  minPositionsPerThread?: number;
  /**
   * Longest an attend waits for the other threads before it gives up with HsrError WORKER_FAILED
   * (a thread that died mid-task never answers). Default 10 000 ms.
   */
  timeoutMs?: number;
  /**
   * Sparse rows. `true` (weighting.kind 'relu' only): every KV head keeps a quantized HSR index, and
   * each thread sweeps its key range for the keys whose certified upper bound reaches the ReLU
   * threshold (the fused candidate sweep) and folds only those, exactly as dense folds them (the
   * rest have weight 0). `{ epsilon }` (softmax only, 0 < ε < 1): certified rows — each thread
   * bounds its key range, one ε budget is shared by all ranges (certified.ts), and every
   * row's total-variation error is ≤ its `errorBound` ≤ ε. Needs WebAssembly SIMD, at most 4 query
   * heads per KV head and headDim ≤ 1024. `{ threshold }` (finite) and `'paper'` (softmax only): the
   * rows KVCache's sparsity of the same name computes — the keys whose scaled logit reaches the
   * threshold (the paper's μ + σ·√(0.4·ln n) over the whole cache), each key decided by its float64
   * logit, so the same keys as KVCache; each thread sweeps its key range for them (threshold.ts).
   * Default false (dense).
   */
  sparse?: boolean | { epsilon: number } | { threshold: number } | 'paper';
}

/**
 * Multi-threaded dense decode: a DenseDecoder whose K/V blocks live in a shared WebAssembly
 * memory, read by `threads − 1` worker threads plus the calling thread. Each `attend` splits the
 * kvHeads × length positions into equal contiguous slices (over heads and, within a head, over
 * key ranges: split-KV), every thread folds its slice into its own online states, and the calling
 * thread merges them per query head by log-sum-exp. Synchronisation is Atomics.wait/notify on a
 * control block in the same memory (no message passing per token), so `attend` stays synchronous.
 *
 * One pool for Node and browsers: only spawning threads differs (ThreadHost). The package root's
 * DecodePool spawns Web Workers; hsr-attention/node's (a subclass) spawns worker_threads. Both run
 * the same thread code (thread.ts) and slices (slice.ts, certified-slice.ts).
 *
 * Falls back to one thread (plain DenseDecoder on the chosen backend) when threads = 1,
 * SharedArrayBuffer or WebAssembly SIMD is missing, the backend is 'js', or (in browsers) the page
 * is not cross-origin isolated or the caller is a page's main thread; `fallback` then says why.
 *
 * Failures are bounded: a thread that throws reports through a shared status block (the calling
 * thread is blocked in Atomics.wait, so it cannot hear worker events); a thread that exits
 * between calls is noticed through its 'exit' event; one that dies mid-task is given up on after
 * `timeoutMs`. Each of these fails the pool for good (HsrError WORKER_FAILED); after `close()`
 * every call throws HsrError CLOSED.
 */
export class DecodePool {
  /** How this class starts threads; hsr-attention/node's subclass swaps in worker_threads. */
  protected static threadHost: ThreadHost = webThreads;
  readonly decoder: DenseDecoder;
  /** Threads in use, the calling thread included. */
  readonly threads: number;
  /** Why the pool runs on fewer threads than asked for (one), or null when it runs on all of them. */
  readonly fallback: string | null;
  private readonly workers: PoolThread[];
  private readonly shared: { x: KernelExports; memory: WasmMemory; control: number; queries: number; states: number[]; scratch: number[];
    status: Int32Array; certs: number[]; plan: number } | null;
  /** Certified softmax rows (sparse: { epsilon }); else null. */
  private readonly certified: PoolCertified | null;
  /** Threshold and paper softmax rows (sparse: { threshold } or 'paper'); else null. */
  private readonly thresholdRows: PoolThreshold | null;
  /** Sparse mode: one quantized index per KV head over the decoder's keys (no copy of them), in the pool's memory; else null. */
  private readonly indexes: QuantizedIndex[] | null;
  private readonly offsets: number[];
  /** Offsets of the certified rows' bound sweep (unused by it). */
  private readonly zeros: number[];
  private readonly minPerThread: number;
  private readonly timeoutMs: number;
  /** Set once: the error every later call rethrows. */
  private failure: HsrError | null = null;
  /** ≥ |v| of every value appended and ≥ ‖k‖ of every key: attend refuses what float32 cannot sum (attention/value-range.ts). */
  private valueAbsMax = 0;
  private keyNormMax = 0;

  protected constructor(decoder: DenseDecoder, threads: number, fallback: string | null, workers: PoolThread[], shared: DecodePool['shared'],
    minPerThread: number, timeoutMs: number, indexes: QuantizedIndex[] | null = null, certified: PoolCertified | null = null,
    thresholdRows: PoolThreshold | null = null) {
    this.decoder = decoder; this.threads = threads; this.fallback = fallback; this.workers = workers; this.shared = shared; this.indexes = indexes;
    this.certified = certified; this.thresholdRows = thresholdRows;
    // ReLU weight > 0 ⟺ ⟨q,k⟩·scale > bias; the offset is lowered by a few ulps so that rounding of
    // bias/scale never loses a key (row-attention.ts does the same).
    const w = decoder.weighting, off = w.bias / w.scale;
    this.offsets = new Array<number>(decoder.group).fill(off - Math.abs(off) * 1e-15);
    this.zeros = new Array<number>(decoder.group).fill(0);
    this.minPerThread = minPerThread; this.timeoutMs = timeoutMs;
    workers.forEach((w, i) => {
      w.onLost((why) => this.record(new HsrError('WORKER_FAILED', `DecodePool: expected thread ${i + 1} to be running, got ${why}`)));
    });
  }

  static async create(options: DecodePoolOptions): Promise<DecodePool> {
    const host = this.threadHost;
    const threads = options.threads ?? host.parallelism();
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected threads to be an integer ≥ 1, got ${threads}`);
    }
    const minPer = options.minPositionsPerThread ?? 8192;
    if (!Number.isSafeInteger(minPer) || minPer < 0) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected minPositionsPerThread to be an integer ≥ 0, got ${minPer}`);
    }
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected timeoutMs to be a finite number > 0, got ${describe(timeoutMs)}`);
    }
    const backend = options.backend ?? host.defaultBackend();
    if (!KERNEL_BACKENDS.includes(backend)) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected backend ${KERNEL_BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${describe(backend)}`);
    }
    const sparseOption = options.sparse ?? false;
    const one = typeof sparseOption === 'object' && sparseOption !== null && Object.keys(sparseOption).length === 1;
    const epsilon = one ? (sparseOption as { epsilon?: unknown }).epsilon : undefined;
    const level = one ? (sparseOption as { threshold?: unknown }).threshold : undefined;
    const selection: PoolThresholdSelection | null = sparseOption === 'paper' ? 'paper'
      : typeof level === 'number' && Number.isFinite(level) ? { threshold: level } : null;
    if (typeof sparseOption !== 'boolean' && selection === null && !(typeof epsilon === 'number' && epsilon > 0 && epsilon < 1)) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected sparse to be a boolean, { epsilon: 0 < ε < 1 }, { threshold: finite } or 'paper', got ${describe(sparseOption)}`);
    }
    const sparse = sparseOption !== false;
    // The platform's reason first: a page that is not isolated is why SharedArrayBuffer is missing.
    const unshared = host.unavailable() ?? (typeof SharedArrayBuffer !== 'function' ? 'SharedArrayBuffer is not available'
      : !simdSupported() ? 'WebAssembly SIMD does not validate here'
        : backend === 'js' ? 'the \'js\' kernel backend was asked for' : null);
    const canShare = unshared === null;
    const fallback = threads > 1 && !canShare ? `one thread: ${unshared}` : null;
    if (sparse) {
      const w = options.weighting, group = options.heads / options.kvHeads;
      if (sparseOption === true && w?.kind !== 'relu') {
        throw new HsrError('BAD_OPTION', `DecodePool: expected sparse: true with weighting.kind 'relu' (softmax rows take sparse: { epsilon }, { threshold } or 'paper'), got ${describe(w?.kind)}`);
      }
      if ((epsilon !== undefined || selection !== null) && w?.kind !== 'softmax') {
        throw new HsrError('BAD_OPTION', `DecodePool: expected sparse: ${describe(sparseOption)} with weighting.kind 'softmax' (ReLU rows take sparse: true), got ${describe(w?.kind)}`);
      }
      if (!simdSupported() || backend === 'js') throw new HsrError('UNSUPPORTED', 'DecodePool: expected WebAssembly SIMD kernels for sparse rows, got the js backend');
      if (!(group <= 4) || !(options.headDim <= 1024)) {
        throw new HsrError('BAD_OPTION', `DecodePool: expected sparse rows with ≤ 4 query heads per KV head and headDim ≤ 1024, got ${group} and ${options.headDim}`);
      }
    }
    if (!sparse && (threads === 1 || !canShare)) {
      const decoder = new DenseDecoder({ ...options, kernels: createKernels({ backend }) });
      return new this(decoder, 1, fallback, [], null, minPer, timeoutMs);
    }
    const T = canShare ? threads : 1;
    const memory = createKernelMemory(T > 1);
    // The relaxed-SIMD build (FMA) where usable, as createKernels would pick, unless SIMD 1.0 is asked for.
    const relaxed = backend !== 'wasm-simd' && relaxedSimdUsable();
    const kernels = createWasmKernels({ memory, shared: T > 1, relaxed });
    const decoder = new DenseDecoder({ ...options, kernels });
    const { heads, kvHeads, group, valueDim, headDim } = decoder;
    // The indexes read the decoder's key rows (same memory) for exact checks: no float32 copy of their own.
    const indexes = sparse ? Array.from({ length: kvHeads }, (_, g) => new QuantizedIndex(new Float32Array(0), 0, headDim, kernels, () => decoder.keys(g))) : null;
    for (const index of indexes ?? []) index.reserve(options.initialCapacity ?? 0);
    const heap = kernels.heap;
    const control = heap.alloc(4 * Math.max(64, L.controlSlots(kvHeads, T)));
    const queries = heap.alloc(4 * heads * headDim);
    const states = Array.from({ length: T }, () => heap.alloc(4 * heads * (valueDim + STATE_EXTRA)));
    const scratch = Array.from({ length: T }, () => heap.alloc(4 * L.scratchWords(group, sparse)));
    const certified = epsilon === undefined ? null
      : new PoolCertified(kernels, heap, kvHeads, group, headDim, valueDim, decoder.weighting.scale, epsilon as number);
    const thresholdRows = selection === null ? null : new PoolThreshold(kernels, kvHeads, group, headDim, valueDim, decoder.weighting.scale, selection);
    const certs = certified === null && thresholdRows === null ? [] : Array.from({ length: T }, () => heap.alloc(4 * L.certWords(heads)));
    const plan = certified !== null ? heap.alloc(4 * L.PLAN_SLOTS * heads) : thresholdRows !== null ? heap.alloc(8 * L.thresholdWords(heads)) : 0;
    // Shared only with threads: sparse rows on one thread also run here, where SharedArrayBuffer may be missing.
    const status = new Int32Array(T > 1 ? new SharedArrayBuffer(4 * L.STATUS_INTS) : new ArrayBuffer(4 * L.STATUS_INTS));
    const workers = Array.from({ length: T - 1 }, (_, i) => host.spawn({ memory, control, slot: i + 1, status, relaxed }));
    // Wait until every thread is up (its kernels instantiated) so the first attend is not slowed by startup.
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new HsrError('WORKER_FAILED', `DecodePool: expected ${T - 1} threads to start, got ${(e as Error)?.message ?? String(e)}`);
    }
    return new this(decoder, T, fallback, workers, { x: kernels.exports, memory, control, queries, states, scratch, status, certs, plan },
      minPer, timeoutMs, indexes, certified, thresholdRows);
  }

  get length(): number { return this.decoder.length; }

  /** Appends t tokens: keys `[t, kvHeads, headDim]`, values `[t, kvHeads, valueDim]`, all finite. */
  append(keys: Float32Array, values: Float32Array): void {
    this.usable();
    const { kvHeads, headDim: d, valueDim: dv } = this.decoder;
    for (const [name, x] of [['keys', keys], ['values', values]] as const) {
      if (!(x instanceof Float32Array)) throw new HsrError('BAD_DTYPE', `DecodePool.append ${name}: expected a Float32Array, got ${describe(x)}`);
    }
    const t = keys.length / (kvHeads * d);
    if (!Number.isInteger(t) || values.length !== t * kvHeads * dv) {
      throw new HsrError('SHAPE_MISMATCH',
        `DecodePool.append: expected keys [t, ${kvHeads}, ${d}] and values [t, ${kvHeads}, ${dv}], got ${keys.length} and ${values.length} values`);
    }
    assertFinite(keys, 'DecodePool.append keys');
    assertFinite(values, 'DecodePool.append values');
    this.decoder.append(keys, values);
    this.valueAbsMax = maxAbs(values, this.valueAbsMax);
    this.keyNormMax = maxRowNorm(keys, d, 0, t * kvHeads, this.keyNormMax);
    this.certified?.noteKeys(keys, d);
    this.thresholdRows?.noteKeys(keys, d);
    if (this.indexes !== null) {
      for (let i = 0; i < t; i++) {
        for (let g = 0; g < kvHeads; g++) this.indexes[g]!.insert(keys.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d));
      }
    }
  }

  /** Dense attention of `queries` ([heads, headDim], unscaled, finite) into `out` ([heads, valueDim]). */
  attend(queries: Float32Array, out: Float32Array): void {
    this.usable();
    const sh = this.shared;
    const dec = this.decoder;
    assertVector(queries, dec.heads * dec.headDim, 'DecodePool.attend queries');
    if (!(out instanceof Float32Array)) throw new HsrError('BAD_DTYPE', `DecodePool.attend out: expected a Float32Array, got ${describe(out)}`);
    if (out.length !== dec.heads * dec.valueDim) {
      throw new HsrError('DIM_MISMATCH', `DecodePool.attend out: expected length ${dec.heads * dec.valueDim}, got ${out.length}`);
    }
    const weightMax = dec.weighting.kind === 'relu' ? reluKernelWeightMax(dec.weighting, maxRowNorm(queries, dec.headDim, 0, dec.heads), this.keyNormMax) : 1;
    assertValueSumFits(dec.length, this.valueAbsMax, 'DecodePool.attend', weightMax);
    const short = dec.kvHeads * dec.length < 2 * this.minPerThread;
    const cert = this.certified;
    if (cert !== null && dec.length <= DENSE_BELOW) {
      // Short certified rows go dense (exact), as CertifiedRule's: bounds would not repay their cost.
      cert.errorBound.fill(0); cert.keysUsed.fill(dec.length);
      dec.attend(queries, out);
      return;
    }
    if (sh === null || (short && this.indexes === null)) { dec.attend(queries, out); return; }
    const { kvHeads, group, headDim, valueDim, heads } = dec;
    // Short sparse caches run on the calling thread alone (its slice is the whole line).
    const T = short ? 1 : this.threads;
    const w = dec.weighting;
    // The groups' quantised queries and bounds' coefficients, prepared in the pool's memory first:
    // preparing may allocate, which may grow the memory and detach views taken before.
    // Certified pools in their flat back-off run this step's rows dense (certified.ts skipBounds).
    const flat = cert !== null && cert.skipBounds(dec.length);
    const thr = this.thresholdRows;
    // Threshold rows: each head's threshold (float64, in the pool's memory) and its sweep offset.
    const thrOffsets = thr === null ? null : thr.prepare(queries, dec.length, headDim, new Float64Array(sh.memory.buffer, sh.plan, L.thresholdWords(heads)));
    const sweeps = flat ? null : this.indexes?.map((index, g) => cert !== null ? index.sweepAddresses(this.groupQueries(queries, g), this.zeros, w.scale)
      : index.sweepAddresses(this.groupQueries(queries, g), thrOffsets?.[g] ?? this.offsets)) ?? null;
    cert?.reserve(dec.length);
    const ctrl = new Int32Array(sh.memory.buffer, sh.control, L.controlSlots(kvHeads, T));
    new Float32Array(sh.memory.buffer, sh.queries, heads * headDim).set(queries);
    ctrl[L.KV_HEADS] = kvHeads; ctrl[L.GROUP] = group; ctrl[L.DIM] = headDim; ctrl[L.VDIM] = valueDim;
    ctrl[L.KIND] = w.kind === 'softmax' ? 0 : 1; ctrl[L.ALPHA] = w.alpha; ctrl[L.LENGTH] = dec.length;
    ctrl[L.SCALE] = f32Bits(w.scale); ctrl[L.BIAS] = f32Bits(w.bias); ctrl[L.QUERIES] = sh.queries;
    ctrl[L.MODE] = sweeps === null ? L.MODE_DENSE : thr !== null ? L.MODE_THRESHOLD : L.MODE_RELU;
    ctrl[L.PLAN] = sh.plan;
    for (let g = 0; g < kvHeads; g++) {
      const H = L.HEADS_BASE + L.HEAD_SLOTS * g;
      if (sweeps !== null) {
        const a = sweeps[g]!;
        ctrl[H + L.H_QUERIES16] = a.queries; ctrl[H + L.H_COEF] = a.coef; ctrl[H + L.H_CODES] = a.codes;
        ctrl[H + L.H_SCALES] = a.scales; ctrl[H + L.H_SLACKS] = a.slacks; ctrl[H + L.H_CODE_NORMS] = a.codeNorms;
      }
      ctrl[H + L.H_KEYS] = dec.keys(g).byteOffset;
      ctrl[H + L.H_VALUES] = dec.values(g).byteOffset;
    }
    const line = kvHeads * dec.length;
    for (let t = 0; t < T; t++) {
      const b = L.threadBase(kvHeads, t);
      ctrl[b + L.T_START] = Math.floor((line * t) / T);
      ctrl[b + L.T_END] = Math.floor((line * (t + 1)) / T);
      ctrl[b + L.T_STATES] = sh.states[t]!;
      ctrl[b + L.T_SCRATCH] = sh.scratch[t]!;
      ctrl[b + L.T_CERT] = sh.certs[t] ?? 0;
    }
    if (cert !== null && !flat) {
      cert.prepare(ctrl, dec.length);
      ctrl[L.PLAN] = sh.plan;
      cert.run(ctrl, sh.memory, queries, dec.length, T, sh.states, sh.certs, sh.plan, (mode) => { ctrl[L.MODE] = mode; this.round(ctrl, T); }, out);
      return;
    }
    this.round(ctrl, T);
    if (thr !== null) {
      thr.finish(sh.memory.buffer, sh.states.slice(0, T), sh.certs.slice(0, T), queries, (g) => dec.keys(g), (g) => dec.values(g), dec.length, headDim, out);
      return;
    }
    // Merge every thread's states into thread 0's, then normalise.
    const stride = valueDim + STATE_EXTRA;
    const buf = sh.memory.buffer;
    const s0 = new Float32Array(buf, sh.states[0]!, heads * stride);
    for (let t = 1; t < T; t++) {
      const st = new Float32Array(buf, sh.states[t]!, heads * stride);
      for (let h = 0; h < heads; h++) lseMerge(s0, h * stride, st, h * stride, valueDim);
    }
    for (let h = 0; h < heads; h++) finishState(s0, h * stride, valueDim, out, h * valueDim);
  }

  /**
   * Certified rows (sparse: { epsilon }) of the last attend, per query head: the bound on the
   * total-variation distance of its weights from the exact softmax (0 for rows computed densely)
   * and the keys it folded; the rounds and time per phase. null for other pools.
   */
  get lastCertified(): { errorBound: Float64Array; keysUsed: Float64Array; work: PoolCertified['lastWork'] } | null {
    const c = this.certified;
    return c === null ? null : { errorBound: c.errorBound, keysUsed: c.keysUsed, work: c.lastWork };
  }

  /** Threshold and paper rows (sparse: { threshold } or 'paper'): the keys each query head's row used in the last attend; null for other pools. */
  get lastKeysUsed(): Float64Array | null {
    return this.thresholdRows?.keysUsed ?? null;
  }

  /** Runs one task generation: every thread its slice (the calling thread slice 0), then waits for all. */
  private round(ctrl: Int32Array, T: number): void {
    const sh = this.shared!;
    if (T === 1) { runSlice(sh.x, sh.memory, ctrl, 0); return; }
    Atomics.store(ctrl, L.DONE, 0);
    Atomics.add(ctrl, L.SEQ, 1);
    Atomics.notify(ctrl, L.SEQ);
    runSlice(sh.x, sh.memory, ctrl, 0);
    const deadline = performance.now() + this.timeoutMs;
    for (let done = Atomics.load(ctrl, L.DONE); done < T - 1; done = Atomics.load(ctrl, L.DONE)) {
      const left = deadline - performance.now();
      if (left <= 0) {
        this.fail(new HsrError('WORKER_FAILED', `DecodePool.attend: expected ${T - 1} threads to finish within timeoutMs = ${this.timeoutMs} ms, got ${done}`));
      }
      Atomics.wait(ctrl, L.DONE, done, left);
    }
    this.throwIfThreadFailed(sh.status);
  }

  /** The query rows of KV group g as views (the index's sweep takes one vector per head). */
  private groupQueries(queries: Float32Array, g: number): Float32Array[] {
    const { group, headDim: d } = this.decoder;
    return Array.from({ length: group }, (_, j) => queries.subarray((g * group + j) * d, (g * group + j + 1) * d));
  }

  /** Stops the threads; afterwards every call throws HsrError CLOSED. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.failure?.code === 'CLOSED') return;
    this.failure = new HsrError('CLOSED', 'DecodePool: expected an open pool, got one that was closed');
    const sh = this.shared;
    if (sh !== null) {
      const ctrl = new Int32Array(sh.memory.buffer, sh.control, 4);
      Atomics.store(ctrl, L.QUIT, 1);
      Atomics.add(ctrl, L.SEQ, 1);
      Atomics.notify(ctrl, L.SEQ);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private usable(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** A thread that threw wrote its slot and message into the status block (thread.ts). */
  private throwIfThreadFailed(status: Int32Array): void {
    const slot = Atomics.load(status, L.STATUS_FAILED_SLOT);
    if (slot <= 0) return; // -1: a thread is still writing its message; it reports DONE after
    const bytes = new Uint8Array(status.buffer, 4 * L.STATUS_MESSAGE, Atomics.load(status, L.STATUS_MESSAGE_BYTES));
    this.fail(new HsrError('WORKER_FAILED', `DecodePool.attend: expected thread ${slot} to finish its slice, got an error: ${new TextDecoder().decode(bytes.slice())}`));
  }

  /** Fails the pool for good (its threads may be stuck or gone); the first failure is the one reported. */
  private record(error: HsrError): void {
    if (this.failure !== null) return;
    this.failure = error;
    for (const w of this.workers) void w.terminate();
  }

  private fail(error: HsrError): never {
    this.record(error);
    throw this.failure!;
  }
}

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
function f32Bits(x: number): number { f32[0] = x; return i32[0]!; }
