import type { F32Buffer, Kernels } from '../kernels/types.js';
/**
 * y = x·Wᵀ for a block of m input rows: y[i·outDim + o] = ⟨x_i, w_o⟩, with x (m, inDim) and
 * W (outDim, inDim) row-major as HF stores Linear weights. This is where a forward pass spends
 * most of its time outside attention.
 *
 * Register blocking: a 4×4 tile of outputs keeps 16 accumulators in registers while one pass over
 * the inner dimension streams 4 input rows and 4 weight rows, so every loaded value is used 4
 * times (a matrix-vector product uses each weight once; that is why prefill in blocks of tokens is
 * several times faster per token than one token at a time). A row of W is at most a few KiB, so the
 * 8 rows a tile touches stay in L1 without further blocking of the inner dimension.
 * Accumulation is in float64 (JS numbers); the result is rounded to float32 on store.
 */
export function matmul(x: Float32Array, m: number, w: Float32Array, outDim: number, inDim: number, y: Float32Array): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const x0 = i * inDim, x1 = x0 + inDim, x2 = x1 + inDim, x3 = x2 + inDim;
    let o = 0;
    for (; o + 4 <= outDim; o += 4) {
      const w0 = o * inDim, w1 = w0 + inDim, w2 = w1 + inDim, w3 = w2 + inDim;
      let a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
      let a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
      for (let k = 0; k < inDim; k++) {
        const b0 = w[w0 + k]!, b1 = w[w1 + k]!, b2 = w[w2 + k]!, b3 = w[w3 + k]!;
        const c0 = x[x0 + k]!, c1 = x[x1 + k]!, c2 = x[x2 + k]!, c3 = x[x3 + k]!;
        a00 += c0 * b0; a01 += c0 * b1; a02 += c0 * b2; a03 += c0 * b3;
        a10 += c1 * b0; a11 += c1 * b1; a12 += c1 * b2; a13 += c1 * b3;
        a20 += c2 * b0; a21 += c2 * b1; a22 += c2 * b2; a23 += c2 * b3;
        a30 += c3 * b0; a31 += c3 * b1; a32 += c3 * b2; a33 += c3 * b3;
      }
      const y0 = i * outDim + o, y1 = y0 + outDim, y2 = y1 + outDim, y3 = y2 + outDim;
      y[y0] = a00; y[y0 + 1] = a01; y[y0 + 2] = a02; y[y0 + 3] = a03;
      y[y1] = a10; y[y1 + 1] = a11; y[y1 + 2] = a12; y[y1 + 3] = a13;
      y[y2] = a20; y[y2 + 1] = a21; y[y2 + 2] = a22; y[y2 + 3] = a23;
      y[y3] = a30; y[y3 + 1] = a31; y[y3 + 2] = a32; y[y3 + 3] = a33;
    }
    for (; o < outDim; o++) for (let r = 0; r < 4; r++) y[(i + r) * outDim + o] = dot(x, (i + r) * inDim, w, o * inDim, inDim);
  }
  for (; i < m; i++) matvecRow(x, i * inDim, w, outDim, inDim, y, i * outDim);
}

/** One input row against every weight row (the m = 1 case): four rows at a time share the loads of x. */
function matvecRow(x: Float32Array, xOff: number, w: Float32Array, outDim: number, inDim: number, y: Float32Array, yOff: number): void {
  let o = 0;
  for (; o + 4 <= outDim; o += 4) {
    const w0 = o * inDim, w1 = w0 + inDim, w2 = w1 + inDim, w3 = w2 + inDim;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let k = 0; k < inDim; k++) {
      const c = x[xOff + k]!;
      a0 += c * w[w0 + k]!; a1 += c * w[w1 + k]!; a2 += c * w[w2 + k]!; a3 += c * w[w3 + k]!;
    }
    y[yOff + o] = a0; y[yOff + o + 1] = a1; y[yOff + o + 2] = a2; y[yOff + o + 3] = a3;
  }
  for (; o < outDim; o++) y[yOff + o] = dot(x, xOff, w, o * inDim, inDim);
}

function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[aOff + k]! * b[bOff + k]!;
  return s;
}

/**
 * The weight products of a model, on a kernel backend. With WebAssembly SIMD the weights are
 * copied once into the backend's linear memory (`prepare`), and y = x·Wᵀ is its `scoreBlockMulti`
 * (m queries against outDim "keys" of length inDim: exactly this product), about 5× the plain-JS
 * `matmul` on this machine; activations are staged in and out per call (small next to the work).
 * With the js backend it is `matmul` above.
 */
export class WeightProducts {
  private readonly resident = new Map<Float32Array, F32Buffer>();

  constructor(readonly kernels: Kernels) {}

  get name(): string { return this.kernels.name; }

  /** Makes `w` resident in the backend's memory (once per weight; a no-op for the js backend). */
  prepare(w: Float32Array): void {
    if (this.kernels.capabilities.hostArraysResident || this.resident.has(w)) return;
    const buf = this.kernels.allocF32(w.length);
    buf.view().set(w);
    this.resident.set(w, buf);
  }

  /** y (m, outDim) = x (m, inDim) · wᵀ, w (outDim, inDim). */
  run(x: Float32Array, m: number, w: Float32Array, outDim: number, inDim: number, y: Float32Array): void {
    const buf = this.resident.get(w);
    if (buf === undefined) matmul(x, m, w, outDim, inDim, y);
    else this.kernels.scoreBlockMulti(x, m, buf.view(), 0, outDim, inDim, y);
  }
}
