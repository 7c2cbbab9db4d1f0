/**
 * A reusable growing list of ids: queries append hits here (no per-hit allocation) and copy the
 * final list out once, so a query allocates only its result.
 */
export class IdList {
  ids = new Uint32Array(64);
  length = 0;

  clear(): this { this.length = 0; return this; }

  push(id: number): void {
    if (this.length === this.ids.length) this.grow(this.length + 1);
    this.ids[this.length++] = id;
  }

  /** Appends ids start, start+1, ..., end−1. */
  pushRange(start: number, end: number): void {
    if (this.length + end - start > this.ids.length) this.grow(this.length + end - start);
    for (let id = start; id < end; id++) this.ids[this.length++] = id;
  }

  /** Makes room for `capacity` ids in total. */
  grow(capacity: number): void {
    if (capacity <= this.ids.length) return;
    const next = new Uint32Array(Math.max(capacity, this.ids.length * 2));
    next.set(this.ids.subarray(0, this.length));
    this.ids = next;
  }

  /** A copy of the ids (the query result). */
  toArray(): Uint32Array { return this.ids.slice(0, this.length); }
}
