import { accessSync, constants, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { HsrError } from '../errors.js';

/**
 * Creates folder `dir` and its missing parents, one level at a time: Node's
 * `mkdirSync(…, { recursive: true })` never returns for a path under /proc (it retries the ENOENT
 * forever), and an output path must fail, not hang. Throws Node's error (ENOTDIR, EACCES, …).
 */
export function makeFolder(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  while (!existsSync(at)) {
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const d of missing.reverse()) {
    try { mkdirSync(d); } catch (e) { if ((e as { code?: string }).code !== 'EEXIST') throw e; }
  }
  if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, ${dir}`), { code: 'ENOTDIR' });
}

/**
 * Writes `contents` to `path` atomically: a reader sees the old file or the whole new one, never a
 * partial write (write to a sibling temp file, then rename over the target).
 */
export function writeFileAtomic(path: string, contents: string | Uint8Array): void {
  makeFolder(dirname(path));
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
  makeFolder(parent);
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
    makeFolder(dir);
    accessSync(dir, constants.W_OK);
    const probe = join(dirname(dir), `.${basename(dir)}.${process.pid}.probe`);
    mkdirSync(probe);
    rmSync(probe, { recursive: true });
  } catch (e) {
    throw new HsrError('IO_ERROR', `expected a writable folder at ${dir}, got ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
  }
}

/**
 * Throws IO_ERROR unless writeFileAtomic could write `path`: its folder (created if missing) must
 * take a new file (the temporary sibling that is renamed over it), and `path` must not be a folder.
 * For output paths, checked before the work whose result they hold.
 */
export function assertWritableFile(path: string): void {
  try {
    makeFolder(dirname(path));
    if (existsSync(path) && statSync(path).isDirectory()) throw Object.assign(new Error(`EISDIR: a directory, ${path}`), { code: 'EISDIR' });
    const probe = `${path}.${process.pid}.probe`;
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new HsrError('IO_ERROR', `expected a writable file at ${path}, got ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
  }
}
