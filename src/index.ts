// Public API: re-exports only (see docs/api.md for the contract).
export { HsrError, type HsrErrorCode } from './errors.js';
export { matrix, type Matrix } from './tensor/matrix.js';
export { HalfSpaceIndex, registerIndexKind, indexKinds, type ReporterFactory } from './hsr/half-space-index.js';
export type { HalfSpaceReporter, QueryStats, IndexOptions } from './hsr/types.js';
export { SafetensorsFile, encodeSafetensors, type SafetensorsDtype, type TensorInfo, type TensorSource, type Float32Tensor, type TensorToWrite } from './io/safetensors.js';
export { ShardedCheckpoint, parseShardIndex } from './io/sharded.js';
export { parseNpy, encodeNpy, npyToFloat32, type NpyArray, type NpyDtype, type NpyData } from './io/npy.js';
export { attention } from './attention/attention.js';
export type { AttentionOptions, AttentionStats, Sparsity } from './attention/options.js';
export { AttentionState, mergeStates } from './attention/state.js';
export { KVCache, type KVCacheOptions } from './kvcache/kv-cache.js';
export { WebGpuDecodePlan, type DecodePlanOptions, type DecodeBuffers } from './webgpu/plan.js';
export { webGpuDevice } from './webgpu/device.js';
export { createKernels, DenseDecoder, type Kernels, type KernelBackend, type DenseDecoderOptions, type Weighting } from './kernels/index.js';
export { DecodePool, type DecodePoolOptions } from './kernels/pool/decode-pool.js';
export { LlamaModel, LlamaSession, parseModelConfig, loadWeights, loadModelFiles, fetchReader, perplexity, generate, Sampler, ByteDecoder, encodeBytes, ByteTokenizer, type TextTokenizer, type StreamingDecoder, attentionFactory, defaultAttention, describeAttention, type ModelConfig, type ModelWeights, type AttentionMode, type PerplexityResult, type GenerateResult, type RunOptions, type SamplerOptions, type LayerAttention, type ModelFileReader, type AttentionFactory } from './model/index.js';
export { analyzeDump, findDumpLayers, type LayerAnalysis, type TensorLookup } from './analysis/dump-analysis.js';
export { evaluateTask, makeTrials, TASK_KINDS, type TaskKind, type TaskOptions, type TaskResult, type TaskTrial, type TrialOutcome } from './tasks/index.js';
