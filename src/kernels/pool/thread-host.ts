import type { KernelBackend } from '../index.js';
import type { PoolThreadData } from './thread.js';

/** One started pool thread, whatever the platform. */
export interface PoolThread {
  /** Resolves once the thread has instantiated its kernels; rejects if it failed to start. */
  readonly ready: Promise<void>;
  /** `report` is called (at most once per cause) when the thread errs or exits on its own. */
  onLost(report: (why: string) => void): void;
  terminate(): Promise<void>;
}

/**
 * What differs between platforms for DecodePool: how threads are spawned and what the platform
 * offers. Node's (node/worker-pool.ts) uses worker_threads; browsers' (web-threads.ts) Web Workers.
 */
export interface ThreadHost {
  /** Default thread count (logical CPUs). */
  parallelism(): number;
  /** Kernel backend when the options name none. */
  defaultBackend(): KernelBackend;
  /** Why threads cannot run here (beyond SharedArrayBuffer and WebAssembly SIMD, checked by the pool), or null. */
  unavailable(): string | null;
  spawn(data: PoolThreadData): PoolThread;
}
