/** Messages between the explorer page (page.ts) and its worker (worker.ts). */
import type { AttentionMode } from '../model/attention-mode.js';

/** A vendored model's folder name (`hsr-attn serve` mounts each at models/NAME/). */
export type ModelName = string;

export type Request =
  | { type: 'load'; model: ModelName }
  /** bits/byte, tokens/s and per-token NLL of `tokens` under one mode (threads > 1: dense on a DecodePool per layer). */
  | { type: 'perplexity'; tokens: Uint8Array; mode: AttentionMode; threads?: number }
  /** Per-head keys used and bounds along positions (the instrumented, untimed run). */
  | { type: 'probe'; tokens: Uint8Array; mode: AttentionMode }
  | { type: 'generate'; prompt: Uint8Array; mode: AttentionMode; maxTokens: number }
  /** Decode tokens/s at growing contexts (prefill to each, then time single-token steps). */
  | { type: 'speed'; tokens: Uint8Array; mode: AttentionMode; contexts: number[]; steps: number; threads?: number }
  /** One mode's decode attention on WebAssembly (one thread, and the worker pool where it applies) and WebGPU, same keys and queries. */
  | { type: 'gpu'; mode: AttentionMode; contexts: number[]; queries: number };

export interface ModelInfo { name: ModelName; kind: 'softmax' | 'relu'; layers: number; heads: number; kvHeads: number; maxPositions: number; loadSeconds: number }

/** What the worker's DecodePool gets here: its threads, and why one when more were asked for (else null). */
export interface PoolInfo { threads: number; fallback: string | null }

export type Reply =
  | { type: 'loaded'; info: ModelInfo; backend: string; attentionKernels: string; pool: PoolInfo }
  | { type: 'progress'; done: number; total: number }
  /** ranOn: the threads attention ran on ('1 thread', '2 threads (DecodePool)'). */
  | { type: 'perplexity'; label: string; ranOn: string; tokens: number; nll: number[]; bitsPerToken: number; tokensPerSecond: number;
      keysUsed: number; keysVisible: number; maxErrorBound: number }
  | { type: 'probe'; label: string; layers: number; heads: number; positions: number; keysUsed: Float64Array; errorBound: Float64Array }
  | { type: 'token'; text: string; count: number; tokensPerSecond: number }
  | { type: 'generated'; tokens: number; tokensPerSecond: number; keysUsedFraction: number }
  | { type: 'speed'; label: string; ranOn: string; contexts: number[]; tokensPerSecond: number[] }
  | { type: 'gpu'; label: string; rows: GpuRow[] }
  | { type: 'error'; message: string };

export interface GpuRow {
  context: number; backend: string; msPerAttend: number;
  /** Mean keys used per attend (NaN: not counted, the pool's sparse rows). */
  keysUsed: number;
  /** Largest certified TV bound of any row (0 for exact modes). */
  maxBound: number;
  /** Largest |output − wasm output|, and whether every entry is within what both bounds allow. */
  maxDiff: number; agrees: boolean;
}
