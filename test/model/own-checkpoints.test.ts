// Users' own Llama-family checkpoints, end to end through loadModel: tiny random-weight checkpoints of
// each config variant the runner reads (GQA ratios, an explicit head_dim, tied embeddings, RoPE scaling
// linear and llama3, attention and MLP biases) written as HF folders, their logits checked against an
// independent float64 forward pass written here from HF's LlamaForCausalLM (modeling_llama.py,
// modeling_rope_utils.py). scripts/make-tiny-checkpoints.py makes the same variants with reference
// logits from HF transformers itself (needs torch and transformers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { LlamaSession } from '../../src/model/llama.js';
import { attentionFactory } from '../../src/model/attention-mode.js';
import { loadModel } from '../../src/node/model.js';
import { seededRandom } from '../../src/report/random.js';

type Json = Record<string, unknown>;
const BASE: Json = { model_type: 'llama', vocab_size: 256, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 8, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: 'silu',
  tie_word_embeddings: false, attention_bias: false, mlp_bias: false };
const LLAMA3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
const VARIANTS: Record<string, Json> = {
  'GQA 4:2': {},
  'MHA, tied embeddings': { num_key_value_heads: 4, tie_word_embeddings: true },
  'MQA, head_dim 16 ≠ hidden/heads': { num_key_value_heads: 1, head_dim: 16 },
  'RoPE linear ×2 (rope_scaling, type)': { rope_scaling: { type: 'linear', factor: 2 } },
  'RoPE llama3 (transformers-5 rope_parameters)': { rope_theta: undefined, rope_parameters: { rope_theta: 10000, ...LLAMA3 } },
  'attention and MLP biases': { attention_bias: true, mlp_bias: true },
};

/** Every tensor HF's LlamaForCausalLM has for this config, random but large enough to matter. */
function weights(c: Json, seed: number): Map<string, { shape: number[]; data: Float64Array }> {
  const r = seededRandom(seed), out = new Map<string, { shape: number[]; data: Float64Array }>();
  const H = c.hidden_size as number, I = c.intermediate_size as number, V = c.vocab_size as number, d = c.head_dim as number;
  const q = (c.num_attention_heads as number) * d, kv = (c.num_key_value_heads as number) * d;
  const put = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(name, { shape, data: Float64Array.from({ length: n }, () => Math.fround(offset + scale * r.gauss())) });
  };
  put('model.embed_tokens.weight', [V, H], 1);
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}.`;
    put(`${p}input_layernorm.weight`, [H], 0.2, 1);
    put(`${p}post_attention_layernorm.weight`, [H], 0.2, 1);
    for (const [n, o, i] of [['q', q, H], ['k', kv, H], ['v', kv, H], ['o', H, q]] as const) {
      put(`${p}self_attn.${n}_proj.weight`, [o, i], 1 / Math.sqrt(i));
      if (c.attention_bias) put(`${p}self_attn.${n}_proj.bias`, [o], 0.2);
    }
    for (const [n, o, i] of [['gate', I, H], ['up', I, H], ['down', H, I]] as const) {
      put(`${p}mlp.${n}_proj.weight`, [o, i], 1 / Math.sqrt(i));
      if (c.mlp_bias) put(`${p}mlp.${n}_proj.bias`, [o], 0.2);
    }
  }
  put('model.norm.weight', [H], 0.2, 1);
  if (!c.tie_word_embeddings) put('lm_head.weight', [V, H], 1 / Math.sqrt(H));
  return out;
}

/** HF's inverse frequencies in float64: default, linear (÷ factor), llama3 (three wavelength bands). */
function invFreq(c: Json): number[] {
  const d = c.head_dim as number, rope = (c.rope_parameters ?? c.rope_scaling ?? {}) as Json;
  const theta = ((c.rope_parameters as Json | undefined)?.rope_theta ?? c.rope_theta) as number;
  const type = rope.rope_type ?? rope.type ?? 'default';
  return Array.from({ length: d / 2 }, (_, i) => {
    const inv = 1 / theta ** (2 * i / d);
    if (type === 'linear') return inv / (rope.factor as number);
    if (type !== 'llama3') return inv;
    const f = rope.factor as number, lo = rope.low_freq_factor as number, hi = rope.high_freq_factor as number, old = rope.original_max_position_embeddings as number;
    const wavelen = 2 * Math.PI / inv;
    if (wavelen > old / lo) return inv / f;
    if (wavelen < old / hi) return inv;
    const s = (old / wavelen - lo) / (hi - lo);
    return (1 - s) * inv / f + s * inv;
  });
}

/** LlamaForCausalLM's forward pass in float64, written out directly: logits [n][vocab]. */
function reference(c: Json, w: Map<string, { data: Float64Array }>, ids: number[]): number[][] {
  const H = c.hidden_size as number, I = c.intermediate_size as number, V = c.vocab_size as number, d = c.head_dim as number;
  const nh = c.num_attention_heads as number, nkv = c.num_key_value_heads as number, eps = c.rms_norm_eps as number;
  const W = (name: string) => w.get(name)!.data;
  const linear = (x: number[], name: string, out: number, bias?: string) => Array.from({ length: out }, (_, o) => {
    let s = bias && w.has(bias) ? W(bias)[o]! : 0;
    for (let i = 0; i < x.length; i++) s += W(name)[o * x.length + i]! * x[i]!;
    return s;
  });
  const norm = (x: number[], name: string) => {
    const r = 1 / Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length + eps);
    return x.map((v, i) => W(name)[i]! * v * r);
  };
  const inv = invFreq(c);
  const rope = (x: number[], pos: number) => {
    const out = x.slice();
    for (let i = 0; i < d / 2; i++) {
      const a = pos * inv[i]!, cos = Math.cos(a), sin = Math.sin(a);
      out[i] = x[i]! * cos - x[i + d / 2]! * sin;
      out[i + d / 2] = x[i + d / 2]! * cos + x[i]! * sin;
    }
    return out;
  };
  let xs = ids.map((t) => Array.from(W('model.embed_tokens.weight').subarray(t * H, (t + 1) * H)));
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}.`;
    const h = xs.map((x) => norm(x, `${p}input_layernorm.weight`));
    const head = (v: number[], j: number) => v.slice(j * d, (j + 1) * d);
    const Q = h.map((x, pos) => { const q = linear(x, `${p}self_attn.q_proj.weight`, nh * d, `${p}self_attn.q_proj.bias`); return Array.from({ length: nh }, (_, j) => rope(head(q, j), pos)); });
    const K = h.map((x, pos) => { const k = linear(x, `${p}self_attn.k_proj.weight`, nkv * d, `${p}self_attn.k_proj.bias`); return Array.from({ length: nkv }, (_, j) => rope(head(k, j), pos)); });
    const Vv = h.map((x) => { const v = linear(x, `${p}self_attn.v_proj.weight`, nkv * d, `${p}self_attn.v_proj.bias`); return Array.from({ length: nkv }, (_, j) => head(v, j)); });
    xs = xs.map((x, i) => {
      const att: number[] = [];
      for (let j = 0; j < nh; j++) {
        const g = Math.floor(j / (nh / nkv));
        const s = Array.from({ length: i + 1 }, (_, t) => Q[i]![j]!.reduce((a, q, e) => a + q * K[t]![g]![e]!, 0) / Math.sqrt(d));
        const m = Math.max(...s), e = s.map((v) => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
        for (let k = 0; k < d; k++) att.push(e.reduce((a, wt, t) => a + wt * Vv[t]![g]![k]!, 0) / z);
      }
      const o = linear(att, `${p}self_attn.o_proj.weight`, H, `${p}self_attn.o_proj.bias`);
      const x1 = x.map((v, k) => v + o[k]!);
      const h2 = norm(x1, `${p}post_attention_layernorm.weight`);
      const gate = linear(h2, `${p}mlp.gate_proj.weight`, I, `${p}mlp.gate_proj.bias`), up = linear(h2, `${p}mlp.up_proj.weight`, I, `${p}mlp.up_proj.bias`);
      const down = linear(gate.map((g, k) => g / (1 + Math.exp(-g)) * up[k]!), `${p}mlp.down_proj.weight`, H, `${p}mlp.down_proj.bias`);
      return x1.map((v, k) => v + down[k]!);
    });
  }
  const head = c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  return xs.map((x) => linear(norm(x, 'model.norm.weight'), head, V));
}

