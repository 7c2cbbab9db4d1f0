/**
 * Claim 5 (overhead): what building and updating the index costs. Build: `HalfSpaceIndex.build`
 * over n keys per kind. Insert: appending keys to an index already holding n (the decode-time
 * update, including any partial rebuilds the kind does within those inserts), per key. Medians of
 * `rounds` runs on fresh indexes.
 */
import { median } from '../../analysis/stats.js';
import { HalfSpaceIndex } from '../../hsr/half-space-index.js';
import { matrix } from '../../tensor/matrix.js';
import { timed } from '../timing.js';

export interface IndexOverhead {
  kind: string;
  n: number;
  buildMs: number;
  /** Microseconds per inserted key, amortised over `inserts` keys. */
  insertUsPerKey: number;
  memoryBytesPerKey: number;
}

/** keys: [n + inserts, dim] row-major; the first n are built, the rest inserted. */
export function indexOverhead(keys: Float32Array, n: number, inserts: number, dim: number, kinds: readonly string[], rounds: number): IndexOverhead[] {
  const built = matrix(keys.subarray(0, n * dim), n, dim);
  return kinds.map((kind) => {
    const build: number[] = [], insert: number[] = [];
    let bytes = 0;
    for (let r = 0; r < rounds; r++) {
      const b = timed(() => HalfSpaceIndex.build(built, { kind }));
      build.push(b.ms);
      const index = b.value;
      // The first insert may grow the buffers (a copy of all n keys, amortised O(1) per key over the
      // next n inserts): done untimed, so the timing shows the steady-state per-key cost.
      index.insert(keys.subarray(n * dim, (n + 1) * dim));
      insert.push(timed(() => { for (let i = n + 1; i < n + inserts; i++) index.insert(keys.subarray(i * dim, (i + 1) * dim)); }).ms);
      bytes = index.memoryBytes();
    }
    return { kind, n, buildMs: median(build), insertUsPerKey: (median(insert) * 1000) / (inserts - 1), memoryBytesPerKey: bytes / (n + inserts) };
  });
}
