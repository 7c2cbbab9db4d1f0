// Node-only API (`hsr-attention/node`): re-exports only.
export { writeFileAtomic } from './files.js';
export { loadCheckpoint, readSafetensors, readBytes } from './checkpoint.js';
export { loadModel } from './model.js';
export { loadTokenizer } from './tokenizer.js';
export { HfTokenizer } from './hf-tokenizer.js';
export { DecodePool, type DecodePoolOptions } from './worker-pool.js';
export { kernelBackendFromEnv } from './kernels-env.js';
export { vendoredModelDir, vendoredModelNames, vendoredModelsRoot } from './vendored-models.js';