function runnerLogits(dir: string, ids: number[]): Float32Array[] {
  const model = loadModel(dir);
  const s = new LlamaSession(model, attentionFactory({ kind: 'dense' }, model.config, ids.length), { block: 8 });
  const rows: Float32Array[] = [];
  for (let i = 0; i < ids.length; i += 8) {
    const m = Math.min(8, ids.length - i);
    s.forward(ids, i, m);
    for (let r = 0; r < m; r++) rows.push(s.logits.slice(r * model.config.vocabSize, (r + 1) * model.config.vocabSize));
  }
  return rows;
}

const maxDiff = (a: ArrayLike<number>[], b: ArrayLike<number>[]) =>
  a.reduce((m, row, i) => Math.max(m, ...Array.from(row, (v, j) => Math.abs(v - b[i]![j]!))), 0);

test('own checkpoints: logits of every config variant within 1e-4 of an independent float64 LlamaForCausalLM', () => {
  const ids = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 256);
  Object.entries(VARIANTS).forEach(([name, overrides], v) => {
    const c = Object.fromEntries(Object.entries({ ...BASE, ...overrides }).filter(([, x]) => x !== undefined));
    const w = weights(c, 100 + v);
    const dir = mkdtempSync(join(tmpdir(), 'hsr-ckpt-'));
    try {
      const tensors: Record<string, TensorToWrite> = {};
      for (const [n, t] of w) tensors[n] = { dtype: 'F32', shape: t.shape, data: Float32Array.from(t.data) };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
      writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
      const got = runnerLogits(dir, ids), want = reference(c, w, ids);
      const diff = maxDiff(got, want);
      assert.ok(diff < 1e-4, `${name}: max |Δlogit| = ${diff}`);
      // The variant matters: the same weights read as the plain base config give other logits.
      if (Object.keys(overrides).some((k) => k.startsWith('rope'))) {
        const plain = reference({ ...c, rope_scaling: undefined, rope_parameters: undefined, rope_theta: 10000 }, w, ids);
        assert.ok(maxDiff(plain, want) > 1e-3, `${name}: scaling changes the logits`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
