import { grownTo } from '../kernels/growable.js';

/**
 * A reusable growing list of ids: queries append hits here (no per-hit allocation) and copy the
 * final list out once, so a query allocates only its result.
 */
export class IdList {
  ids = new Uint32Array(64);
  length = 0;

  clear(): this { this.length = 0; return this; }

  push(id: number): void {
    if (this.length === this.ids.length) this.ids = grownTo(this.ids, this.length + 1);
    this.ids[this.length++] = id;
  }

  /** Appends ids[0..count). */
  pushAll(ids: Uint32Array, count: number): void {
    if (this.length + count > this.ids.length) this.ids = grownTo(this.ids, this.length + count);
    this.ids.set(ids.subarray(0, count), this.length);
    this.length += count;
  }

  /** A copy of the ids (the query result). */
  toArray(): Uint32Array { return this.ids.slice(0, this.length); }
}
