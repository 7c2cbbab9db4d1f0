/** Loading the real q/k/v dumps (docs/reproduction/README.md) from disk as decode workloads. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HsrError } from '../errors.js';
import { dumpLayer, findDumpLayers } from '../analysis/dump-analysis.js';
import type { DumpTensors } from '../report/experiments/softmax-error.js';
import { dumpWorkload, type Workload } from '../report/workloads.js';
import { readSafetensors } from './checkpoint.js';

/**
 * Where the data files are looked for: data/ in the working directory, the package's data/, then
 * shared/data beside the package's folder (where a clone's ../shared sits). The Q/K/V dumps are in
 * the repository's data/ but not in the npm package (22 MB): an installed package finds them only
 * where the user put them.
 */
const PACKAGE_DATA = fileURLToPath(new URL('../../data/', import.meta.url));
export const DATA_DIRS = ['data', PACKAGE_DATA, fileURLToPath(new URL('../../../shared/data/', import.meta.url))];

/** The path of data file `name` in the first of `dirs` that has it, or null. */
export function dataFile(name: string, dirs: readonly string[] = DATA_DIRS): string | null {
  for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** Like dataFile, but a missing file is an HsrError saying where it was looked for and where to get it. */
export function requireDataFile(name: string, dirs: readonly string[] = DATA_DIRS): string {
  const file = dataFile(name, dirs);
  if (file !== null) return file;
  throw new HsrError('NOT_FOUND',
    `expected the data file ${name} in one of ${dirs.join(', ')}, got none; the Q/K/V dumps are not in the npm package ` +
    `(22 MB): copy them from the data/ folder of the hsr-attention repository into ./data`);
}

/** The first layer of a dump file as DumpTensors. */
export function loadDumpTensors(path: string): DumpTensors {
  const st = readSafetensors(path);
  const [layer] = findDumpLayers(st);
  const { q, k, v, heads, kvHeads, n, dim } = dumpLayer(st, 'layers.', layer!);
  return { q, k, v, heads, kvHeads, n, dim };
}

/** The dump file of each real workload: 'real' (softmax model, layer 2), 'real-relu' (ReLU² model, layer 3). */
export const REAL_DUMPS = { real: 'dev_c_l2.safetensors', 'real-relu': 'dev_c_relu_l3.safetensors' } as const;

/**
 * A real dump as a decode workload (first n positions, default all; R decode queries), or null
 * when the file is not found. ReLU settings: the ReLU² model's own (α 2, bias 1) for 'real-relu'.
 */
export function realWorkload(kind: 'real' | 'real-relu', R: number, n?: number): Workload | null {
  const file = dataFile(REAL_DUMPS[kind]);
  if (file === null) return null;
  const t = loadDumpTensors(file);
  return dumpWorkload(kind, t, R, kind === 'real-relu' ? { alpha: 2, bias: 1 } : { alpha: 2, bias: 2 }, Math.min(n ?? t.n, t.n));
}
