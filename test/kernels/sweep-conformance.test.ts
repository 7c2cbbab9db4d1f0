import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gapBucket, type Kernels } from '../../src/kernels/types.js';
import { backends, place, placeI8, rng, unplace, type Backend } from './backends.js';

// Conformance of the quantized index's fused kernels (sweepBoundsI8, sweepCandidatesI8,
// sweepBoundsRows, gapHistogram, selectBuckets) on every backend, against exact arithmetic and gapBucket.

const MAX_F32 = 3.4028234663852886e38;
type Rng = ReturnType<typeof rng>;

/** A sweep problem: keys start..start+count of n, m heads, inputs in the backend's memory if resident. */
interface Sweep {
  m: number; dim: number; start: number; count: number;
  q16: Int16Array; keys8: Int8Array; scales: Float32Array; slacks: Float32Array; codeNorms: Float32Array; coef: Float32Array;
}

/** Magnitudes of the scale-like inputs: ordinary, tiny, huge, or a power of two (exact ties). */
type Scale = 'normal' | 'tiny' | 'huge' | 'pow2';

function magnitude(r: Rng, kind: Scale): number {
  const u = 0.5 + r.uniform();
  return kind === 'tiny' ? 1e-30 * u : kind === 'huge' ? 1e30 * u : kind === 'pow2' ? 2 ** (r.int(8) - 4) : 1e-3 * u * 10 ** r.int(4);
}

function makeSweep(b: Backend, r: Rng, m: number, dim: number, count: number, start: number, kind: Scale, extreme: boolean): Sweep {
  const n = start + count + 1;
  const raw = new Int8Array(n * dim).map(() => (extreme ? (r.int(2) ? 127 : -128) : r.int(256) - 128));
  const f32 = (g: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => g(i));
  const zero = (i: number) => i % 5 === 3; // zero keys: codes 0, scale 0
  for (let i = 0; i < n; i++) if (zero(i)) raw.fill(0, i * dim, (i + 1) * dim);
  const scales = f32((i) => (zero(i) ? 0 : magnitude(r, kind)));
  const slacks = f32(() => (kind === 'pow2' ? 0 : magnitude(r, kind === 'huge' ? 'normal' : kind)));
  const codeNorms = f32(() => (kind === 'pow2' ? 0 : magnitude(r, 'normal') * 100));
  // Queries span the backend's whole range (Kernels.sweepQueryShift: [−2^(s+1), 2^(s+1) − 1]);
  // extremes stay inside the exactness limit (|dot| < 2³¹): ±2¹⁴ against ±127/−128.
  const top = 2 ** (b.kernels.sweepQueryShift + 1);
  const q16 = Int16Array.from({ length: m * dim }, () => (extreme ? (r.int(2) ? top - 1 : -top) : r.int(2 * top) - top));
  if (extreme && dim === 1024) for (let c = 0; c < m * dim; c++) q16[c] = c % 2 ? top - 1 : -(top - 1);
  const coef = new Float32Array(4 * m);
  for (let j = 0; j < m; j++) {
    coef.set([kind === 'pow2' ? 2 ** -(10 + r.int(8)) : magnitude(r, kind === 'huge' ? 'tiny' : kind === 'tiny' ? 'huge' : 'normal'),
      kind === 'pow2' ? 0 : r.uniform(), kind === 'pow2' ? 0 : r.uniform() * 1e-3, 0], 4 * j);
  }
  return { m, dim, start, count, q16, keys8: placeI8(b, raw), scales: place(b, scales), slacks: place(b, slacks), codeNorms: place(b, codeNorms), coef };
}

