// A DecodePool thread in a browser (a module Web Worker spawned by web-threads.ts): the shared
// loop, fed by the first message. 'ready' goes out before the loop starts blocking in Atomics.wait,
// which a Web Worker may do (a page's main thread may not).
import { runPoolThread, type PoolThreadData } from './thread.js';

const scope = globalThis as unknown as { onmessage: ((e: { data: PoolThreadData }) => void) | null; postMessage(m: unknown): void };
scope.onmessage = (e) => {
  scope.onmessage = null;
  runPoolThread(e.data, () => scope.postMessage('ready'));
};
