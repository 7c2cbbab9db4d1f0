/**
 * A Llama-architecture decoder (pre-norm, RMSNorm, RoPE, grouped-query attention, SwiGLU MLP),
 * read top to bottom like llama2.c's run.c: `LlamaModel` holds config + weights (shared, read-only);
 * a `LlamaSession` holds one sequence's run state and per-layer attention, every buffer allocated
 * once in the constructor. `forward` runs a block of up to `block` tokens: the weight products are
 * matrix–matrix over the block (much faster per token than matrix–vector), attention runs token by
 * token through each layer's `LayerAttention` (append this position's key/value, then attend), so
 * causality holds inside the block.
 */
import { HsrError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { LayerAttention } from './layer-attention.js';
import { createKernels, type KernelBackend } from '../kernels/index.js';
import { WeightProducts } from './matmul.js';
import { addBias, addInPlace, rmsNorm, swiglu } from './ops.js';
import { RopeTable } from './rope.js';
import type { ModelWeights } from './weights.js';

export class LlamaModel {
  readonly rope: RopeTable;
  /** The weight products' backend ('wasm-simd' or 'js'); the weights are made resident in it here. */
  readonly products: WeightProducts;

  constructor(readonly config: ModelConfig, readonly weights: ModelWeights, options: { kernels?: KernelBackend } = {}) {
    this.rope = new RopeTable(config.headDim, config.maxPositions, config.rope);
    this.products = new WeightProducts(createKernels({ backend: options.kernels ?? 'auto' }));
    for (const l of weights.layers) for (const w of [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown]) this.products.prepare(w);
    this.products.prepare(weights.lmHead);
  }
}

/** Creates layer l's attention for a session of `capacity` positions. */
export type AttentionFactory = (layer: number) => LayerAttention;

export class LlamaSession {
  /** Positions processed so far (the next token's position). */
  pos = 0;
  readonly attention: LayerAttention[];
  readonly block: number;
  // Run state, B = block (rows are tokens of the current block):
  private readonly x: Float32Array;      // (B, hidden) residual stream
  private readonly xb: Float32Array;     // (B, hidden) normalised input of a sub-block
  private readonly q: Float32Array;      // (B, heads·headDim)
  private readonly k: Float32Array;      // (B, kvHeads·headDim)
  private readonly v: Float32Array;      // (B, kvHeads·headDim)
  private readonly att: Float32Array;    // (B, heads·headDim) attention output, heads concatenated
  private readonly proj: Float32Array;   // (B, hidden) o_proj / down_proj output
  private readonly gate: Float32Array;   // (B, intermediate)
  private readonly up: Float32Array;     // (B, intermediate)
  readonly logits: Float32Array;         // (B, vocab) logits of the last block's rows
  private readonly qTok: Float32Array;   // (heads·headDim) one token's queries, handed to attention
  private readonly kTok: Float32Array;   // (kvHeads·headDim)
  private readonly vTok: Float32Array;   // (kvHeads·headDim)
  private readonly outTok: Float32Array; // (heads·headDim)

  constructor(readonly model: LlamaModel, attention: AttentionFactory, options: { block?: number } = {}) {
    const c = model.config;
    const B = (this.block = options.block ?? 32);
    if (!Number.isSafeInteger(B) || B < 1) throw new HsrError('BAD_OPTION', `LlamaSession: expected block ≥ 1, got ${B}`);
    const qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim;
    this.attention = Array.from({ length: c.layers }, (_, l) => attention(l));
    this.x = new Float32Array(B * c.hidden);
    this.xb = new Float32Array(B * c.hidden);
    this.q = new Float32Array(B * qDim);
    this.k = new Float32Array(B * kvDim);
    this.v = new Float32Array(B * kvDim);
    this.att = new Float32Array(B * qDim);
    this.proj = new Float32Array(B * c.hidden);
    this.gate = new Float32Array(B * c.intermediate);
    this.up = new Float32Array(B * c.intermediate);
    this.logits = new Float32Array(B * c.vocabSize);
    this.qTok = new Float32Array(qDim);
    this.kTok = new Float32Array(kvDim);
    this.vTok = new Float32Array(kvDim);
    this.outTok = new Float32Array(qDim);
  }

  /** Attention work summed over layers so far. */
  get keysScored(): number { return this.attention.reduce((s, a) => s + a.keysScored, 0); }
  get keysUsed(): number { return this.attention.reduce((s, a) => s + a.keysUsed, 0); }

  /**
   * Runs tokens[start .. start+m) (m ≤ block) at positions pos .. pos+m−1. With `logits` true,
   * `this.logits` row i then holds the next-token logits after token start+i; without, the output
   * head is skipped (prefill of a prompt whose predictions are not needed).
   */
  forward(tokens: ArrayLike<number>, start: number, m: number, logits = true): void {
    const c = this.model.config, w = this.model.weights, rope = this.model.rope;
    const mm = this.model.products;
    const H = c.hidden, qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim, I = c.intermediate;
    if (m < 1 || m > this.block || this.pos + m > c.maxPositions) {
      throw new HsrError('BAD_OPTION', `LlamaSession.forward: expected 1 ≤ m ≤ ${this.block} tokens within ${c.maxPositions} positions, got m = ${m} at position ${this.pos}`);
    }
    for (let i = 0; i < m; i++) {
      const t = tokens[start + i]!;
      if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) throw new HsrError('BAD_OPTION', `LlamaSession.forward: expected token ids in [0, ${c.vocabSize}), got ${t}`);
      for (let j = 0; j < H; j++) this.x[i * H + j] = w.embed[t * H + j]!;
    }
    for (let l = 0; l < c.layers; l++) {
      const lw = w.layers[l]!, attn = this.attention[l]!;
      // Attention sub-block: x += o_proj(attention(rope(q), rope(k), v)) over rms_norm(x).
      rmsNorm(this.x, lw.attnNorm, m, H, c.rmsNormEps, this.xb);
      mm.run(this.xb, m, lw.wq, qDim, H, this.q);
      mm.run(this.xb, m, lw.wk, kvDim, H, this.k);
      mm.run(this.xb, m, lw.wv, kvDim, H, this.v);
      if (lw.bq) { addBias(this.q, lw.bq, m, qDim); addBias(this.k, lw.bk!, m, kvDim); addBias(this.v, lw.bv!, m, kvDim); }
      for (let i = 0; i < m; i++) {
        const p = this.pos + i;
        rope.apply(this.q, i * qDim, c.heads, p);
        rope.apply(this.k, i * kvDim, c.kvHeads, p);
        copyRow(this.q, i * qDim, this.qTok, qDim);
        copyRow(this.k, i * kvDim, this.kTok, kvDim);
        copyRow(this.v, i * kvDim, this.vTok, kvDim);
        attn.step(this.qTok, this.kTok, this.vTok, this.outTok);
        this.att.set(this.outTok, i * qDim);
      }
      mm.run(this.att, m, lw.wo, H, qDim, this.proj);
      if (lw.bo) addBias(this.proj, lw.bo, m, H);
      addInPlace(this.x, this.proj, m * H);
      // MLP sub-block: x += down(silu(gate(h)) · up(h)), h = rms_norm(x).
      rmsNorm(this.x, lw.mlpNorm, m, H, c.rmsNormEps, this.xb);
      mm.run(this.xb, m, lw.wGate, I, H, this.gate);
      mm.run(this.xb, m, lw.wUp, I, H, this.up);
      if (lw.bGate) { addBias(this.gate, lw.bGate, m, I); addBias(this.up, lw.bUp!, m, I); }
      swiglu(this.gate, this.up, m * I);
      mm.run(this.gate, m, lw.wDown, H, I, this.proj);
      if (lw.bDown) addBias(this.proj, lw.bDown, m, H);
      addInPlace(this.x, this.proj, m * H);
    }
    this.pos += m;
    if (!logits) return;
    rmsNorm(this.x, w.finalNorm, m, H, c.rmsNormEps, this.xb);
    mm.run(this.xb, m, w.lmHead, c.vocabSize, H, this.logits);
  }
}

function copyRow(src: Float32Array, offset: number, dst: Float32Array, n: number): void {
  for (let j = 0; j < n; j++) dst[j] = src[offset + j]!;
}
