// The model runner's public surface: re-exports only.
export { parseModelConfig, type ModelConfig } from './config.js';
export { loadWeights, type ModelWeights, type LayerWeights } from './weights.js';
export { LlamaModel, LlamaSession, type AttentionFactory } from './llama.js';
export { attentionFactory, defaultAttention, describeAttention, ATTENTION_KINDS, CacheAttention, type AttentionMode } from './attention-mode.js';
export { SinkWindowAttention, PageTopKAttention } from './baselines.js';
export type { LayerAttention, AttentionShape } from './layer-attention.js';
export { perplexity, generate, type PerplexityResult, type GenerateResult, type RunOptions } from './run.js';
export { Sampler, type SamplerOptions } from './sampler.js';
export { ByteDecoder, encodeBytes } from './tokenizer.js';
export { loadModelFiles, fetchReader, type ModelFileReader } from './load.js';
export { ByteTokenizer, type TextTokenizer, type StreamingDecoder } from './text-tokenizer.js';
export { PoolAttention, poolAttention, type PoolAttentionSet } from './pool-attention.js';
