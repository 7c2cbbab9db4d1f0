/**
 * Loading a model folder (HF config.json + safetensors, sharded or not) through any reader of its
 * files: `fetch` in a browser or worker, the disk in Node (src/node/model.ts reads it synchronously).
 */
import { HsrError } from '../errors.js';
import { SafetensorsFile, type TensorSource } from '../io/safetensors.js';
import { parseShardIndex, SHARD_INDEX_FILE, ShardedCheckpoint, shardFiles, SINGLE_FILE } from '../io/sharded.js';
import type { KernelBackend } from '../kernels/index.js';
import { parseModelConfig } from './config.js';
import { LlamaModel } from './llama.js';
import { loadWeights } from './weights.js';

/** A file of the model folder by name, or null where there is none. */
export type ModelFileReader = (name: string) => Promise<Uint8Array | null>;

/** A reader of the folder at `base` (an absolute URL ending in '/') through `fetch`: 404 is null, other failures throw. */
export function fetchReader(base: string): ModelFileReader {
  if (!base.endsWith('/')) throw new HsrError('BAD_OPTION', `fetchReader: expected a folder URL ending in '/', got ${JSON.stringify(base)}`);
  const fetchFn = (globalThis as unknown as { fetch: (u: string) => Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }> }).fetch;
  return async (name) => {
    const url = base + name;   // names come from the folder's own index: relative, checked by parseShardIndex
    const res = await fetchFn(url);
    if (res.status === 404) return null;
    if (!res.ok) throw new HsrError('NOT_FOUND', `expected ${url} to load, got HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

const text = (bytes: Uint8Array) => new (globalThis as unknown as { TextDecoder: new () => { decode(b: Uint8Array): string } }).TextDecoder().decode(bytes);

/** Reads config.json and the weights (a shard index and its shards, or model.safetensors). */
export async function loadModelFiles(read: ModelFileReader, options: { kernels?: KernelBackend } = {}): Promise<LlamaModel> {
  const configBytes = await read('config.json');
  if (configBytes === null) throw new HsrError('NOT_FOUND', 'expected a model folder with config.json, got none');
  let json: unknown;
  try {
    json = JSON.parse(text(configBytes));
  } catch (e) {
    throw new HsrError('MALFORMED_FILE', `config.json: expected JSON, got ${(e as Error).message}`);
  }
  const config = parseModelConfig(json, 'config.json');
  let source: TensorSource;
  const index = await read(SHARD_INDEX_FILE);
  if (index !== null) {
    const weightMap = parseShardIndex(text(index), SHARD_INDEX_FILE);
    const files = shardFiles(weightMap);
    const shards = await Promise.all(files.map(async (f) => {
      const bytes = await read(f);
      if (bytes === null) throw new HsrError('NOT_FOUND', `expected shard ${f} named by ${SHARD_INDEX_FILE}, got none`);
      return [f, SafetensorsFile.parse(bytes, f)] as const;
    }));
    source = new ShardedCheckpoint(weightMap, new Map(shards));
  } else {
    const single = await read(SINGLE_FILE);
    if (single === null) throw new HsrError('NOT_FOUND', `expected ${SHARD_INDEX_FILE} or ${SINGLE_FILE} in the model folder, got neither`);
    source = SafetensorsFile.parse(single, SINGLE_FILE);
  }
  return new LlamaModel(config, loadWeights(source, config), options);
}
