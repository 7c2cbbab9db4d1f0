/**
 * Reading files from disk: safetensors checkpoints (single file, or an HF folder with a shard
 * index) and plain bytes. Nothing is read whole when only part is needed: a safetensors file is
 * opened, its header read and checked against the file size, and each tensor read when asked for;
 * text is read only up to the bytes a caller will use. File-system failures become HsrError.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { HsrError } from '../errors.js';
import { SafetensorsFile, safetensorsHeaderLength, type TensorSource } from '../io/safetensors.js';
import { parseShardIndex, SHARD_INDEX_FILE, ShardedCheckpoint, shardFiles, SINGLE_FILE } from '../io/sharded.js';

/** Largest file readBytes reads whole (Node's own limit for one read is 2 GiB). */
export const MAX_READ_BYTES = 2 ** 31 - 1;

/** Opens, validates the header of, and indexes one .safetensors file; tensor bytes are read on demand. */
export function readSafetensors(path: string): SafetensorsFile {
  const size = statFile(path).size;
  const first8 = readRange(path, 0, Math.min(8, size));
  const n = safetensorsHeaderLength(first8, size, path);
  return SafetensorsFile.fromHeader(readRange(path, 8, n), size, (offset, length) => readRange(path, offset, length), path);
}

/**
 * Opens a checkpoint: a .safetensors file, or a folder holding `model.safetensors.index.json`
 * (every shard it names is opened) or a single `model.safetensors`. Shard files must resolve
 * (symbolic links followed) to files inside the folder.
 */
export function loadCheckpoint(path: string): TensorSource {
  if (!statOrNull(path)) throw new HsrError('NOT_FOUND', `expected a checkpoint file or folder at ${path}, got nothing there`);
  if (!statSync(path).isDirectory()) return readSafetensors(path);
  const indexPath = join(path, SHARD_INDEX_FILE);
  if (statOrNull(indexPath)) {
    const weightMap = parseShardIndex(readText(indexPath), indexPath);
    const shards = new Map(shardFiles(weightMap).map((f) => [f, readSafetensors(insideFolder(path, f))] as const));
    return new ShardedCheckpoint(weightMap, shards);
  }
  if (statOrNull(join(path, SINGLE_FILE))) return readSafetensors(insideFolder(path, SINGLE_FILE));
  throw new HsrError('NOT_FOUND', `expected ${SHARD_INDEX_FILE} or ${SINGLE_FILE} in ${path}, got neither`);
}

/**
 * A file's bytes, at most `limit` of them (default: the whole file, up to MAX_READ_BYTES).
 * Reads until the limit or the end, so devices and pipes (size 0 to stat) work too.
 */
export function readBytes(path: string, limit = Infinity): Uint8Array {
  const st = statFile(path);
  const whole = limit === Infinity;
  if (whole && st.size > MAX_READ_BYTES) {
    throw new HsrError('TOO_LARGE', `${path}: expected a file of at most ${MAX_READ_BYTES} bytes to read whole, got ${st.size}`);
  }
  const cap = Math.min(limit, MAX_READ_BYTES);
  let buf = new Uint8Array(Math.min(cap, st.isFile() ? st.size : 1 << 16));
  let n = 0;
  withFile(path, (fd) => {
    for (;;) {
      if (n === buf.length) {
        if (n >= cap) {
          if (whole && readSync(fd, new Uint8Array(1), 0, 1, null) > 0) {
            throw new HsrError('TOO_LARGE', `${path}: expected at most ${MAX_READ_BYTES} bytes to read whole, got more`);
          }
          return;
        }
        const next = new Uint8Array(Math.min(cap, Math.max(2 * buf.length, 1 << 16)));
        next.set(buf);
        buf = next;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) return;
      n += got;
    }
  });
  return buf.subarray(0, n);
}

/** `length` bytes of `path` from byte `offset` (reads in pieces: one read is limited to 2 GiB). */
function readRange(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  withFile(path, (fd) => {
    for (let done = 0; done < length;) {
      const got = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (got === 0) throw new HsrError('MALFORMED_FILE', `${path}: expected ${length} bytes at offset ${offset}, got the end of the file after ${done}`);
      done += got;
    }
  });
  return out;
}

function readText(path: string): string {
  return guard(path, () => readFileSync(path, 'utf8'));
}

/** The resolved path of `name` in `dir`, refusing one that leaves the folder (`..`, or a symbolic link out). */
function insideFolder(dir: string, name: string): string {
  const path = join(dir, name);
  const root = guard(dir, () => realpathSync(dir));
  const real = guard(path, () => realpathSync(path));
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
    throw new HsrError('MALFORMED_FILE', `${path}: expected a file inside the model folder ${dir}, got a link to ${real}, outside the model folder`);
  }
  return real;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The stats of a regular file (or device); NOT_FOUND when missing, IO_ERROR for a folder. */
function statFile(path: string): Stats {
  const st = statOrNull(path);
  if (st === null) throw new HsrError('NOT_FOUND', `expected a file at ${path}, got nothing there`);
  if (st.isDirectory()) throw new HsrError('IO_ERROR', `expected a file at ${path}, got a directory`);
  return st;
}

function withFile(path: string, use: (fd: number) => void): void {
  const fd = guard(path, () => openSync(path, 'r'));
  try {
    if (fstatSync(fd).isDirectory()) throw new HsrError('IO_ERROR', `expected a file at ${path}, got a directory`);
    guard(path, () => use(fd));
  } finally {
    closeSync(fd);
  }
}

/** Runs a file-system call, turning Node's errors (EACCES, EISDIR, ENOENT, …) into HsrError. */
export function guard<T>(path: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    if (e instanceof HsrError) throw e;
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new HsrError('NOT_FOUND', `expected a file at ${path}, got nothing there`);
    if (typeof code === 'string') throw new HsrError('IO_ERROR', `${path}: expected to read it, got ${code}: ${(e as Error).message}`);
    throw e;
  }
}
