/**
 * Paths as result files and reports record them: never a machine's absolute path (they are
 * committed and published). Inside the working directory a path becomes relative to it; under
 * /tmp it stays as it is (the same on every machine, and what the docs' commands use); elsewhere
 * only its last component is kept.
 */
import { basename, isAbsolute, relative, resolve } from 'node:path';

export function recordedPath(path: string, cwd = process.cwd()): string {
  const full = resolve(cwd, path), rel = relative(cwd, full);
  if (rel === '') return '.';
  if (!rel.startsWith('..') && !isAbsolute(rel)) return rel;
  return full.startsWith('/tmp/') ? full : basename(full);
}

/** The command line that is running (`node [flags] script args`), with every absolute path recorded as above. */
export function recordedCommand(argv = process.argv, execArgv = process.execArgv): string {
  const arg = (a: string) => (isAbsolute(a) ? recordedPath(a) : a);
  return ['node', ...execArgv.map(arg), ...argv.slice(1).map(arg)].join(' ');
}
