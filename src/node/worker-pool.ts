import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { HsrError } from '../errors.js';
import { DenseDecoder, type DenseDecoderOptions } from '../kernels/dense-decode.js';
import { createKernels } from '../kernels/index.js';
import { finishState, mergeState } from '../kernels/state.js';
import { STATE_EXTRA } from '../kernels/types.js';
import { simdSupported, type WasmMemory } from '../kernels/wasm/wasm-api.js';
import { createKernelMemory, createWasmKernels, type KernelExports } from '../kernels/wasm/wasm-kernels.js';
import { kernelBackendFromEnv } from './kernels-env.js';
import { spawnWorker } from './spawn-worker.js';
import * as L from './worker-pool-layout.js';
import { runSlice } from './worker-pool-slice.js';

export interface DecodePoolOptions extends Omit<DenseDecoderOptions, 'kernels'> {
  /** Threads in all, the calling thread included (default: os.availableParallelism()). */
  threads?: number;
  /**
   * Fewest positions (summed over KV heads) worth a thread: shorter caches run on the calling
   * thread alone, since waking a thread costs tens of microseconds. Default 8192.
   */
  minPositionsPerThread?: number;
}

/**
 * Multi-threaded dense decode: a DenseDecoder whose K/V blocks live in a shared WebAssembly
 * memory, read by `threads − 1` worker threads plus the calling thread. Each `attend` splits the
 * kvHeads × length positions into equal contiguous slices (over heads and, within a head, over
 * key ranges: split-KV), every thread folds its slice into its own online states, and the calling
 * thread merges them per query head by log-sum-exp. Synchronisation is Atomics.wait/notify on a
 * control block in the same memory (no message passing per token), so `attend` stays synchronous.
 *
 * Falls back to one thread (plain DenseDecoder on the chosen backend) when threads = 1,
 * SharedArrayBuffer or WebAssembly SIMD is missing, or HSR_KERNELS=js.
 */
export class DecodePool {
  readonly decoder: DenseDecoder;
  readonly threads: number;
  private readonly workers: Worker[];
  private readonly shared: { x: KernelExports; memory: WasmMemory; control: number; queries: number; states: number[]; scratch: number[] } | null;

  private readonly minPerThread: number;

  private constructor(decoder: DenseDecoder, threads: number, workers: Worker[], shared: DecodePool['shared'], minPerThread: number) {
    this.decoder = decoder; this.threads = threads; this.workers = workers; this.shared = shared; this.minPerThread = minPerThread;
  }

