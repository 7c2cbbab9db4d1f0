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
    if (need > this.data.length) {
      const grown = new Float32Array(Math.max(need, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(point, this.size * this.dim);
    return this.size++;
  }
}