/** Exact centre C = a·s·dot (float64: a·s is exact, ·dot rounds by ≤ 2⁻⁵³), R = n·slack + e·norm and V ≈ C + R. */
function exact(s: Sweep, j: number, i: number): { c: number; r: number; v: number; scale: number } {
  const k = s.start + i;
  let dot = 0;
  for (let c = 0; c < s.dim; c++) dot += s.q16[j * s.dim + c]! * s.keys8[k * s.dim + c]!;
  const c = s.coef[4 * j]! * s.scales[k]! * dot;
  const r = s.coef[4 * j + 1]! * s.slacks[k]! + s.coef[4 * j + 2]! * s.codeNorms[k]!;
  return { c, r, v: c + r, scale: Math.abs(c) + r };
}

/** Resident backends get their outputs in their own memory too (the in-place paths). */
function outF32(b: Backend, n: number): Float32Array {
  return place(b, new Float32Array(n).fill(NaN));
}

function outI32(b: Backend, n: number): Int32Array {
  if (!b.resident) return new Int32Array(n);
  const f = place(b, new Float32Array(n));
  return new Int32Array(f.buffer, f.byteOffset, n);
}

function outU32(b: Backend, n: number): Uint32Array {
  if (!b.resident) return new Uint32Array(n).fill(0xffffffff);
  const f = place(b, new Float32Array(n));
  return new Uint32Array(f.buffer, f.byteOffset, n).fill(0xffffffff);
}

function sweepCases(): [m: number, dim: number, count: number, start: number, kind: Scale, extreme: boolean][] {
  const cases: [number, number, number, number, Scale, boolean][] = [];
  const dims = [1, 3, 16, 64, 100, 128, 1024];
  const counts = [0, 1, 2, 3, 5, 8, 13, 33];
  const kinds: Scale[] = ['normal', 'tiny', 'huge', 'pow2'];
  let t = 0;
  for (const dim of dims) for (let m = 1; m <= 4; m++) {
    const count = dim === 1024 ? [1, 7][m % 2]! : counts[(t++ * 3 + m) % counts.length]!;
    cases.push([m, dim, count, (t * 7) % 4, kinds[(t + m) % kinds.length]!, dim === 1024 || t % 3 === 0]);
  }
  for (const kind of kinds) cases.push([3, 64, 37, 2, kind, false], [4, 16, 9, 1, kind, true]);
  return cases;
}

/** Every sweepCases() case on backend b with sweepBoundsI8 already run: its inputs and outputs. */
function* sweptCases(b: Backend, r: Rng) {
  for (const [m, dim, count, start, kind, extreme] of sweepCases()) {
    unplace(b);
    const s = makeSweep(b, r, m, dim, count, start, kind, extreme);
    const upper = outF32(b, m * count), centre = outF32(b, m * count);
    b.kernels.sweepBoundsI8(s.q16, m, s.keys8, s.scales, s.slacks, s.codeNorms, start, count, dim, s.coef, upper, centre);
    yield { m, dim, count, start, kind, s, upper, centre };
  }
}

