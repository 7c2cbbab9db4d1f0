/**
 * The baselines sparse attention is compared against, on a plain contiguous K/V store:
 * - sink + recent window (StreamingLLM, Xiao et al. 2023): every query sees the first `sinks`
 *   positions and the last `window` positions, nothing in between;
 * - page top-k (Quest, Tang et al. 2024): keys are grouped in pages of `pageSize` positions; each
 *   page keeps per-channel min and max of its keys, which bound ⟨q,k⟩ over the page from above by
 *   Σ_c max(q_c·lo_c, q_c·hi_c); each query head attends to the ⌈budget/pageSize⌉ pages with the
 *   highest bound (the page holding the current position always among them).
 * Both compute exact attention over the keys they select; what they drop is dropped without a bound.
 *
 * Store layout: keys and values (kvHeads, capacity, headDim), position p of KV head g at
 * (g·capacity + p)·headDim. Attention over a contiguous run of positions is the kernels'
 * `attendRange`, folded into online states (kernels/state.ts) and finished once per query head.
 * Work counted: every key attended is scored and used; a page bound counts as 2 scored keys (two
 * headDim-long products).
 */
import { createJsKernels } from '../kernels/js/js-kernels.js';
import { finishState, initStates } from '../kernels/state.js';
import { STATE_EXTRA, type Kernels, type Weighting } from '../kernels/types.js';
import type { AttentionShape, LayerAttention } from './layer-attention.js';

abstract class StoreAttention implements LayerAttention {
  keysScored = 0;
  keysUsed = 0;
  protected length = 0;
  protected readonly keys: Float32Array;      // (kvHeads, capacity, headDim)
  protected readonly values: Float32Array;    // (kvHeads, capacity, headDim)
  protected readonly q: Float32Array;         // (heads, headDim) this step's queries
  protected readonly states: Float32Array;    // (heads, headDim + 2) online states
  protected readonly qHead: Float32Array[];   // per query head: view of q
  protected readonly stateHead: Float32Array[]; // per query head: view of states
  protected readonly qGroup: Float32Array[];  // per KV head: its query heads' rows of q
  protected readonly stateGroup: Float32Array[];
  protected readonly group: number;           // query heads per KV head
  private readonly weighting: Weighting;
  private readonly kernels: Kernels = createJsKernels();

  constructor(protected readonly shape: AttentionShape) {
    const { kvHeads, heads, capacity, headDim } = shape;
    const stride = headDim + STATE_EXTRA;
    this.keys = new Float32Array(kvHeads * capacity * headDim);
    this.values = new Float32Array(kvHeads * capacity * headDim);
    this.q = new Float32Array(heads * headDim);
    this.states = new Float32Array(heads * stride);
    this.group = heads / kvHeads;
    const G = this.group;
    this.qHead = Array.from({ length: heads }, (_, h) => this.q.subarray(h * headDim, (h + 1) * headDim));
    this.stateHead = Array.from({ length: heads }, (_, h) => this.states.subarray(h * stride, (h + 1) * stride));
    this.qGroup = Array.from({ length: kvHeads }, (_, g) => this.q.subarray(g * G * headDim, (g + 1) * G * headDim));
    this.stateGroup = Array.from({ length: kvHeads }, (_, g) => this.states.subarray(g * G * stride, (g + 1) * G * stride));
    this.weighting = { kind: shape.kind, scale: shape.scale, bias: shape.bias, alpha: shape.alpha };
  }

  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void {
    const { kvHeads, capacity, headDim, heads } = this.shape;
    const p = this.length++;
    for (let g = 0; g < kvHeads; g++) {
      const dst = (g * capacity + p) * headDim;
      for (let c = 0; c < headDim; c++) {
        this.keys[dst + c] = keys[g * headDim + c]!;
        this.values[dst + c] = values[g * headDim + c]!;
      }
    }
    this.q.set(queries);
    this.appended(p);
    initStates(this.states, heads, headDim, this.shape.kind);
    this.attend();
    const stride = headDim + STATE_EXTRA;
    for (let h = 0; h < heads; h++) finishState(this.states, h * stride, headDim, out, h * headDim);
  }

  /** Hook after position p's keys were stored. */
  protected appended(_p: number): void {}

  /** Folds the selected keys into the states of every query head. */
  protected abstract attend(): void;

