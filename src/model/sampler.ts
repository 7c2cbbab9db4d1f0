/**
 * Next-token sampling from logits: greedy (temperature 0), or temperature with optional nucleus
 * (top-p) truncation, driven by a seeded PRNG so runs are reproducible. Buffers are sized once for
 * the vocabulary.
 */
import { HsrError } from '../errors.js';

export interface SamplerOptions {
  /** 0 = greedy (argmax). Default 0. */
  temperature?: number;
  /** Keep the smallest set of tokens whose probability sums to ≥ topP. Default 1 (no truncation). */
  topP?: number;
  /** PRNG seed (32-bit). Default 0. */
  seed?: number;
}

export class Sampler {
  private readonly temperature: number;
  private readonly topP: number;
  private rng: number;
  private readonly probs: Float64Array;  // (vocab)
  private readonly order: Uint32Array;   // (vocab) token ids by descending probability
  private readonly byProbDesc = (a: number, b: number): number => this.probs[b]! - this.probs[a]!;

  constructor(readonly vocabSize: number, options: SamplerOptions = {}) {
    this.temperature = options.temperature ?? 0;
    this.topP = options.topP ?? 1;
    if (!(this.temperature >= 0) || !Number.isFinite(this.temperature)) {
      throw new HsrError('BAD_OPTION', `Sampler: expected temperature ≥ 0, got ${options.temperature}`);
    }
    if (!(this.topP > 0 && this.topP <= 1)) throw new HsrError('BAD_OPTION', `Sampler: expected 0 < topP ≤ 1, got ${options.topP}`);
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new HsrError('BAD_OPTION', `Sampler: expected an integer seed, got ${seed}`);
    this.rng = seed >>> 0;
    this.probs = new Float64Array(vocabSize);
    this.order = new Uint32Array(vocabSize);
  }

  /** A uniform number in [0, 1) (mulberry32). */
  random(): number {
    let t = (this.rng = (this.rng + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Picks the next token from logits[offset .. offset + vocab). */
  sample(logits: Float32Array, offset = 0): number {
    const n = this.vocabSize;
    if (this.temperature === 0) {
      let best = 0;
      for (let j = 1; j < n; j++) if (logits[offset + j]! > logits[offset + best]!) best = j;
      return best;
    }
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, logits[offset + j]!);
    let sum = 0;
    for (let j = 0; j < n; j++) sum += (this.probs[j] = Math.exp((logits[offset + j]! - max) / this.temperature));
    for (let j = 0; j < n; j++) { this.probs[j] = this.probs[j]! / sum; this.order[j] = j; }
    let kept = n, mass = 1;
    if (this.topP < 1) {
      this.order.sort(this.byProbDesc);
      mass = 0;
      for (kept = 0; kept < n && mass < this.topP; kept++) mass += this.probs[this.order[kept]!]!;
    }
    const r = this.random() * mass;
    let acc = 0;
    for (let i = 0; i < kept; i++) {
      acc += this.probs[this.order[i]!]!;
      if (r < acc) return this.order[i]!;
    }
    return this.order[kept - 1]!;
  }
}
