import type { PoolThread, ThreadHost } from './thread-host.js';

// The core compiles without DOM types: the few Web Worker members used here. URL stays the global
// name (not a cast) so bundlers see new URL('…', import.meta.url) and emit the worker's file.
declare const URL: new (url: string, base: string) => Url;
interface WebWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: 'message' | 'error' | 'messageerror', listener: (e: { data?: unknown; message?: string }) => void): void;
}
interface Url { readonly href: string }
type WorkerConstructor = new (url: Url, options: { type: 'module'; name?: string }) => WebWorker;
const scope = globalThis as unknown as { Worker?: WorkerConstructor; crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };

/**
 * Browsers' DecodePool threads: module Web Workers running web-thread.ts. They need a cross-origin
 * isolated page (COOP: same-origin and COEP: require-corp, else there is no SharedArrayBuffer), and
 * the pool's `attend` blocks in Atomics.wait, which a page's main thread may not do: create the
 * pool in a Web Worker. Elsewhere (Node without hsr-attention/node, Deno without Worker) the pool
 * runs on one thread and says why.
 */
export const webThreads: ThreadHost = {
  parallelism: () => scope.navigator?.hardwareConcurrency ?? 1,
  defaultBackend: () => 'auto',
  unavailable() {
    if (typeof scope.Worker !== 'function') return 'Web Workers are not available here';
    if (scope.crossOriginIsolated !== true) {
      return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so it has no SharedArrayBuffer';
    }
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    } catch {
      return 'Atomics.wait is not allowed on a page\'s main thread (create the pool in a Web Worker)';
    }
    return null;
  },
  spawn(data): PoolThread {
    // new URL(…, import.meta.url) (what this compiles to): the form bundlers recognise as a worker entry.
    const worker = new scope.Worker!(new URL('./web-thread.js', (import.meta as unknown as { url: string }).url), { type: 'module', name: `hsr-decode-pool-${data.slot}` });
    const lost: ((why: string) => void)[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      worker.addEventListener('message', (e) => { if (e.data === 'ready') resolve(); });
      worker.addEventListener('error', (e) => {
        const why = `an error: ${e.message ?? 'the worker failed to load or threw'}`;
        reject(new Error(why));
        for (const f of lost) f(why);
      });
      worker.addEventListener('messageerror', () => { reject(new Error('a message it could not read')); });
    });
    worker.postMessage(data);
    return {
      ready,
      onLost: (report) => { lost.push(report); },
      terminate: async () => { worker.terminate(); },
    };
  },
};
