/**
 * Hugging Face sharded checkpoints: `model.safetensors.index.json` maps each tensor name to the
 * shard file holding it ({ "metadata": {...}, "weight_map": { NAME: "model-00001-of-00002.safetensors" } }).
 * Browser-safe: the caller fetches the shard bytes (src/node/checkpoint.ts reads them from disk).
 */
import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import type { Float32Tensor, SafetensorsFile, TensorInfo, TensorSource } from './safetensors.js';

export const SHARD_INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** Tensor name → shard file name, from the index JSON text. Shard names must be relative paths inside the folder. */
export function parseShardIndex(text: string, what = SHARD_INDEX_FILE): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected JSON, got ${(e as Error).message}`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new HsrError('MALFORMED_FILE', `${what}: expected an object with a "weight_map" object, got ${describe(map)}`);
  }
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.startsWith('/') || file.split(/[\\/]/).some((part) => part === '' || part === '.' || part === '..')) {
      throw new HsrError('MALFORMED_FILE', `${what}: expected a shard file name inside the folder for ${JSON.stringify(name)}, got ${JSON.stringify(file)}`);
    }
    out.set(name, file);
  }
  return out;
}

/** The distinct shard files an index refers to, in first-seen order. */
export function shardFiles(weightMap: ReadonlyMap<string, string>): string[] {
  return [...new Set(weightMap.values())];
}

/** Tensors spread over several safetensors files, addressed by name as if one file. */
export class ShardedCheckpoint implements TensorSource {
  /** Checks that every tensor the index names is in the shard it names. */
  constructor(private readonly weightMap: ReadonlyMap<string, string>, private readonly shards: ReadonlyMap<string, SafetensorsFile>) {
    for (const [name, file] of weightMap) {
      const shard = shards.get(file);
      if (!shard) throw new HsrError('NOT_FOUND', `sharded checkpoint: expected shard ${JSON.stringify(file)} (for ${JSON.stringify(name)}), got none`);
      if (!shard.has(name)) {
        throw new HsrError('MALFORMED_FILE', `sharded checkpoint: expected ${JSON.stringify(name)} in ${file} as the index says, got no such tensor`);
      }
    }
  }

  names(): string[] { return [...this.weightMap.keys()]; }
  has(name: string): boolean { return this.weightMap.has(name); }
  info(name: string): TensorInfo { return this.shardOf(name).info(name); }
  raw(name: string): Uint8Array { return this.shardOf(name).raw(name); }
  float32(name: string): Float32Tensor { return this.shardOf(name).float32(name); }

  private shardOf(name: string): SafetensorsFile {
    const file = this.weightMap.get(name);
    if (file === undefined) throw new HsrError('NOT_FOUND', `sharded checkpoint: expected a tensor named ${JSON.stringify(name)}, got none`);
    return this.shards.get(file)!;
  }
}
