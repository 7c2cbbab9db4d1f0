import type { BackendArray, BackendBuffer, F32Buffer } from './types.js';

/**
 * Growth by doubling — written once here for every store that grows (index points and codes, KV
 * values, dense K/V blocks, host-side per-key arrays), so appends cost amortised O(row).
 */

/**
 * `buf` when it holds `need` elements, else a new buffer of max(need, 2·length) elements from
 * `alloc` holding buf's first `keep` elements; `buf` is then freed. The new block is allocated
 * before the copy's views are taken (an allocation may move backend memory).
 */
export function grownBuffer<T extends BackendArray>(buf: BackendBuffer<T>, need: number, keep: number,
  alloc: (length: number) => BackendBuffer<T>): BackendBuffer<T> {
  if (need <= buf.length) return buf;
  const grown = alloc(Math.max(need, 2 * buf.length));
  if (keep > 0) grown.view().set(buf.view().subarray(0, keep));
  buf.free();
  return grown;
}

type GrowableArray = Float32Array | Float64Array | Int32Array | Uint32Array | Uint8Array;

/** `arr` itself when it holds `need` entries, else a copy at least twice as long (host arrays). */
export function grownTo<T extends GrowableArray>(arr: T, need: number): T {
  if (need <= arr.length) return arr;
  const next = new (arr.constructor as new (length: number) => T)(Math.max(need, arr.length * 2));
  next.set(arr as never);
  return next;
}

/** Where GrowableRows gets its blocks: plain arrays, or a kernels backend's `allocF32` (see below). */
export type F32Allocator = (length: number) => F32Buffer;

const plainF32: F32Allocator = (length) => {
  const a = new Float32Array(length);
  return { length, view: () => a, free: () => {} };
};

/**
 * Row-major float32 rows that grow by doubling. With a kernels backend's allocator the rows live in
 * its memory (docs/kernels.md), so kernel calls read them in place; `data` is then a fresh view,
 * valid until the next allocation on that backend.
 */
export class GrowableRows {
  size = 0;
  private buf: F32Buffer;
  constructor(readonly dim: number, initialRows: number, private readonly alloc: F32Allocator = plainF32) {
    this.buf = alloc(Math.max(1, initialRows) * Math.max(1, dim));
  }
  static from(points: Float32Array, rows: number, dim: number, alloc?: F32Allocator): GrowableRows {
    const g = new GrowableRows(dim, rows, alloc);
    g.data.set(points.subarray(0, rows * dim));
    g.size = rows;
    return g;
  }
  get data(): Float32Array { return this.buf.view(); }
  /** Appends one row ([dim]); returns its id. */
  push(row: Float32Array): number {
    this.buf = grownBuffer(this.buf, (this.size + 1) * this.dim, this.size * this.dim, this.alloc);
    this.buf.view().set(row, this.size * this.dim);
    return this.size++;
  }
  /** Room for `rows` rows without another allocation. */
  reserve(rows: number): void {
    this.buf = grownBuffer(this.buf, rows * this.dim, this.size * this.dim, this.alloc);
  }
}
