import { accessSync, constants, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HsrError } from '../errors.js';

/**
 * Writes `contents` to `path` atomically: a reader sees the old file or the whole new one, never a
 * partial write (write to a sibling temp file, then rename over the target).
 */
export function writeFileAtomic(path: string, contents: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/**
 * Writes a set of files into folder `dir` so that a reader (or an interrupt) sees the old set or
 * the whole new one, never new files beside old ones: the set is written into a sibling temporary
 * folder (with copies of the files of `dir` it does not replace), then swapped in by two renames.
 * A failure before the swap leaves `dir` untouched and removes the temporary folder.
 */
export function writeFolderAtomic(dir: string, files: Readonly<Record<string, string | Uint8Array>>): void {
  const parent = dirname(dir), stamp = `${process.pid}.${Date.now()}`;
  const tmp = join(parent, `.${basename(dir)}.${stamp}.tmp`), old = join(parent, `.${basename(dir)}.${stamp}.old`);
  mkdirSync(parent, { recursive: true });
  try {
    mkdirSync(tmp);
    if (existsSync(dir)) {
      for (const name of readdirSync(dir)) if (!Object.hasOwn(files, name)) cpSync(join(dir, name), join(tmp, name), { recursive: true });
    }
    for (const [name, contents] of Object.entries(files)) writeFileSync(join(tmp, name), contents);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const had = existsSync(dir);
  if (had) renameSync(dir, old);
  renameSync(tmp, dir);
  if (had) rmSync(old, { recursive: true, force: true });
}

/**
 * Throws IO_ERROR unless writeFolderAtomic could write `dir`: the folder (created if missing) and
 * its parent (where the set is staged and swapped) must be writable.
 */
export function assertWritableFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = join(dirname(dir), `.${basename(dir)}.${process.pid}.probe`);
    mkdirSync(probe);
    rmSync(probe, { recursive: true });
  } catch (e) {
    throw new HsrError('IO_ERROR', `expected a writable folder at ${dir}, got ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
  }
}
