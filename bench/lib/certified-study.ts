// What the CPU studies of certified ε's cut share (bench/local-cut.ts, bench/certified-filter.ts):
// the GPU's constants they model, H100 run 7's pass times they project from, and their workloads.
import { basename } from 'node:path';
import { dumpWorkload, syntheticWorkload, type Workload } from './keys.js';
import { loadDumpTensors } from '../../src/node/workloads.js';

/** The GPU's ratio r: ε/(1 − ε) shrunk by 10⁻³ (selection.ts). */
export const gpuRatio = (eps: number): number => (eps / (1 - eps)) * (1 - 1e-3);

/** Keys the query pass samples for the anchor (codes-wgsl.ts SAMPLES). */
export const SAMPLES = 256;

/**
 * H100 run 7, 512k certified step (0.126 ms measured; docs/webgpu.md "Certified step, run 7"): per
 * pass in µs net of its ~9 µs of timestamp overhead, and the gaps between the 7 passes; the
 * gathered pass at that run's 19350 kept keys a head (query 0; a study scales it by its own rows a
 * KV group against the global histogram's).
 */
export const RUN7 = { query: 8, scan: 56, hist: 25, cut: 2, compact: 7, gathered: 20, merge: 3, gaps: 13, measuredUs: 126, denseUs: 198 };

/**
 * Runs `study` over each dump of `dumps` (comma-separated paths; at its own length), then over
 * synthetic 'llm' keys (d = 128, 8 query / 2 KV heads) at each length of `ns`: `queries` queries a
 * workload.
 */
export function eachWorkload(dumps: string, ns: readonly number[], queries: number, study: (w: Workload, n: number) => void): void {
  for (const path of dumps.split(',').filter((x) => x !== '')) {
    const w = dumpWorkload(basename(path), loadDumpTensors(path), queries, { alpha: 1, bias: 0 });
    study(w, w.n);
  }
  if (ns.length > 0) {
    const full = syntheticWorkload('llm', Math.max(...ns), 128, 8, 2, queries);
    for (const n of ns) study(full, n);
  }
}
