/**
 * The model's hyper-parameters, read from a Hugging Face Llama `config.json`, plus the attention
 * kind this project adds (`attention_kind`, `relu_alpha`, `relu_bias`; softmax when absent).
 */
import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import { parseRopeConfig, type RopeConfig } from './rope-scaling.js';

export interface ModelConfig {
  vocabSize: number;
  hidden: number;        // model width (hidden_size)
  intermediate: number;  // SwiGLU width (intermediate_size)
  layers: number;
  heads: number;         // query heads
  kvHeads: number;       // key/value heads (grouped-query attention: query head h uses KV head ⌊h / (heads/kvHeads)⌋)
  headDim: number;
  maxPositions: number;  // max_position_embeddings: the longest context the model was trained for
  /** RoPE base and frequency scaling (rope-scaling.ts). */
  rope: RopeConfig;
  rmsNormEps: number;
  tieEmbeddings: boolean;
  /** q/k/v/o projections carry biases (`attention_bias`, as in Qwen2-style Llama checkpoints). */
  attentionBias: boolean;
  /** gate/up/down projections carry biases (`mlp_bias`). */
  mlpBias: boolean;
  attention: { kind: 'softmax' } | { kind: 'relu'; alpha: number; bias: number };
}

/** Validates a parsed config.json and returns the fields the runner uses. */
export function parseModelConfig(json: unknown, what = 'config.json'): ModelConfig {
  if (json === null || typeof json !== 'object') throw new HsrError('MALFORMED_FILE', `${what}: expected a JSON object, got ${describe(json)}`);
  const c = json as Record<string, unknown>;
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new HsrError('MALFORMED_FILE', `${what}: expected ${key} to be a positive integer, got ${describe(v)}`);
    return v as number;
  };
  const num = (v: unknown, key: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new HsrError('MALFORMED_FILE', `${what}: expected ${key} to be a finite number ≥ 0, got ${describe(v)}`);
    return v;
  };
  const hiddenAct = c.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') throw new HsrError('UNSUPPORTED', `${what}: expected hidden_act "silu" (SwiGLU), got ${describe(hiddenAct)}`);
  const modelType = c.model_type ?? 'llama';
  if (modelType !== 'llama') {
    throw new HsrError('UNSUPPORTED', `${what}: expected model_type "llama" (LlamaForCausalLM and checkpoints saved in its format), got ${describe(modelType)}`);
  }
  const flag = (key: string): boolean => {
    const v = c[key] ?? false;
    if (typeof v !== 'boolean') throw new HsrError('MALFORMED_FILE', `${what}: expected ${key} to be true or false, got ${describe(v)}`);
    return v;
  };

  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  const headDim = int('head_dim', hidden / heads);
  if (heads % kvHeads !== 0) throw new HsrError('MALFORMED_FILE', `${what}: expected num_attention_heads (${heads}) to be a multiple of num_key_value_heads, got ${kvHeads}`);
  if (headDim % 2 !== 0) throw new HsrError('MALFORMED_FILE', `${what}: expected an even head_dim for RoPE, got ${headDim}`);

  const kind = c.attention_kind ?? 'softmax';
  let attention: ModelConfig['attention'];
  if (kind === 'softmax') attention = { kind };
  else if (kind === 'relu') {
    const alpha = c.relu_alpha ?? 1;
    if (!Number.isSafeInteger(alpha) || (alpha as number) < 1) throw new HsrError('MALFORMED_FILE', `${what}: expected relu_alpha to be an integer ≥ 1, got ${describe(alpha)}`);
    attention = { kind, alpha: alpha as number, bias: num(c.relu_bias ?? 0, 'relu_bias') };
  } else throw new HsrError('UNSUPPORTED', `${what}: expected attention_kind "softmax" or "relu", got ${describe(kind)}`);

  return {
    vocabSize: int('vocab_size'), hidden, intermediate: int('intermediate_size'), layers: int('num_hidden_layers'),
    heads, kvHeads, headDim, maxPositions: int('max_position_embeddings'),
    rope: parseRopeConfig(c, what),
    rmsNormEps: num(c.rms_norm_eps ?? 1e-6, 'rms_norm_eps'),
    tieEmbeddings: flag('tie_word_embeddings'),
    attentionBias: flag('attention_bias'),
    mlpBias: flag('mlp_bias'),
    attention,
  };
}