  static async create(options: DecodePoolOptions): Promise<DecodePool> {
    const threads = options.threads ?? availableParallelism();
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected threads to be an integer ≥ 1, got ${threads}`);
    }
    const minPer = options.minPositionsPerThread ?? 8192;
    if (!Number.isSafeInteger(minPer) || minPer < 0) {
      throw new HsrError('BAD_OPTION', `DecodePool: expected minPositionsPerThread to be an integer ≥ 0, got ${minPer}`);
    }
    const backend = kernelBackendFromEnv();
    const canShare = typeof SharedArrayBuffer === 'function' && simdSupported() && backend !== 'js';
    if (threads === 1 || !canShare) {
      const decoder = new DenseDecoder({ ...options, kernels: createKernels({ backend }) });
      return new DecodePool(decoder, 1, [], null, minPer);
    }
    const memory = createKernelMemory(true);
    const kernels = createWasmKernels({ memory, shared: true });
    const decoder = new DenseDecoder({ ...options, kernels });
    const { heads, kvHeads, group, valueDim } = decoder;
    const heap = kernels.heap;
    const control = heap.alloc(4 * Math.max(64, L.controlSlots(kvHeads, threads)));
    const queries = heap.alloc(4 * heads * decoder.headDim);
    const states = Array.from({ length: threads }, () => heap.alloc(4 * heads * (valueDim + STATE_EXTRA)));
    const scratch = Array.from({ length: threads }, () => heap.alloc(4 * L.BLOCK * group));
    const workers = Array.from({ length: threads - 1 }, (_, i) => spawnWorker(import.meta.url, './worker-pool-thread.js', { memory, control, slot: i + 1 }));
    // Wait until every thread is up (its module instantiated) so the first attend is not slowed by startup.
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('online', () => resolve());
      w.once('error', reject);
    })));
    for (const w of workers) w.unref();
    return new DecodePool(decoder, threads, workers, { x: kernels.exports, memory, control, queries, states, scratch }, minPer);
  }

  get length(): number { return this.decoder.length; }

  append(keys: Float32Array, values: Float32Array): void { this.decoder.append(keys, values); }

  /** Dense attention of `queries` ([heads, headDim], unscaled) into `out` ([heads, valueDim]). */
  attend(queries: Float32Array, out: Float32Array): void {
    const sh = this.shared;
    const dec = this.decoder;
    if (sh === null || dec.kvHeads * dec.length < 2 * this.minPerThread) { dec.attend(queries, out); return; }
    const { kvHeads, group, headDim, valueDim, heads } = dec;
    const T = this.threads;
    const ctrl = new Int32Array(sh.memory.buffer, sh.control, L.controlSlots(kvHeads, T));
    new Float32Array(sh.memory.buffer, sh.queries, heads * headDim).set(queries);
    const w = dec.weighting;
    ctrl[L.KV_HEADS] = kvHeads; ctrl[L.GROUP] = group; ctrl[L.DIM] = headDim; ctrl[L.VDIM] = valueDim;
    ctrl[L.KIND] = w.kind === 'softmax' ? 0 : 1; ctrl[L.ALPHA] = w.alpha; ctrl[L.LENGTH] = dec.length;
    ctrl[L.SCALE] = f32Bits(w.scale); ctrl[L.BIAS] = f32Bits(w.bias); ctrl[L.QUERIES] = sh.queries;
    for (let g = 0; g < kvHeads; g++) {
      ctrl[L.HEADS_BASE + 2 * g] = dec.keys(g).byteOffset;
      ctrl[L.HEADS_BASE + 2 * g + 1] = dec.values(g).byteOffset;
    }
    const line = kvHeads * dec.length;
    for (let t = 0; t < T; t++) {
      const b = L.threadBase(kvHeads, t);
      ctrl[b + L.T_START] = Math.floor((line * t) / T);
      ctrl[b + L.T_END] = Math.floor((line * (t + 1)) / T);
      ctrl[b + L.T_STATES] = sh.states[t]!;
      ctrl[b + L.T_SCRATCH] = sh.scratch[t]!;
    }
    Atomics.store(ctrl, L.DONE, 0);
    Atomics.add(ctrl, L.SEQ, 1);
    Atomics.notify(ctrl, L.SEQ);
    runSlice(sh.x, sh.memory, ctrl, 0);
    for (let done = Atomics.load(ctrl, L.DONE); done < T - 1; done = Atomics.load(ctrl, L.DONE)) {
      Atomics.wait(ctrl, L.DONE, done);
    }
    // Merge every thread's states into thread 0's, then normalise.
    const stride = valueDim + STATE_EXTRA;
    const buf = sh.memory.buffer;
    const s0 = new Float32Array(buf, sh.states[0]!, heads * stride);
    for (let t = 1; t < T; t++) {
      const st = new Float32Array(buf, sh.states[t]!, heads * stride);
      for (let h = 0; h < heads; h++) mergeState(s0, h * stride, st, h * stride, valueDim);
    }
    for (let h = 0; h < heads; h++) finishState(s0, h * stride, valueDim, out, h * valueDim);
  }

  /** Stops the threads (the pool must not be used afterwards). */
  async close(): Promise<void> {
    const sh = this.shared;
    if (sh !== null) {
      const ctrl = new Int32Array(sh.memory.buffer, sh.control, 4);
      Atomics.store(ctrl, L.QUIT, 1);
      Atomics.add(ctrl, L.SEQ, 1);
      Atomics.notify(ctrl, L.SEQ);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
function f32Bits(x: number): number { f32[0] = x; return i32[0]!; }
