import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import { KvHeadStore, resolveGroupedHeads, type GroupedHeadsOptions } from './kv-store.js';
import { finishState, initStates } from './state.js';
import { STATE_EXTRA, type Kernels, type Weighting } from './types.js';

export interface DenseDecoderOptions extends GroupedHeadsOptions {
  /** How dots become weights (softmax or ReLU^α); `scale` is applied to the unscaled dots. */
  weighting: Weighting;
  /** The backend whose memory holds K and V (allocate once, share nothing else). */
  kernels: Kernels;
  /** Positions to reserve up front (grows by doubling). Default 1024. */
  initialCapacity?: number;
}

/**
 * Dense decode attention, Flash-Decoding style: one pass over the cache per KV head, online
 * softmax (or ReLU^α) in the kernels' `attendRange`, each K and V row read once for the whole
 * grouped-query group. It is both the `sparsity: 'dense'` path and the yardstick sparse modes are
 * timed against.
 *
 * Layout (like KVCache, docs/kv-layout.md): per KV head g one KvHeadStore — a contiguous key block
 * `[capacity, headDim]` and value block `[capacity, valueDim]` allocated from the backend, so the
 * wasm kernels stream them straight from linear memory. Query head h reads KV head
 * ⌊h / (heads / kvHeads)⌋. `attend` allocates nothing.
 */
export class DenseDecoder {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly group: number;
  readonly weighting: Weighting;
  readonly kernels: Kernels;
  /** Per KV head: its keys and values (KvHeadStore, in the backend's memory). */
  private readonly stores: KvHeadStore[];
  /** [heads, valueDim + 2] online states of the current attend. */
  readonly states: Float32Array;
  /** [heads, headDim] the current queries; per KV head, views of its group's query and state rows. */
  private readonly queries: Float32Array;
  private readonly qGroup: Float32Array[];
  private readonly sGroup: Float32Array[];

  constructor(options: DenseDecoderOptions) {
    const { heads, kvHeads, headDim, valueDim, group } = resolveGroupedHeads(options, 'DenseDecoder');
    const w = options.weighting;
    if (w === null || typeof w !== 'object' || (w.kind !== 'softmax' && w.kind !== 'relu') || !(w.scale > 0) ||
      !Number.isFinite(w.bias) || !Number.isSafeInteger(w.alpha) || w.alpha < 1) {
      throw new HsrError('BAD_OPTION', `DenseDecoder: expected weighting { kind, scale > 0, finite bias, integer alpha ≥ 1 }, got ${describe(w)}`);
    }
    this.heads = heads; this.kvHeads = kvHeads; this.headDim = headDim; this.valueDim = valueDim;
    this.group = group;
    this.weighting = { kind: w.kind, scale: w.scale, bias: w.bias, alpha: w.alpha };
    this.kernels = options.kernels;
    const initialRows = Math.max(1, options.initialCapacity ?? 1024);
    this.stores = Array.from({ length: kvHeads }, () => new KvHeadStore(headDim, valueDim, this.kernels, null, initialRows));
    this.states = new Float32Array(heads * (valueDim + STATE_EXTRA));
    this.queries = new Float32Array(heads * headDim);
    const m = this.group, sStride = m * (valueDim + STATE_EXTRA);
    this.qGroup = Array.from({ length: kvHeads }, (_, g) => this.queries.subarray(g * m * headDim, (g + 1) * m * headDim));
    this.sGroup = Array.from({ length: kvHeads }, (_, g) => this.states.subarray(g * sStride, (g + 1) * sStride));
  }

  get length(): number { return this.stores[0]!.length; }

  /** Keys of KV head g, `[≥ length, headDim]`; a fresh view (re-fetch after any append). */
  keys(g: number): Float32Array { return this.stores[g]!.keys; }
  /** Values of KV head g, `[≥ length, valueDim]`; a fresh view (re-fetch after any append). */
  values(g: number): Float32Array { return this.stores[g]!.values; }

  /** Appends t tokens: keys `[t, kvHeads, headDim]`, values `[t, kvHeads, valueDim]` (KVCache's layout). */
  append(keys: Float32Array, values: Float32Array): void {
    const { kvHeads, headDim: d, valueDim: dv } = this;
    const t = keys.length / (kvHeads * d);
    if (!Number.isInteger(t) || values.length !== t * kvHeads * dv) {
      throw new HsrError('SHAPE_MISMATCH',
        `DenseDecoder.append: expected keys [t, ${kvHeads}, ${d}] and values [t, ${kvHeads}, ${dv}], got ${keys.length} and ${values.length} values`);
    }
    for (let g = 0; g < kvHeads; g++) {
      const store = this.stores[g]!;
      store.reserve(store.length + t);
      for (let i = 0; i < t; i++) {
        store.append(keys.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d), values.subarray((i * kvHeads + g) * dv, (i * kvHeads + g + 1) * dv));
      }
    }
  }

  /** Copies `queries` ([heads, headDim], unscaled) in and empties the states: the start of an attend. */
  begin(queries: Float32Array): void {
    this.queries.set(queries);
    initStates(this.states, this.heads, this.valueDim, this.weighting.kind);
  }

  /**
   * Folds positions [start, end) of every KV head into `states`: the split-KV building block
   * (partial states over disjoint ranges merge with lseMerge).
   */
  attendRange(start: number, end: number): void {
    const { group: m, headDim: d, valueDim: dv } = this;
    for (let g = 0; g < this.kvHeads; g++) {
      this.kernels.attendRange(this.qGroup[g]!, m, this.keys(g), this.values(g), start, end - start, d, dv, this.weighting, this.sGroup[g]!);
    }
  }

  /** Writes acc / sum of every head to `out` ([heads, valueDim]). */
  finish(out: Float32Array): void {
    const dv = this.valueDim;
    for (let h = 0; h < this.heads; h++) finishState(this.states, h * (dv + STATE_EXTRA), dv, out, h * dv);
  }

  /** Dense attention of `queries` ([heads, headDim], unscaled) over all positions into `out` ([heads, valueDim]). */
  attend(queries: Float32Array, out: Float32Array): void {
    this.begin(queries);
    this.attendRange(0, this.length);
    this.finish(out);
  }
}
