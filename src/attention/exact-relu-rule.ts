import type { HalfSpaceReporter } from '../hsr/types.js';
import type { KeyValueView, RowEvaluator } from './row-evaluator.js';

/**
 * Selection rule: exact ReLU^α — the index reports the keys with ⟨q,k⟩·scale > bias (those with
 * positive weight), and the evaluator decides each of them exactly (float64 inside the float32
 * margin), so nothing is skipped and there is no bound to certify.
 */
export class ExactReluRule {
  /** offsets[c]: the half-space offsets of a batch of c queries (queryBatch wants equal lengths). */
  private readonly offsets: number[][];

  constructor(private readonly ev: RowEvaluator, private readonly scale: number, private readonly bias: number, groupSize: number) {
    this.offsets = Array.from({ length: groupSize + 1 }, (_, c) => new Array<number>(c).fill(0));
  }

  /** Rows of queries[h] over keys [0, limits[h]) (or [0, limit)) → out rows outRow + h. */
  rows(kv: KeyValueView, index: HalfSpaceReporter, queries: readonly Float32Array[], limit: number, limits: Int32Array | null,
    out: Float32Array, outRow: number): void {
    const count = queries.length, dv = this.ev.valueDim;
    // Weight > 0 ⟺ ⟨q,k⟩·scale > bias. The offset is lowered by a few ulps so that a key whose
    // rounded logit clears the bias is never lost to the rounding of bias/scale.
    const off = this.bias / this.scale, offsets = this.offsets[count]!;
    offsets.fill(off - Math.abs(off) * 1e-15);
    // relu() decides every key it is given exactly (float64 inside the float32 margin), so the
    // index's unchecked candidates serve as well as its checked hits and save scoring them twice.
    const hits = index.candidateBatch ? index.candidateBatch(queries, offsets, limit) : index.queryBatch(queries, offsets, limit);
    this.ev.countIndexWork(index);
    for (let h = 0; h < count; h++) {
      this.ev.relu(kv, queries[h]!, limits ? limits[h]! : limit, hits[h]!, out, (outRow + h) * dv);
    }
  }
}
