import { HsrError } from '../errors.js';
import { assertCount, describe } from '../tensor/matrix.js';
import { finishState, initStates } from './state.js';
import { STATE_EXTRA, type F32Buffer, type Kernels, type Weighting } from './types.js';

export interface DenseDecoderOptions {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Default headDim. */
  valueDim?: number;
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
 * Layout (like KVCache, docs/kv-layout.md): per KV head g one contiguous key block
 * `[capacity, headDim]` and one value block `[capacity, valueDim]`, allocated from the backend so
 * the wasm kernels stream them straight from linear memory. Query head h reads KV head
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
  private len = 0;
  private capacity: number;
  private readonly keyBlocks: F32Buffer[];
  private readonly valueBlocks: F32Buffer[];
  /** [heads, valueDim + 2] online states of the current attend. */
  readonly states: Float32Array;
  /** [heads, headDim] the current queries; per KV head, views of its group's query and state rows. */
  private readonly queries: Float32Array;
  private readonly qGroup: Float32Array[];
  private readonly sGroup: Float32Array[];

  constructor(options: DenseDecoderOptions) {
    const { heads, kvHeads, headDim } = options;
    for (const [name, x] of [['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim]] as const) {
      assertCount(x, `DenseDecoder ${name}`);
      if (x < 1) throw new HsrError('BAD_OPTION', `DenseDecoder: expected ${name} ≥ 1, got ${x}`);
    }
    if (heads % kvHeads !== 0) {
      throw new HsrError('BAD_OPTION', `DenseDecoder: expected heads (${heads}) to be a multiple of kvHeads, got ${kvHeads}`);
    }
    const valueDim = options.valueDim ?? headDim;
    assertCount(valueDim, 'DenseDecoder valueDim');
    const w = options.weighting;
    if (w === null || typeof w !== 'object' || (w.kind !== 'softmax' && w.kind !== 'relu') || !(w.scale > 0) ||
      !Number.isFinite(w.bias) || !Number.isSafeInteger(w.alpha) || w.alpha < 1) {
      throw new HsrError('BAD_OPTION', `DenseDecoder: expected weighting { kind, scale > 0, finite bias, integer alpha ≥ 1 }, got ${describe(w)}`);
    }
    this.heads = heads; this.kvHeads = kvHeads; this.headDim = headDim; this.valueDim = valueDim;
    this.group = heads / kvHeads;
    this.weighting = { kind: w.kind, scale: w.scale, bias: w.bias, alpha: w.alpha };
    this.kernels = options.kernels;
    this.capacity = Math.max(1, options.initialCapacity ?? 1024);
    this.keyBlocks = Array.from({ length: kvHeads }, () => this.kernels.allocF32(this.capacity * headDim));
    this.valueBlocks = Array.from({ length: kvHeads }, () => this.kernels.allocF32(this.capacity * valueDim));
    this.states = new Float32Array(heads * (valueDim + STATE_EXTRA));
    this.queries = new Float32Array(heads * headDim);
    const m = this.group, sStride = m * (valueDim + STATE_EXTRA);
    this.qGroup = Array.from({ length: kvHeads }, (_, g) => this.queries.subarray(g * m * headDim, (g + 1) * m * headDim));
    this.sGroup = Array.from({ length: kvHeads }, (_, g) => this.states.subarray(g * sStride, (g + 1) * sStride));
  }

  get length(): number { return this.len; }

  /** Keys of KV head g, `[≥ length, headDim]`; a fresh view (re-fetch after any append). */
  keys(g: number): Float32Array { return this.keyBlocks[g]!.view(); }
  /** Values of KV head g, `[≥ length, valueDim]`; a fresh view (re-fetch after any append). */
  values(g: number): Float32Array { return this.valueBlocks[g]!.view(); }

  /** Appends t tokens: keys `[t, kvHeads, headDim]`, values `[t, kvHeads, valueDim]` (KVCache's layout). */
  append(keys: Float32Array, values: Float32Array): void {
    const { kvHeads, headDim: d, valueDim: dv } = this;
    const t = keys.length / (kvHeads * d);
    if (!Number.isInteger(t) || values.length !== t * kvHeads * dv) {
      throw new HsrError('SHAPE_MISMATCH',
        `DenseDecoder.append: expected keys [t, ${kvHeads}, ${d}] and values [t, ${kvHeads}, ${dv}], got ${keys.length} and ${values.length} values`);
    }
    this.reserve(this.len + t);
    for (let g = 0; g < kvHeads; g++) {
      const kb = this.keys(g), vb = this.values(g);
      for (let i = 0; i < t; i++) {
        kb.set(keys.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d), (this.len + i) * d);
        vb.set(values.subarray((i * kvHeads + g) * dv, (i * kvHeads + g + 1) * dv), (this.len + i) * dv);
      }
    }
    this.len += t;
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
    this.attendRange(0, this.len);
    this.finish(out);
  }

  /** Grows every block to hold at least `need` positions (doubling; old blocks freed after the copy). */
  private reserve(need: number): void {
    if (need <= this.capacity) return;
    let cap = this.capacity;
    while (cap < need) cap *= 2;
    const grow = (blocks: F32Buffer[], width: number) => {
      for (let g = 0; g < blocks.length; g++) {
        const next = this.kernels.allocF32(cap * width);
        // Views are taken after the allocation (it may have moved memory).
        next.view().set(blocks[g]!.view().subarray(0, this.len * width));
        blocks[g]!.free();
        blocks[g] = next;
      }
    };
    grow(this.keyBlocks, this.headDim);
    grow(this.valueBlocks, this.valueDim);
    this.capacity = cap;
  }
}
