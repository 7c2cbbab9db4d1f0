/**
 * Row-major float32 storage that grows by doubling, so `insert` costs amortised O(dim).
 */
export class GrowableRows {
  data: Float32Array;
  size = 0;
  constructor(readonly dim: number, initialRows: number) {
    this.data = new Float32Array(Math.max(1, initialRows) * Math.max(1, dim));
  }
  static from(points: Float32Array, rows: number, dim: number): GrowableRows {
    const g = new GrowableRows(dim, rows);
    g.data.set(points.subarray(0, rows * dim));
    g.size = rows;
    return g;
  }
  push(point: Float32Array): number {
    const need = (this.size + 1) * this.dim;
    if (need > this.data.length) this.data = grownTo(this.data, need);
    this.data.set(point, this.size * this.dim);
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
