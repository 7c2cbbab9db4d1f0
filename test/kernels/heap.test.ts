import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LinearHeap } from '../../src/kernels/wasm/heap.js';
import { createKernelMemory } from '../../src/kernels/wasm/wasm-kernels.js';
import { wasmApi } from '../../src/kernels/wasm/wasm-api.js';
import { rng } from './backends.js';

it('LinearHeap hands out disjoint 64-byte-aligned blocks (page-aligned from 4 KiB) above the reserved page, reuses and coalesces freed ones, grows memory on demand', () => {
  const memory = createKernelMemory(false, 1);
  const heap = new LinearHeap(memory);
  const r = rng(41);
  const live = new Map<number, number>();
  for (let step = 0; step < 2000; step++) {
    if (live.size > 0 && r.uniform() < 0.45) {
      const ptrs = [...live.keys()];
      const p = ptrs[r.int(ptrs.length)]!;
      heap.release(p);
      live.delete(p);
    } else {
      const bytes = 1 + r.int(r.uniform() < 0.05 ? 3_000_000 : 5000);
      const p = heap.alloc(bytes);
      assert.equal(p % 64, 0);
      if (bytes >= 4096) assert.equal(p % 4096, 0, `a block of ${bytes} bytes starts on a page`);
      assert.ok(p >= 65536, 'address 0 .. 64 KiB stays unused');
      assert.ok(p + bytes <= memory.buffer.byteLength, 'block inside the memory');
      for (const [q, n] of live) assert.ok(p + bytes <= q || q + n <= p, `block ${p}+${bytes} overlaps ${q}+${n}`);
      live.set(p, bytes);
    }
  }
  for (const p of live.keys()) heap.release(p);
  assert.equal(heap.used, 0);
  // Everything was freed and coalesced: one block as large as the whole heap fits without growing.
  const size = memory.buffer.byteLength;
  const p = heap.alloc(size - 65536 - 64);
  assert.equal(p, 65536);
  assert.equal(memory.buffer.byteLength, size);
});

it('LinearHeap grows by what a block needs when growing by half would pass the memory\'s maximum', () => {
  const memory = new (wasmApi()!.Memory)({ initial: 4, maximum: 5 });
  const heap = new LinearHeap(memory);
  heap.alloc(3 * 65536);                          // pages 1–3: the memory is full
  const p = heap.alloc(65536);                    // needs one more page; half the memory would be two
  assert.equal(p, 4 * 65536);
  assert.equal(memory.buffer.byteLength, 5 * 65536);
  assert.throws(() => heap.alloc(64), RangeError, 'past the maximum the memory cannot grow');
});