  /** Attends m query rows (qRows, their states stateRows) of KV head g to positions [start, start+count). */
  protected attendRun(qRows: Float32Array, stateRows: Float32Array, m: number, g: number, start: number, count: number): void {
    if (count <= 0) return;
    const { capacity, headDim } = this.shape;
    this.kernels.attendRange(qRows, m, this.keys, this.values, g * capacity + start, count, headDim, headDim, this.weighting, stateRows);
    this.keysScored += count * m;
    this.keysUsed += count * m;
  }
}

/** StreamingLLM: the first `sinks` positions plus the most recent `window` (the current one included). */
export class SinkWindowAttention extends StoreAttention {
  constructor(shape: AttentionShape, private readonly sinks: number, private readonly window: number) {
    super(shape);
  }

  protected attend(): void {
    const n = this.length;
    const sinkEnd = Math.min(this.sinks, n);
    const windowStart = Math.max(sinkEnd, n - this.window);
    for (let g = 0; g < this.shape.kvHeads; g++) {
      this.attendRun(this.qGroup[g]!, this.stateGroup[g]!, this.group, g, 0, sinkEnd);
      this.attendRun(this.qGroup[g]!, this.stateGroup[g]!, this.group, g, windowStart, n - windowStart);
    }
  }
}

/** Quest: per-page channel min/max bounds select the top pages per query head. */
export class PageTopKAttention extends StoreAttention {
  private readonly lo: Float32Array;     // (kvHeads, pages, headDim) per-channel minimum of the page's keys
  private readonly hi: Float32Array;     // (kvHeads, pages, headDim) per-channel maximum
  private readonly bound: Float32Array;  // (pages) this head's upper bound per page
  private readonly order: Uint32Array;   // (pages) page ids, the chosen ones first
  private readonly maxPages: number;

  constructor(shape: AttentionShape, private readonly pageSize: number, budget: number) {
    super(shape);
    const pages = Math.ceil(shape.capacity / pageSize);
    this.lo = new Float32Array(shape.kvHeads * pages * shape.headDim);
    this.hi = new Float32Array(shape.kvHeads * pages * shape.headDim);
    this.bound = new Float32Array(pages);
    this.order = new Uint32Array(pages);
    this.maxPages = Math.max(1, Math.ceil(budget / pageSize));
  }

  protected override appended(p: number): void {
    const { kvHeads, capacity, headDim } = this.shape;
    const pages = Math.ceil(capacity / this.pageSize);
    const page = Math.floor(p / this.pageSize);
    const first = p % this.pageSize === 0;
    for (let g = 0; g < kvHeads; g++) {
      const k = (g * capacity + p) * headDim, b = (g * pages + page) * headDim;
      for (let c = 0; c < headDim; c++) {
        const x = this.keys[k + c]!;
        if (first || x < this.lo[b + c]!) this.lo[b + c] = x;
        if (first || x > this.hi[b + c]!) this.hi[b + c] = x;
      }
    }
  }

  protected attend(): void {
    const { kvHeads, heads, capacity, headDim } = this.shape;
    const n = this.length, size = this.pageSize;
    const pages = Math.ceil(n / size), allPages = Math.ceil(capacity / size);
    const current = pages - 1;
    if (pages <= this.maxPages) {
      for (let g = 0; g < kvHeads; g++) this.attendRun(this.qGroup[g]!, this.stateGroup[g]!, this.group, g, 0, n);
      return;
    }
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / this.group), q = this.qHead[h]!;
      for (let pg = 0; pg < current; pg++) {
        const b = (g * allPages + pg) * headDim;
        let s = 0;
        for (let c = 0; c < headDim; c++) {
          const qc = q[c]!;
          s += qc > 0 ? qc * this.hi[b + c]! : qc * this.lo[b + c]!;
        }
        this.bound[pg] = s;
        this.order[pg] = pg;
      }
      this.keysScored += 2 * current;
      const kept = this.maxPages - 1;
      selectTop(this.order, current, kept, this.bound);
      this.attendRun(q, this.stateHead[h]!, 1, g, current * size, n - current * size);
      for (let i = 0; i < kept; i++) this.attendRun(q, this.stateHead[h]!, 1, g, this.order[i]! * size, size);
    }
  }
}

/**
 * Moves the k ids of ids[0..n) with the largest key[id] to ids[0..k) (in no particular order):
 * quickselect, in place, O(n) on average, allocating nothing.
 */
export function selectTop(ids: Uint32Array, n: number, k: number, key: Float32Array): void {
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
