/** Loading the real q/k/v dumps (docs/reproduction/README.md) from disk as decode workloads. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findDumpLayers } from '../analysis/dump-analysis.js';
import type { DumpTensors } from '../report/experiments/softmax-error.js';
import { dumpWorkload, type Workload } from '../report/workloads.js';
import { readSafetensors } from './checkpoint.js';

/** Where the data files are looked for: the package's data/, then ../shared/data beside the clone. */
const PACKAGE_DATA = new URL('../../data/', import.meta.url).pathname;
export const DATA_DIRS = ['data', PACKAGE_DATA, '../shared/data', '/work/shared/data'];

/** The path of data file `name` in the first of `dirs` that has it, or null. */
export function dataFile(name: string, dirs: readonly string[] = DATA_DIRS): string | null {
  for (const dir of dirs) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** The first layer of a dump file as DumpTensors. */
export function loadDumpTensors(path: string): DumpTensors {
  const st = readSafetensors(path);
  const [layer] = findDumpLayers(st);
  const q = st.float32(`layers.${layer}.q`), k = st.float32(`layers.${layer}.k`), v = st.float32(`layers.${layer}.v`);
  const [heads, n, dim] = q.shape as [number, number, number];
  return { q: q.data, k: k.data, v: v.data, heads, kvHeads: k.shape[0]!, n, dim };
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
