/**
 * Rotary position embeddings, HF Llama "rotate_half" convention (first half / second half of the
 * head, not interleaved pairs):
 *   inv_freq[i] = θ^(−2i/d),  angle = pos · inv_freq[i]  (i < d/2)
 *   out[i]       = x[i]·cos − x[i + d/2]·sin
 *   out[i + d/2] = x[i + d/2]·cos + x[i]·sin
 * Angles are formed in float32 exactly as HF computes them (inv_freq and pos·inv_freq rounded to
 * float32), because at positions in the thousands that rounding moves an angle by ~1e-4 rad and the
 * reference likelihoods were computed that way.
 */
export class RopeTable {
  readonly cos: Float32Array; // (maxPositions, headDim/2)
  readonly sin: Float32Array; // (maxPositions, headDim/2)
  private readonly half: number;

  constructor(readonly headDim: number, readonly maxPositions: number, theta: number) {
    const half = (this.half = headDim / 2);
    this.cos = new Float32Array(maxPositions * half);
    this.sin = new Float32Array(maxPositions * half);
    for (let i = 0; i < half; i++) {
      const invFreq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
      for (let p = 0; p < maxPositions; p++) {
        const angle = Math.fround(p * invFreq);
        this.cos[p * half + i] = Math.cos(angle);
        this.sin[p * half + i] = Math.sin(angle);
      }
    }
  }

  /** Rotates `count` consecutive heads of `x` starting at `offset`, in place, for position `pos`. */
  apply(x: Float32Array, offset: number, count: number, pos: number): void {
    const { half, headDim } = this;
    const t = pos * half;
    for (let h = 0; h < count; h++) {
      const o = offset + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = this.cos[t + i]!, s = this.sin[t + i]!;
        const a = x[o + i]!, b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = b * c + a * s;
      }
    }
  }
}
