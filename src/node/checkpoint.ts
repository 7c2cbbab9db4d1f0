/** Loading safetensors checkpoints from disk (single file, or an HF folder with a shard index). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HsrError } from '../errors.js';
import { SafetensorsFile, type TensorSource } from '../io/safetensors.js';
import { parseShardIndex, SHARD_INDEX_FILE, ShardedCheckpoint, shardFiles, SINGLE_FILE } from '../io/sharded.js';

/** Reads and validates one .safetensors file. */
export function readSafetensors(path: string): SafetensorsFile {
  return SafetensorsFile.parse(readBytes(path), path);
}

/**
 * Opens a checkpoint: a .safetensors file, or a folder holding `model.safetensors.index.json`
 * (every shard it names is read) or a single `model.safetensors`.
 */
export function loadCheckpoint(path: string): TensorSource {
  if (!existsSync(path)) throw new HsrError('NOT_FOUND', `expected a checkpoint file or folder at ${path}, got nothing there`);
  if (!statSync(path).isDirectory()) return readSafetensors(path);
  const indexPath = join(path, SHARD_INDEX_FILE);
  if (existsSync(indexPath)) {
    const weightMap = parseShardIndex(readFileSync(indexPath, 'utf8'), indexPath);
    const shards = new Map(shardFiles(weightMap).map((f) => [f, readSafetensors(join(path, f))] as const));
    return new ShardedCheckpoint(weightMap, shards);
  }
  if (existsSync(join(path, SINGLE_FILE))) return readSafetensors(join(path, SINGLE_FILE));
  throw new HsrError('NOT_FOUND', `expected ${SHARD_INDEX_FILE} or ${SINGLE_FILE} in ${path}, got neither`);
}

/** A file's bytes; NOT_FOUND when it is missing. */
export function readBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new HsrError('NOT_FOUND', `expected a file at ${path}, got nothing there`);
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
