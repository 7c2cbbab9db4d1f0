// Node-only API (`hsr-attention/node`): re-exports only.
export { writeFileAtomic } from './files.js';
export { loadCheckpoint, readSafetensors, readBytes } from './checkpoint.js';
export { loadModel } from './model.js';
