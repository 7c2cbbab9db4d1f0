import type { F32Buffer } from '../kernels/types.js';

/** Where GrowableRows gets its blocks: plain arrays, or a kernels backend's `allocF32` (see below). */
export type F32Allocator = (length: number) => F32Buffer;

const plainF32: F32Allocator = (length) => {
  const a = new Float32Array(length);
  return { length, view: () => a, free: () => {} };
};

/**
 * Row-major float32 storage that grows by doubling, so `insert` costs amortised O(dim). With a
 * kernels backend's allocator the rows live in its memory (docs/kernels.md), so kernel calls read
 * them in place; `data` is then a fresh view, valid until the next allocation on that backend.
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
  push(point: Float32Array): number {
    const need = (this.size + 1) * this.dim;
    if (need > this.buf.length) {
      const grown = this.alloc(Math.max(need, this.buf.length * 2));
      grown.view().set(this.buf.view());
      this.buf.free();
      this.buf = grown;
    }
    this.buf.view().set(point, this.size * this.dim);
    return this.size++;
  }
}

type GrowableArray = Float32Array | Float64Array | Int32Array | Uint32Array;

/** `arr` itself when it holds `need` entries, else a copy at least twice as long (amortised O(1) appends). */
export function grownTo<T extends GrowableArray>(arr: T, need: number): T {
  if (need <= arr.length) return arr;
  const next = new (arr.constructor as new (length: number) => T)(Math.max(need, arr.length * 2));
  next.set(arr as never);
  return next;
}
