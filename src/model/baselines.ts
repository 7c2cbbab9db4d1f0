/**
 * Dense attention on the kernels' Flash-Decoding path, and the baselines sparse attention is compared
 * against, all on the kernels' `DenseDecoder` K/V store (one contiguous block per KV head, read by
 * `attendRange` into online states):
 * - flash: every position (the dense kernel itself, as the yardstick);
 * - sink + recent window (StreamingLLM, Xiao et al. 2023): every query sees the first `sinks`
 *   positions and the last `window` positions, nothing in between;
 * - page top-k (Quest, Tang et al. 2024): keys are grouped in pages of `pageSize` positions; each
 *   page keeps per-channel min and max of its keys, which bound ⟨q,k⟩ over the page from above by
 *   Σ_c max(q_c·lo_c, q_c·hi_c); each query head attends to the ⌈budget/pageSize⌉ pages with the
 *   highest bound (the page holding the current position always among them).
 * The baselines compute exact attention over the keys they select; what they drop is dropped without a bound.
 * Work counted: every key attended is scored and used; a page bound counts as 2 scored keys (two
 * headDim-long products).
 */
import { DenseDecoder } from '../kernels/dense-decode.js';
import { STATE_EXTRA, type Kernels } from '../kernels/types.js';
import type { AttentionShape, LayerAttention } from './layer-attention.js';

abstract class DecoderAttention implements LayerAttention {
  keysScored = 0;
  keysUsed = 0;
  protected readonly decoder: DenseDecoder;

  constructor(protected readonly shape: AttentionShape, kernels: Kernels) {
    const { heads, kvHeads, headDim, capacity, kind, scale, bias, alpha } = shape;
    this.decoder = new DenseDecoder({ heads, kvHeads, headDim, kernels, initialCapacity: capacity, weighting: { kind, scale, bias, alpha } });
  }

  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void {
    this.decoder.append(keys, values);
    this.appended(keys, this.decoder.length - 1);
    this.decoder.begin(queries);
    this.attend(queries, this.decoder.length);
    this.decoder.finish(out);
  }

  /** Hook after position p's keys ([kvHeads·headDim]) were stored. */
  protected appended(_keys: Float32Array, _p: number): void {}

  /** Folds the selected positions of n into the decoder's states, for every query head. */
  protected abstract attend(queries: Float32Array, n: number): void;

  /** All query heads over positions [start, end). */
  protected attendAll(start: number, end: number): void {
    if (end <= start) return;
    this.decoder.attendRange(start, end);
    this.keysScored += (end - start) * this.shape.heads;
    this.keysUsed += (end - start) * this.shape.heads;
  }
}

/** Dense attention on the kernels (Flash-Decoding): what the library's sparse modes are timed against. */
export class FlashAttention extends DecoderAttention {
  protected attend(_q: Float32Array, n: number): void {
    this.attendAll(0, n);
  }
}

/** StreamingLLM: the first `sinks` positions plus the most recent `window` (the current one included). */
export class SinkWindowAttention extends DecoderAttention {
  constructor(shape: AttentionShape, kernels: Kernels, private readonly sinks: number, private readonly window: number) {
    super(shape, kernels);
  }

  protected attend(_q: Float32Array, n: number): void {
    const sinkEnd = Math.min(this.sinks, n);
    this.attendAll(0, sinkEnd);
    this.attendAll(Math.max(sinkEnd, n - this.window), n);
  }
}

/** Quest: per-page channel min/max bounds select the top pages per query head. */
export class PageTopKAttention extends DecoderAttention {
  private readonly lo: Float32Array;        // (kvHeads, pages, headDim) per-channel minimum of the page's keys
  private readonly hi: Float32Array;        // (kvHeads, pages, headDim) per-channel maximum
  private readonly bound: Float32Array;     // (pages) one head's upper bound per page
  private readonly order: Uint32Array;      // (pages) page ids, the chosen ones first
  private readonly stateHead: Float32Array[]; // per query head: its row of the decoder's states
  private readonly q: Float32Array;         // (heads, headDim) this step's queries
  private readonly qHead: Float32Array[];   // per query head: its row of q
  private readonly pages: number;
  private readonly maxPages: number;

