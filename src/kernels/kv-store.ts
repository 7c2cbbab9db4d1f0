import { HsrError } from '../errors.js';
import { assertCount, assertUpFrontSize } from '../tensor/matrix.js';
import { GrowableRows } from './growable.js';
import type { CoreKernels } from './types.js';

/**
 * The key rows of an index that keeps them itself (a HalfSpaceReporter): the store appends a key
 * through `insert` and reads the rows back through `points()`, so the index's points are the keys'
 * only copy (the quantized index keeps them next to its codes, in the kernels' memory).
 */
export interface KeyRowsOwner {
  readonly size: number;
  insert(point: Float32Array): number;
  points(): Float32Array;
}

/**
 * One KV head's keys and values (docs/kv-layout.md): row-major, id = position, in a backend's
 * memory (allocF32) so the kernels read them in place, grown by doubling (growable.ts). The one
 * store `KVCache`, `DenseDecoder` and the baselines keep per KV head. An index attaches by owning
 * the key rows ({@link KeyRowsOwner}); without one the store keeps them. Views (`keys`, `values`)
 * are fresh on every call: any allocation on the backend may move its memory.
 */
export class KvHeadStore {
  private readonly keyRows: GrowableRows | null;
  private readonly valueRows: GrowableRows;

  constructor(readonly headDim: number, readonly valueDim: number, kernels: CoreKernels,
    readonly index: KeyRowsOwner | null = null, initialRows = 64) {
    const alloc = (length: number) => kernels.allocF32(length);
    this.keyRows = index === null ? new GrowableRows(headDim, initialRows, alloc) : null;
    this.valueRows = new GrowableRows(valueDim, initialRows, alloc);
  }

  get length(): number { return this.valueRows.size; }
  /** Keys [≥ length, headDim]. */
  get keys(): Float32Array { return this.keyRows ? this.keyRows.data : this.index!.points(); }
  /** Values [≥ length, valueDim]. */
  get values(): Float32Array { return this.valueRows.data; }

  /** Appends one position (key [headDim], value [valueDim]); returns its id. */
  append(key: Float32Array, value: Float32Array): number {
    if (this.keyRows) this.keyRows.push(key);
    else this.index!.insert(key);
    return this.valueRows.push(value);
  }

  /** Room for `rows` positions (keys too when the store keeps them) without another allocation. */
  reserve(rows: number): void {
    this.keyRows?.reserve(rows);
    this.valueRows.reserve(rows);
  }
}

/** The head counts of a grouped-query store (KVCache, DenseDecoder options). */
export interface GroupedHeadsOptions {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Default headDim. */
  valueDim?: number;
}

/** Grouped-query head counts, checked: heads a multiple of kvHeads, all ≥ 1; valueDim defaults to headDim. */
export interface GroupedHeads {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly valueDim: number;
  /** Query heads per KV head: query head h reads KV head ⌊h / group⌋. */
  readonly group: number;
}

/** Validates the head counts of a grouped-query store (KVCache, DenseDecoder); throws BAD_OPTION naming the field. */
export function resolveGroupedHeads(options: GroupedHeadsOptions, where: string): GroupedHeads {
  const { heads, kvHeads, headDim } = options;
  for (const [name, x] of [['heads', heads], ['kvHeads', kvHeads], ['headDim', headDim]] as const) {
    assertCount(x, `${where} ${name}`);
    if (x < 1) throw new HsrError('BAD_OPTION', `${where}: expected ${name} ≥ 1, got ${x}`);
  }
  if (heads % kvHeads !== 0) {
    throw new HsrError('BAD_OPTION', `${where}: expected heads (${heads}) to be a multiple of kvHeads, got kvHeads = ${kvHeads}`);
  }
  const valueDim = options.valueDim ?? headDim;
  assertCount(valueDim, `${where} valueDim`);
  if (valueDim < 1) throw new HsrError('BAD_OPTION', `${where}: expected valueDim ≥ 1, got ${valueDim}`);
  // Per-head buffers and the first blocks of every KV head are allocated right after this.
  assertUpFrontSize((heads + 64 * kvHeads) * (headDim + valueDim), `${where} (heads + 64·kvHeads)·(headDim + valueDim)`);
  return { heads, kvHeads, headDim, valueDim, group: heads / kvHeads };
}
