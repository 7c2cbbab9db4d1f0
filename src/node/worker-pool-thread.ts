// A DecodePool thread in Node (spawned by worker-pool.ts): the shared loop, fed by workerData.
import { workerData } from 'node:worker_threads';
import { runPoolThread, type PoolThreadData } from '../kernels/pool/thread.js';

runPoolThread(workerData as PoolThreadData);
