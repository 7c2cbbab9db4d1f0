import type { WasmMemory } from './wasm-api.js';

const PAGE = 65536;
/** Blocks start on cache-line boundaries: aligned SIMD loads and no false sharing between threads. */
const ALIGN = 64;
/**
 * Blocks of at least this many bytes start on 4 KiB page boundaries too: the dense kernel streams
 * keys 4–7 % slower from a block that starts 1 KiB into a page than from a page-aligned one (same
 * data and call, `bench/heap-alignment.ts`), likely because its 64-key blocks then span five pages
 * instead of four and hardware prefetchers stop at page boundaries. Without this, where a cache's
 * keys landed depended on what was allocated before them (docs/sparse-decode.md, "Flat keys").
 */
const PAGE_ALIGN_FROM = 4096;
const PAGE_BYTES = 4096;

/**
 * A first-fit free-list allocator over a WebAssembly linear memory, run from JavaScript (the
 * AssemblyScript kernels never allocate). Address 0 .. `base` stays unused so that 0 can mean
 * "no array" in kernel arguments. Growing the memory detaches every earlier view of it; the heap
 * reports each growth through `onGrow` so owners of views know to re-view.
 */
export class LinearHeap {
  /** Free blocks as [start, end) byte ranges, sorted by start, never adjacent (coalesced). */
  private readonly freeBlocks: { start: number; end: number }[] = [];
  private readonly sizes = new Map<number, number>();
  private top: number;

  constructor(readonly memory: WasmMemory, base = PAGE) {
    this.top = base;
  }

  /** Bytes currently handed out (for tests and stats). */
  get used(): number {
    let s = 0;
    for (const b of this.sizes.values()) s += b;
    return s;
  }

  /** A block of at least `bytes` bytes, ALIGN-aligned (page-aligned from PAGE_ALIGN_FROM bytes on); may grow the memory. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const align = size >= PAGE_ALIGN_FROM ? PAGE_BYTES : ALIGN;
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const b = this.freeBlocks[i]!;
      const ptr = alignUp(b.start, align);
      if (ptr + size > b.end) continue;
      // The block splits into [start, ptr) (kept free when not empty), the new block and [ptr + size, end).
      const rest = { start: ptr + size, end: b.end };
      if (ptr > b.start) {
        b.end = ptr;
        if (rest.start < rest.end) this.freeBlocks.splice(i + 1, 0, rest);
      } else if (rest.start < rest.end) {
        b.start = rest.start;
      } else {
        this.freeBlocks.splice(i, 1);
      }
      this.sizes.set(ptr, size);
      return ptr;
    }
    // Nothing free fits: take from the top, first absorbing a free block that ends there.
    const last = this.freeBlocks[this.freeBlocks.length - 1];
    if (last !== undefined && last.end === this.top) {
      this.top = last.start;
      this.freeBlocks.pop();
    }
    const ptr = alignUp(this.top, align);
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      // Grow by at least half the current size so a growing cache reallocates O(log n) times — or,
      // near the memory's maximum (4 GiB), by what this block needs, which may still fit.
      const needed = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(Math.max(needed, Math.ceil(have / PAGE / 2)));
      } catch {
        this.memory.grow(needed);
      }
    }
    // The alignment gap stays free (never adjacent to the last free block: that one ends below top).
    if (ptr > this.top) this.freeBlocks.push({ start: this.top, end: ptr });
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block from `alloc`; freeing twice or a foreign pointer is a no-op. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    let start = ptr, end = ptr + size;
    // Insert sorted, merging with neighbours.
    let i = 0;
    while (i < this.freeBlocks.length && this.freeBlocks[i]!.start < start) i++;
    const prev = this.freeBlocks[i - 1], next = this.freeBlocks[i];
    if (next !== undefined && next.start === end) { end = next.end; this.freeBlocks.splice(i, 1); }
    if (prev !== undefined && prev.end === start) { prev.end = end; return; }
    this.freeBlocks.splice(i, 0, { start, end });
  }
}

/** x rounded up to a multiple of `align` (a power of two). */
function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}
