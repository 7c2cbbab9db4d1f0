import { availableParallelism } from 'node:os';
import { DecodePool as CoreDecodePool } from '../kernels/pool/decode-pool.js';
import type { PoolThread, ThreadHost } from '../kernels/pool/thread-host.js';
import { kernelBackendFromEnv } from './kernels-env.js';
import { spawnWorker } from './spawn-worker.js';

export type { DecodePoolOptions } from '../kernels/pool/decode-pool.js';

/** Node's DecodePool threads: worker_threads running worker-pool-thread.ts (the shared loop). */
const nodeThreads: ThreadHost = {
  parallelism: () => availableParallelism(),
  defaultBackend: () => kernelBackendFromEnv(),
  unavailable: () => null,
  spawn(data): PoolThread & { worker: ReturnType<typeof spawnWorker> } {
    const worker = spawnWorker(import.meta.url, './worker-pool-thread.js', data);
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('online', () => resolve());
      worker.once('error', reject);
    });
    // An idle pool does not keep the process alive.
    void ready.then(() => worker.unref(), () => {});
    return {
      worker,
      ready,
      onLost(report) {
        worker.on('error', (e) => report(`an error: ${e.message}`));
        worker.on('exit', (code) => report(`its exit (code ${code})`));
      },
      terminate: async () => { await worker.terminate(); },
    };
  },
};

/** The package root's DecodePool (kernels/pool/decode-pool.ts) with its threads on worker_threads. */
export class DecodePool extends CoreDecodePool {
  protected static override threadHost: ThreadHost = nodeThreads;
}
