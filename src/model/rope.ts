/**
 * Rotary position embeddings, HF Llama "rotate_half" convention (first half / second half of the
 * head, not interleaved pairs):
 *   inv_freq[i] = θ^(−2i/d) (then the config's scaling, rope-scaling.ts),  angle = pos · inv_freq[i]  (i < d/2)
 *   out[i]       = x[i]·cos − x[i + d/2]·sin
 *   out[i + d/2] = x[i + d/2]·cos + x[i]·sin
 * Angles are formed in float32 exactly as HF computes them (inv_freq and pos·inv_freq rounded to
 * float32), because at positions in the thousands that rounding moves an angle by ~1e-4 rad and the
 * reference likelihoods were computed that way.
 */
import { inverseFrequencies, type RopeConfig } from './rope-scaling.js';

export class RopeTable {
  // (built, headDim/2): filled for the positions used so far and grown by doubling up to
  // maxPositions, so a config declaring a huge context costs nothing until it is used.
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  private built = 0;
  private readonly half: number;
  private readonly invFreq: Float32Array;

  constructor(readonly headDim: number, readonly maxPositions: number, rope: RopeConfig) {
    const half = (this.half = headDim / 2);
    this.invFreq = inverseFrequencies(headDim, rope);
  }

  /** Rotates `count` consecutive heads of `x` starting at `offset`, in place, for position `pos` (< maxPositions). */
  apply(x: Float32Array, offset: number, count: number, pos: number): void {
    if (pos >= this.built) this.build(pos + 1);
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

  /** Extends the table to at least `need` positions (doubling, at most maxPositions). */
  private build(need: number): void {
    const half = this.half;
    const size = Math.min(this.maxPositions, Math.max(need, 2 * this.built, 256));
    const cos = new Float32Array(size * half), sin = new Float32Array(size * half);
    cos.set(this.cos); sin.set(this.sin);
    for (let p = this.built; p < size; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * this.invFreq[i]!);
        cos[p * half + i] = Math.cos(angle);
        sin[p * half + i] = Math.sin(angle);
      }
    }
    this.cos = cos; this.sin = sin; this.built = size;
  }
}
