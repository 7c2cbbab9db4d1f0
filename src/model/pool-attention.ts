/**
 * Dense attention with each layer's keys and values in a DecodePool, so every position's attention
 * is split across threads (Web Workers in browsers, worker_threads under hsr-attention/node).
 * Same arithmetic as the kernels' dense decode (FlashAttention); the split changes only the order
 * of the log-sum-exp merge, so results agree with one thread to float rounding.
 */
import { DecodePool } from '../kernels/pool/decode-pool.js';
import type { ModelConfig } from './config.js';
import type { LayerAttention } from './layer-attention.js';
import type { AttentionFactory } from './llama.js';

export class PoolAttention implements LayerAttention {
  keysScored = 0;
  keysUsed = 0;

  constructor(readonly pool: DecodePool) {}

  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void {
    this.pool.append(keys, values);
    this.pool.attend(queries, out);
    this.keysScored += this.pool.decoder.heads * this.pool.length;
    this.keysUsed += this.pool.decoder.heads * this.pool.length;
  }
}

export interface PoolAttentionSet {
  /** One PoolAttention per layer, for LlamaSession / RunOptions.factory (each layer once). */
  factory: AttentionFactory;
  /** Threads each pool runs on, and why fewer than asked (null: as asked). */
  threads: number;
  fallback: string | null;
  close(): Promise<void>;
}

/**
 * A DecodePool per layer of `config` (dense, the model's weighting), made with `Pool` (the package
 * root's DecodePool, or hsr-attention/node's). Close the set when the run is over: it stops the threads.
 */
export async function poolAttention(config: ModelConfig, capacity: number, options: { threads?: number; minPositionsPerThread?: number },
  Pool: Pick<typeof DecodePool, 'create'> = DecodePool): Promise<PoolAttentionSet> {
  const a = config.attention;
  const weighting = { kind: a.kind, scale: 1 / Math.sqrt(config.headDim), bias: a.kind === 'relu' ? a.bias : 0, alpha: a.kind === 'relu' ? a.alpha : 1 };
  const pools: DecodePool[] = [];
  const close = () => Promise.all(pools.map((p) => p.close())).then(() => {});
  try {
    for (let l = 0; l < config.layers; l++) {
      pools.push(await Pool.create({ heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim, weighting, initialCapacity: capacity, ...options }));
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { factory: (layer) => new PoolAttention(pools[layer]!), threads: pools[0]!.threads, fallback: pools[0]!.fallback, close };
}
