/**
 * The model's parameters as float32 (stored F16/BF16/F32 are decoded once at load).
 * Linear weights keep the HF layout `[out, in]` row-major: y = W·x is one dot product per output row.
 */
import { HsrError } from '../errors.js';
import type { TensorSource } from '../io/safetensors.js';
import { assertFinite } from '../tensor/matrix.js';
import type { ModelConfig } from './config.js';

export interface LayerWeights {
  attnNorm: Float32Array; // (hidden)
  wq: Float32Array;       // (heads·headDim, hidden)
  wk: Float32Array;       // (kvHeads·headDim, hidden)
  wv: Float32Array;       // (kvHeads·headDim, hidden)
  wo: Float32Array;       // (hidden, heads·headDim)
  mlpNorm: Float32Array;  // (hidden)
  wGate: Float32Array;    // (intermediate, hidden)
  wUp: Float32Array;      // (intermediate, hidden)
  wDown: Float32Array;    // (hidden, intermediate)
  /** Biases of the projections, present when the config says attention_bias / mlp_bias. */
  bq?: Float32Array; bk?: Float32Array; bv?: Float32Array; bo?: Float32Array;
  bGate?: Float32Array; bUp?: Float32Array; bDown?: Float32Array;
}

export interface ModelWeights {
  embed: Float32Array;    // (vocab, hidden)
  layers: LayerWeights[];
  finalNorm: Float32Array; // (hidden)
  lmHead: Float32Array;   // (vocab, hidden); the embedding itself when tied
}

/** Reads every tensor the config calls for, checking each shape and that every value is finite (NaN weights would only show as NaN output). */
export function loadWeights(source: TensorSource, c: ModelConfig): ModelWeights {
  const get = (name: string, shape: number[]): Float32Array => {
    if (!source.has(name)) throw new HsrError('NOT_FOUND', `model weights: expected a tensor ${name}, got none`);
    const t = source.float32(name);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new HsrError('SHAPE_MISMATCH', `model weights: expected ${name} of shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
    }
    assertFinite(t.data, `model weights: ${name}`);
    return t.data;
  };
  const qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}.`;
    layers.push({
      attnNorm: get(`${p}input_layernorm.weight`, [c.hidden]),
      wq: get(`${p}self_attn.q_proj.weight`, [qDim, c.hidden]),
      wk: get(`${p}self_attn.k_proj.weight`, [kvDim, c.hidden]),
      wv: get(`${p}self_attn.v_proj.weight`, [kvDim, c.hidden]),
      wo: get(`${p}self_attn.o_proj.weight`, [c.hidden, qDim]),
      mlpNorm: get(`${p}post_attention_layernorm.weight`, [c.hidden]),
      wGate: get(`${p}mlp.gate_proj.weight`, [c.intermediate, c.hidden]),
      wUp: get(`${p}mlp.up_proj.weight`, [c.intermediate, c.hidden]),
      wDown: get(`${p}mlp.down_proj.weight`, [c.hidden, c.intermediate]),
      ...(c.attentionBias ? {
        bq: get(`${p}self_attn.q_proj.bias`, [qDim]), bk: get(`${p}self_attn.k_proj.bias`, [kvDim]),
        bv: get(`${p}self_attn.v_proj.bias`, [kvDim]), bo: get(`${p}self_attn.o_proj.bias`, [c.hidden]),
      } : {}),
      ...(c.mlpBias ? {
        bGate: get(`${p}mlp.gate_proj.bias`, [c.intermediate]), bUp: get(`${p}mlp.up_proj.bias`, [c.intermediate]),
        bDown: get(`${p}mlp.down_proj.bias`, [c.hidden]),
      } : {}),
    });
  }
  const embed = get('model.embed_tokens.weight', [c.vocabSize, c.hidden]);
  const lmHead = c.tieEmbeddings && !source.has('lm_head.weight') ? embed : get('lm_head.weight', [c.vocabSize, c.hidden]);
  return { embed, layers, finalNorm: get('model.norm.weight', [c.hidden]), lmHead };
}