  constructor(shape: AttentionShape, private readonly kernels: Kernels, private readonly pageSize: number, budget: number) {
    super(shape, kernels);
    this.pages = Math.ceil(shape.capacity / pageSize);
    this.lo = new Float32Array(shape.kvHeads * this.pages * shape.headDim);
    this.hi = new Float32Array(shape.kvHeads * this.pages * shape.headDim);
    this.bound = new Float32Array(this.pages);
    this.order = new Uint32Array(this.pages);
    this.maxPages = Math.max(1, Math.ceil(budget / pageSize));
    const stride = shape.headDim + STATE_EXTRA, states = this.decoder.states;
    this.stateHead = Array.from({ length: shape.heads }, (_, h) => states.subarray(h * stride, (h + 1) * stride));
    this.q = new Float32Array(shape.heads * shape.headDim);
    this.qHead = Array.from({ length: shape.heads }, (_, h) => this.q.subarray(h * shape.headDim, (h + 1) * shape.headDim));
  }

  protected override appended(keys: Float32Array, p: number): void {
    const { kvHeads, headDim } = this.shape;
    const page = Math.floor(p / this.pageSize), first = p % this.pageSize === 0;
    for (let g = 0; g < kvHeads; g++) {
      const b = (g * this.pages + page) * headDim;
      for (let c = 0; c < headDim; c++) {
        const x = keys[g * headDim + c]!;
        if (first || x < this.lo[b + c]!) this.lo[b + c] = x;
        if (first || x > this.hi[b + c]!) this.hi[b + c] = x;
      }
    }
  }

  protected attend(queries: Float32Array, n: number): void {
    const { heads, headDim } = this.shape, size = this.pageSize;
    const pages = Math.ceil(n / size), current = pages - 1;
    if (pages <= this.maxPages) { this.attendAll(0, n); return; }
    const group = heads / this.shape.kvHeads, kept = this.maxPages - 1, w = this.decoder.weighting;
    this.q.set(queries);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group), q = h * headDim;
      for (let pg = 0; pg < current; pg++) {
        const b = (g * this.pages + pg) * headDim;
        let s = 0;
        for (let c = 0; c < headDim; c++) {
          const qc = queries[q + c]!;
          s += qc > 0 ? qc * this.hi[b + c]! : qc * this.lo[b + c]!;
        }
        this.bound[pg] = s;
        this.order[pg] = pg;
      }
      selectTopPages(this.order, current, kept, this.bound);
      // Each head attends alone to its own pages, into its row of the decoder's states.
      const qRow = this.qHead[h]!, keys = this.decoder.keys(g), values = this.decoder.values(g);
      this.kernels.attendRange(qRow, 1, keys, values, current * size, n - current * size, headDim, headDim, w, this.stateHead[h]!);
      for (let i = 0; i < kept; i++) this.kernels.attendRange(qRow, 1, keys, values, this.order[i]! * size, size, headDim, headDim, w, this.stateHead[h]!);
      const used = kept * size + n - current * size;
      this.keysScored += 2 * current + used;
      this.keysUsed += used;
    }
  }
}

/**
 * Moves the k ids of ids[0..n) with the largest key[id] to ids[0..k) (in no particular order):
 * quickselect, in place, O(n) on average, allocating nothing.
 */
export function selectTopPages(ids: Uint32Array, n: number, k: number, key: Float32Array): void {
  let lo = 0, hi = n - 1;
  while (lo < hi && k > lo && k <= hi) {
    const pivot = key[ids[(lo + hi) >> 1]!]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (key[ids[i]!]! > pivot) i++;
      while (key[ids[j]!]! < pivot) j--;
      if (i <= j) { const t = ids[i]!; ids[i] = ids[j]!; ids[j] = t; i++; j--; }
    }
    // Now ids[lo..j] ≥ pivot ≥ ids[i..hi]; keep partitioning the side holding position k.
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}