for (const b of backends()) {
  const k: Kernels = b.kernels;
  describe(`quantized sweep kernels: ${b.label}`, () => {
    it('sweepBoundsI8: exact ≤ upper ≤ exact + 2⁻¹⁷·(|C| + R) + 2⁻¹¹⁰, centre within 2⁻²⁰', () => {
      const r = rng(31);
      for (const { m, dim, count, kind, s, upper, centre } of sweptCases(b, r)) {
        for (let j = 0; j < m; j++) for (let i = 0; i < count; i++) {
          const e = exact(s, j, i), u = upper[j * count + i]!, c = centre[j * count + i]!;
          const what = `${kind} m ${m} dim ${dim} count ${count} head ${j} key ${i}: upper ${u} centre ${c} exact ${e.v}`;
          // V is within 2⁻⁵²·(|C| + R) of the exact value, so V + 2⁻⁴⁰·(…) is above it.
          const safe = e.v + 2 ** -40 * e.scale;
          if (safe > -MAX_F32) assert.ok(u >= safe, what); // below −MAX_F32 −Infinity is float32's rounding
          if (e.scale <= MAX_F32 / 2) {
            assert.ok(u <= e.v + 2 ** -17 * e.scale + 2 ** -110, `tight: ${what}`);
            assert.ok(Math.abs(c - e.c) <= 2 ** -20 * Math.abs(e.c) + 2 ** -140, `centre: ${what}`);
          }
        }
      }
    });

    it('sweepCandidatesI8 = {k : sweepBoundsI8 upper ≥ t_j}, ascending, covering every exact hit (ties included)', () => {
      const r = rng(32);
      for (const { m, dim, count, start, kind, s, upper } of sweptCases(b, r)) {
        // t_j: one key's exact value (exactly representable for 'pow2' keys: a tie), a random upper, or ±∞.
        for (let j = 0; j < m; j++) {
          const pick = count > 0 ? r.int(count) : 0;
          s.coef[4 * j + 3] = count === 0 ? 0 : j === 0 ? Math.fround(exact(s, j, pick).v)
            : j === 1 ? upper[j * count + pick]! : j === 2 ? -Infinity : Infinity;
        }
        const ids = outU32(b, m * count), counts = new Int32Array(m).fill(-1);
        k.sweepCandidatesI8(s.q16, m, s.keys8, s.scales, s.slacks, s.codeNorms, start, count, dim, s.coef, ids, counts);
        for (let j = 0; j < m; j++) {
          const t = s.coef[4 * j + 3]!;
          const got = [...ids.subarray(j * count, j * count + counts[j]!)];
          const want: number[] = [];
          for (let i = 0; i < count; i++) if (upper[j * count + i]! >= t) want.push(start + i);
          const what = `${kind} m ${m} dim ${dim} count ${count} head ${j} t ${t}`;
          assert.deepEqual(got, want, what);
          for (let i = 0; i < count; i++) {
            const e = exact(s, j, i), has = got.includes(start + i);
            // Exact hits must be in (V − 2⁻⁴⁰·(…) ≥ t implies exact ≥ t; for 'pow2' V is exact: ties).
            const sure = kind === 'pow2' ? e.v : e.v - 2 ** -40 * e.scale;
            if (sure >= t) assert.ok(has, `missed key ${i} (exact ${e.v}): ${what}`);
            if (e.v + 2 ** -17 * e.scale + 2 ** -110 < t) assert.ok(!has, `spurious key ${i} (exact ${e.v}): ${what}`);
          }
        }
      }
    });

    it('sweepBoundsRows = sweepBoundsI8 bit for bit for any number of rows, rows stride apart', () => {
      const r = rng(35);
      for (const [m, dim, count, start, kind, extreme] of [[1, 64, 0, 0, 'normal', false], [1, 16, 1, 2, 'tiny', true], [5, 64, 7, 1, 'normal', false],
        [16, 64, 300, 3, 'normal', false], [9, 3, 257, 0, 'huge', false], [4, 100, 513, 5, 'pow2', false], [18, 128, 33, 0, 'normal', true],
        [6, 1024, 5, 1, 'normal', true]] as const) {
        unplace(b);
        const s = makeSweep(b, r, m, dim, count, start, kind, extreme);
        const stride = count + 3, upper = outF32(b, m * stride), centre = outF32(b, m * stride);
        k.sweepBoundsRows(s.q16, m, s.keys8, s.scales, s.slacks, s.codeNorms, start, count, dim, s.coef, upper, centre, stride);
        for (let j0 = 0; j0 < m; j0 += 4) {
          const g = Math.min(4, m - j0), wantUp = outF32(b, g * count), wantCentre = outF32(b, g * count);
          k.sweepBoundsI8(s.q16.subarray(j0 * dim, (j0 + g) * dim), g, s.keys8, s.scales, s.slacks, s.codeNorms, start, count, dim,
            s.coef.subarray(4 * j0, 4 * (j0 + g)), wantUp, wantCentre);
          for (let j = 0; j < g; j++) {
            const at = (j0 + j) * stride, what = `${kind} m ${m} dim ${dim} count ${count} row ${j0 + j}`;
            assert.deepEqual([...upper.subarray(at, at + count)], [...wantUp.subarray(j * count, (j + 1) * count)], what);
            assert.deepEqual([...centre.subarray(at, at + count)], [...wantCentre.subarray(j * count, (j + 1) * count)], `centre: ${what}`);
            const gap = [...upper.subarray(at + count, at + stride), ...centre.subarray(at + count, at + stride)];
            assert.ok(gap.every((x) => Number.isNaN(x)), `wrote between rows: ${what}`);
          }
        }
      }
    });

    it('gapHistogram: top exact, buckets = gapBucket bit for bit, certificate b/W ≤ top − upper', () => {
      const r = rng(33);
      const shapes = ['gauss', 'equal', 'wide', 'huge', 'grid'] as const;
      for (const count of [0, 1, 2, 3, 4, 5, 31, 64, 257, 1001]) for (const [W, B] of [[1, 1], [4, 2], [2 ** -3, 7], [16, 64], [1, 40], [16, 768]] as const) {
        unplace(b);
        const shape = shapes[(count + B) % shapes.length]!;
        const upper = Float32Array.from({ length: count }, () =>
          shape === 'equal' ? 1.5 : shape === 'wide' ? r.gauss() * 30 : shape === 'huge' ? (r.int(2) ? 1e30 : -1e30) * r.uniform()
            // gaps of exactly k/W: where the 1 − 2⁻²² shrink decides the bucket
            : shape === 'grid' ? 2 - r.int(B + 2) / W : r.gauss());
        // 4·B of room (the kernels' scratch); the result is in [0, B). Resident or not, as callers do.
        const counts = outI32(b, 4 * B).fill(-7);
        const top = k.gapHistogram(place(b, upper), count, W, B, counts);
        const what = `count ${count} W ${W} B ${B} ${shape}`;
        assert.ok(top === (count === 0 ? -Infinity : Math.max(...upper)), `top ${top}: ${what}`);
        const wantCounts = new Int32Array(B);
        for (let i = 0; i < count; i++) {
          const bi = gapBucket(top, upper[i]!, W, B);
          assert.ok(bi / W <= top - upper[i]!, `certificate key ${i}: ${what}`);
          if (top - upper[i]! > ((B - 1) / W) * (1 + 2 ** -20)) assert.equal(bi, B - 1, `far gap in last bucket: ${what}`);
          wantCounts[bi]!++;
        }
        assert.deepEqual([...counts.subarray(0, B)], [...wantCounts], what);
      }
    });

    it('selectBuckets = the ids of keys whose gapBucket lies in [from, to], empty and single ranges included', () => {
      const r = rng(34);
      for (const count of [0, 1, 3, 4, 9, 100, 1003]) for (const [W, B] of [[1, 1], [4, 8], [2 ** -2, 33], [16, 768]] as const) {
        unplace(b);
        const upper = Float32Array.from({ length: count }, () => r.gauss() * 10);
        const top = count === 0 ? -Infinity : Math.max(...upper);
        const u = place(b, upper);
        const base = r.int(1000);
        for (const [from, to] of [[0, B - 1], [0, 0], [B - 1, B - 1], [r.int(B), r.int(B)], [2, 1], [B, B + 3]] as const) {
          const ids = outU32(b, count + 4);
          const n = k.selectBuckets(u, count, top, W, B, from, to, base, ids);
          // The documented room: ids[0 .. min(n, count − 1)] may be written, nothing after.
          assert.ok([...ids.subarray(Math.min(n + 1, count))].every((x) => x === 0xffffffff), `wrote past ids[min(n, count − 1)]: count ${count} [${from}, ${to}]`);
          const want: number[] = [];
          for (let i = 0; i < count; i++) {
            const bi = gapBucket(top, upper[i]!, W, B);
            if (bi >= from && bi <= to) want.push(base + i);
          }
          assert.deepEqual([...ids.subarray(0, n)], want, `count ${count} W ${W} B ${B} [${from}, ${to}]`);
        }
      }
    });
  });
}
