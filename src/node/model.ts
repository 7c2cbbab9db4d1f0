/** Loading a model folder (HF config.json + safetensors, sharded or not) from disk. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HsrError } from '../errors.js';
import type { KernelBackend } from '../kernels/index.js';
import { parseModelConfig } from '../model/config.js';
import { LlamaModel } from '../model/llama.js';
import { loadWeights } from '../model/weights.js';
import { guard, loadCheckpoint } from './checkpoint.js';

/** Loads a model folder; `kernels` picks the weight products' backend (default 'auto': wasm-simd where supported). */
export function loadModel(dir: string, options: { kernels?: KernelBackend } = {}): LlamaModel {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new HsrError('NOT_FOUND', `expected a model folder with config.json at ${dir}, got none`);
  let json: unknown;
  try {
    json = JSON.parse(guard(configPath, () => readFileSync(configPath, 'utf8')));
  } catch (e) {
    if (e instanceof HsrError) throw e;
    throw new HsrError('MALFORMED_FILE', `${configPath}: expected JSON, got ${(e as Error).message}`);
  }
  const config = parseModelConfig(json, configPath);
  return new LlamaModel(config, loadWeights(loadCheckpoint(dir), config), options);
}
