import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceAttention } from '../../src/attention/reference.js';
import { finishState, initStates, lseMerge } from '../../src/kernels/state.js';
import type { Kernels, Weighting } from '../../src/kernels/types.js';
import { backends, gaussArray, place, placeI8, rng, unplace, weightings } from './backends.js';

// Lengths around the SIMD widths (4, 8, 16) and the attendRange block (64), and zero.
const DIMS = [1, 3, 4, 5, 8, 15, 16, 17, 63, 64, 128, 130];
const COUNTS = [0, 1, 2, 3, 7, 64, 65, 131];

/** float64 ⟨a[ao..], b[bo..]⟩ and Σ|a_c b_c| (the scale of float32 rounding error). */
function dot64(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): [number, number] {
  let s = 0, abs = 0;
  for (let c = 0; c < n; c++) { const t = a[ao + c]! * b[bo + c]!; s += t; abs += Math.abs(t); }
  return [s, abs];
}

/** float32 summation error bound for n products, with slack for reassociation. */
function dotTol(n: number, abs: number): number {
  return (n + 8) * 1.2e-7 * abs + 1e-30;
}

function assertClose(got: number, want: number, tol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} (tolerance ${tol})`);
}

const softmax: Weighting = { kind: 'softmax', scale: 1, bias: 0, alpha: 1 };

for (const b of backends()) {
  const k: Kernels = b.kernels;
  describe(`kernels conformance: ${b.label}`, () => {
    it('scoreBlockMulti(q, 1, keys, start, count) = float64 dots for every dim and count, offsets included', () => {
      const r = rng(1);
      for (const dim of DIMS) for (const count of COUNTS) {
        unplace(b);
        const start = r.int(3);
        const q = gaussArray(r, dim), keys = place(b, gaussArray(r, (start + count) * dim));
        const out = new Float32Array(count + 1).fill(99);
        k.scoreBlockMulti(q, 1, keys, start, count, dim, out);
        assert.equal(out[count], 99);
        for (let i = 0; i < count; i++) {
          const [want, abs] = dot64(q, 0, keys, (start + i) * dim, dim);
          assertClose(out[i]!, want, dotTol(dim, abs), `dim ${dim} count ${count} key ${i}`);
        }
      }
    });

    it('scoreBlockMulti(m queries) = float64 dots, [m, count] layout, m = 1..9', () => {
      const r = rng(2);
      for (const dim of [3, 16, 17, 64, 128]) for (const m of [1, 2, 3, 4, 5, 8, 9]) for (const count of [0, 1, 5, 64, 67]) {
        unplace(b);
        const start = r.int(4);
        const qs = gaussArray(r, m * dim), keys = place(b, gaussArray(r, (start + count) * dim));
        const out = new Float32Array(m * count);
        k.scoreBlockMulti(qs, m, keys, start, count, dim, out);
        for (let j = 0; j < m; j++) for (let i = 0; i < count; i++) {
          const [want, abs] = dot64(qs, j * dim, keys, (start + i) * dim, dim);
          assertClose(out[j * count + i]!, want, dotTol(dim, abs), `m ${m} dim ${dim} (${j},${i})`);
        }
      }
    });

    it('scoreIds gathers rows by id (repeats and any order)', () => {
      const r = rng(3);
      for (const dim of [1, 5, 64, 128]) {
        const n = 50;
        const q = gaussArray(r, dim), keys = place(b, gaussArray(r, n * dim));
        const ids = Uint32Array.from({ length: 33 }, () => r.int(n));
        const out = new Float32Array(ids.length);
        k.scoreIds(q, keys, ids, ids.length, dim, out);
        ids.forEach((id, i) => {
          const [want, abs] = dot64(q, 0, keys, id * dim, dim);
          assertClose(out[i]!, want, dotTol(dim, abs), `dim ${dim} id ${id}`);
        });
      }
    });

    it('scoreBlockI8 = scale · ⟨q, int8 key⟩ including −128 and 127', () => {
      const r = rng(4);
      for (const dim of DIMS) for (const count of [0, 1, 17, 64]) {
        const start = r.int(3);
        const raw = new Int8Array((start + count) * dim).map((_, i) => (i % 7 === 0 ? (i % 2 ? 127 : -128) : r.int(256) - 128));
        const keys8 = placeI8(b, raw);
        const scales = place(b, Float32Array.from({ length: start + count }, () => r.uniform() * 0.1));
        const q = gaussArray(r, dim);
        const out = new Float32Array(count);
        k.scoreBlockI8(q, keys8, scales, start, count, dim, out);
        for (let i = 0; i < count; i++) {
          const [d, abs] = dot64(q, 0, keys8, (start + i) * dim, dim);
          const s = scales[start + i]!;
          assertClose(out[i]!, s * d, dotTol(dim, abs) * s + 1e-30, `dim ${dim} key ${i}`);
        }
      }
    });

    it('scoreBlockI8I16 = exact integer ⟨q16_j, int8 key⟩ for m queries, extremes ±2¹⁴ · −128/127 at dim 1024', () => {
      const r = rng(14);
      const cases: [number, number, number][] = [];
      for (const dim of DIMS) for (const m of [0, 1, 2, 3, 4, 7]) cases.push([dim, m, m === 0 ? 5 : [0, 1, 17, 64][(dim + m) % 4]!]);
      cases.push([1024, 3, 5]);
      for (const [dim, m, count] of cases) {
        const start = r.int(3);
        const extreme = dim === 1024;
        const raw = new Int8Array((start + count) * dim).map((_, i) => (extreme ? (i % 2 ? -128 : 127) : i % 7 === 0 ? (i % 2 ? 127 : -128) : r.int(256) - 128));
        const keys8 = placeI8(b, raw);
        const q16 = Int16Array.from({ length: m * dim }, (_, i) => (extreme ? (i % 2 ? -16384 : 16384) : r.int(32769) - 16384));
        const out = new Int32Array(m * count).fill(-1);
        k.scoreBlockI8I16(q16, m, keys8, start, count, dim, out);
        for (let j = 0; j < m; j++) for (let i = 0; i < count; i++) {
          const [d] = dot64(q16, j * dim, keys8, (start + i) * dim, dim);
          assert.equal(out[j * count + i], d, `dim ${dim} m ${m} query ${j} key ${i}`);
        }
      }
    });

    it('boundsFromDots = the float64 centre ± radius, bit for bit', () => {
      const r = rng(16);
      for (const [count, start] of [[0, 2], [1, 0], [37, 5], [64, 0]] as const) {
        const n = start + count + 3;
        const f64 = (g: () => number) => Float64Array.from({ length: n }, g);
        const scales = f64(() => r.uniform() * 10 ** (r.int(9) - 4)), slacks = f64(() => r.uniform()), codeNorms = f64(() => r.uniform() * 100);
        const dots = Int32Array.from({ length: count }, () => r.int(2 ** 31) - 2 ** 30);
        const [f, qn, qe] = [2 ** (r.int(40) - 20), r.uniform() * 5, r.uniform() * 1e-3];
        const up = new Float64Array(n).fill(NaN), lo = new Float64Array(n).fill(NaN);
        k.boundsFromDots(dots, count, 13, scales, slacks, codeNorms, start, f, qn, qe, up, lo);
        for (let i = 0; i < n; i++) {
          const j = i - start;
          if (j < 0 || j >= count) { assert.ok(Number.isNaN(up[i]!) && Number.isNaN(lo[i]!), 'outside the range untouched'); continue; }
          const centre = scales[i]! * f * (dots[j]! * 2 ** -13), radius = qn * slacks[i]! + qe * codeNorms[i]!;
          assert.equal(up[i], centre + radius);
          assert.equal(lo[i], centre - radius);
        }
      }
    });

    for (const w of weightings) {
      it(`attendRange, accumulateIds (in blocks and shuffled) match referenceAttention (${w.kind}, scale ${w.scale}, bias ${w.bias}, α ${w.alpha})`, () => {
        const r = rng(6);
        for (const [dim, dv] of [[16, 16], [5, 7], [64, 64], [128, 128], [3, 130]] as const) for (const n of [1, 2, 63, 64, 65, 200]) for (const m of [1, 3, 4, 6]) {
          unplace(b);
          const q = gaussArray(r, m * dim), keys = place(b, gaussArray(r, n * dim)), values = place(b, gaussArray(r, n * dv));
          const want = referenceAttention({ q, m, k: keys, n, v: values, d: dim, dv, kind: w.kind, scale: w.scale, alpha: w.alpha, bias: w.bias, causal: false });
          const tol = 3e-5 * (w.alpha === 3 ? 10 : 1);
          // Fused decode over [0, n) split at a random point and merged by log-sum-exp.
          const cut = r.int(n + 1);
          const s1 = new Float32Array(m * (dv + 2)), s2 = new Float32Array(m * (dv + 2));
          initStates(s1, m, dv, w.kind); initStates(s2, m, dv, w.kind);
          k.attendRange(q, m, keys, values, 0, cut, dim, dv, w, s1);
          k.attendRange(q, m, keys, values, cut, n - cut, dim, dv, w, s2);
          const out = new Float32Array(dv);
          for (let j = 0; j < m; j++) {
            lseMerge(s1, j * (dv + 2), s2, j * (dv + 2), dv);
            finishState(s1, j * (dv + 2), dv, out, 0);
            for (let c = 0; c < dv; c++) assertClose(out[c]!, want[j * dv + c]!, tol, `attendRange dim ${dim} n ${n} m ${m} cut ${cut} query ${j} col ${c}`);
          }
          // Two-step path: scoreIds then accumulateIds over blocks of 37 consecutive keys, query 0
          // (each block merged into the state as the max rises).
          const st = new Float32Array(dv + 2);
          initStates(st, 1, dv, w.kind);
          const dots = new Float32Array(37), blockIds = new Uint32Array(37);
          for (let s = 0; s < n; s += 37) {
            const c = Math.min(37, n - s);
            for (let i = 0; i < c; i++) blockIds[i] = s + i;
            k.scoreIds(q, keys, blockIds, c, dim, dots);
            k.accumulateIds(st, dots, c, w, values, blockIds, dv);
          }
          finishState(st, 0, dv, out, 0);
          for (let c = 0; c < dv; c++) assertClose(out[c]!, want[c]!, tol, `accumulateIds in blocks dim ${dim} n ${n} col ${c}`);
          // Ids path: all keys in a shuffled order give the same output.
          const ids = Uint32Array.from({ length: n }, (_, i) => i);
          for (let i = n - 1; i > 0; i--) { const j = r.int(i + 1); [ids[i], ids[j]] = [ids[j]!, ids[i]!]; }
          const idDots = new Float32Array(n);
          initStates(st, 1, dv, w.kind);
          k.scoreIds(q, keys, ids, n, dim, idDots);
          k.accumulateIds(st, idDots, n, w, values, ids, dv);
          finishState(st, 0, dv, out, 0);
          for (let c = 0; c < dv; c++) assertClose(out[c]!, want[c]!, tol, `accumulateIds dim ${dim} n ${n} col ${c}`);
        }
      });
    }

    it('online softmax survives logits of ±1e4 rising block after block (exact integer dots)', () => {
      const r = rng(7);
      const dim = 5, dv = 6, n = 300;
      // Key j's first coordinate is its logit (q = e_0, scale 1): dots are exact in float32.
      const keysRaw = new Float32Array(n * dim), q = new Float32Array(dim);
      q[0] = 1;
      for (let j = 0; j < n; j++) keysRaw[j * dim] = Math.round(-1e4 + (2e4 * j) / n + r.uniform() * 30);
      keysRaw[7 * dim] = 1e4; // an early max that later blocks only tie or fall below
      const keys = place(b, keysRaw), values = place(b, gaussArray(r, n * dv));
      const want = referenceAttention({ q, m: 1, k: keys, n, v: values, d: dim, dv, kind: 'softmax', scale: 1, alpha: 1, bias: 0, causal: false });
      const st = new Float32Array(dv + 2);
      initStates(st, 1, dv, 'softmax');
      k.attendRange(q, 1, keys, values, 0, n, dim, dv, softmax, st);
      const out = new Float32Array(dv);
      finishState(st, 0, dv, out, 0);
      for (let c = 0; c < dv; c++) assertClose(out[c]!, want[c]!, 1e-5, `col ${c}`);
      assert.equal(st[dv], 1e4);
    });

    it('n = 0 leaves states untouched; all-zero ReLU rows give zeros; zero keys give the mean of V', () => {
      const dim = 9, dv = 10, n = 70, m = 2;
      const zeros = place(b, new Float32Array(n * dim));
      const vRaw = Float32Array.from({ length: n * dv }, (_, i) => (i % 13) - 6);
      const values = place(b, vRaw);
      const q = Float32Array.from({ length: m * dim }, (_, i) => i - 5);
      const st = new Float32Array(m * (dv + 2));
      initStates(st, m, dv, 'relu');
      k.attendRange(q, m, zeros, values, 0, 0, dim, dv, { kind: 'relu', scale: 1, bias: 0, alpha: 1 }, st);
      k.attendRange(q, m, zeros, values, 0, n, dim, dv, { kind: 'relu', scale: 1, bias: 0, alpha: 1 }, st);
      const out = new Float32Array(dv).fill(5);
      finishState(st, 0, dv, out, 0);
      assert.deepEqual([...out], new Array(dv).fill(0));
      initStates(st, m, dv, 'softmax');
      k.attendRange(q, m, zeros, values, 0, n, dim, dv, softmax, st);
      finishState(st, dv + 2, dv, out, 0);
      for (let c = 0; c < dv; c++) {
        let mean = 0;
        for (let j = 0; j < n; j++) mean += vRaw[j * dv + c]! / n;
        assertClose(out[c]!, mean, 1e-5, `col ${c}`);
      }
    });

    it('huge values (1e30) in V and 1e15-scale keys stay finite and exact to rounding', () => {
      const r = rng(8);
      const dim = 4, dv = 5, n = 40;
      const keys = place(b, gaussArray(r, n * dim, 1e15));
      const values = place(b, gaussArray(r, n * dv, 1e30));
      const q = gaussArray(r, dim, 1e-15);
      const want = referenceAttention({ q, m: 1, k: keys, n, v: values, d: dim, dv, kind: 'softmax', scale: 1, alpha: 1, bias: 0, causal: false });
      const st = new Float32Array(dv + 2);
      initStates(st, 1, dv, 'softmax');
      k.attendRange(q, 1, keys, values, 0, n, dim, dv, softmax, st);
      const out = new Float32Array(dv);
      finishState(st, 0, dv, out, 0);
      for (let c = 0; c < dv; c++) assertClose(out[c]!, want[c]!, 1e-5 * 1e30 * 4, `col ${c}`);
    });

    it('allocF32 views survive growth by re-viewing and freed blocks are reused', () => {
      unplace(b);
      const a = k.allocF32(1000);
      a.view().fill(3);
      const big = k.allocF32(5_000_000); // forces the wasm memory to grow
      assert.equal(a.view().length, 1000);
      assert.ok(a.view().every((x) => x === 3));
      big.free();
      const again = k.allocF32(4_000_000);
      assert.equal(again.view().length, 4_000_000);
      again.free(); a.free();
    });
  });
}
