// Reading users' Llama-family checkpoints: config variants read or refused by name, RoPE scaling
// frequencies against a float64 transcription of HF's formulas, and the tokenizer a folder gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModelConfig } from '../../src/model/config.js';
import { inverseFrequencies, type RopeConfig } from '../../src/model/rope-scaling.js';
import { HfTokenizer } from '../../src/node/hf-tokenizer.js';
import { loadTokenizer } from '../../src/node/tokenizer.js';
import { HsrError } from '../../src/errors.js';

const isCode = (code: string, pattern?: RegExp) => (e: unknown) => e instanceof HsrError && e.code === code && (!pattern || pattern.test(e.message));
const base = { model_type: 'llama', vocab_size: 256, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 8, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000 };
const llama3 = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };

test('RoPE scaling reads the transformers-5 and the older spellings alike; other types are refused by name', () => {
  const v5 = parseModelConfig({ ...base, rope_theta: undefined, rope_parameters: { rope_type: 'llama3', rope_theta: 10000, ...llama3 } });
  const v4 = parseModelConfig({ ...base, rope_scaling: { rope_type: 'llama3', ...llama3 } });
  const old = parseModelConfig({ ...base, rope_scaling: { type: 'llama3', ...llama3 } });
  assert.deepEqual(v5.rope, v4.rope);
  assert.deepEqual(v4.rope, old.rope);
  assert.deepEqual(v5.rope.scaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 });
  assert.deepEqual(parseModelConfig({ ...base, rope_scaling: { type: 'linear', factor: 2 } }).rope.scaling, { type: 'linear', factor: 2 });
  assert.deepEqual(parseModelConfig({ ...base, rope_scaling: null }).rope, { theta: 10000, scaling: { type: 'default' } });
  for (const type of ['dynamic', 'yarn', 'longrope']) {
    assert.throws(() => parseModelConfig({ ...base, rope_scaling: { rope_type: type, factor: 2 } }), isCode('UNSUPPORTED', new RegExp(`"${type}"`)));
  }
  assert.throws(() => parseModelConfig({ ...base, rope_scaling: { type: 'linear' } }), isCode('MALFORMED_FILE', /factor/));
  assert.throws(() => parseModelConfig({ ...base, rope_scaling: { rope_type: 'llama3', ...llama3, high_freq_factor: 0.5 } }), isCode('MALFORMED_FILE'));
  assert.throws(() => parseModelConfig({ ...base, rope_scaling: 'linear' }), isCode('MALFORMED_FILE'));
});

test('inverse frequencies: linear divides by the factor; llama3 follows HF\'s three bands (float64 transcription)', () => {
  const d = 64, theta = 500000;
  const plain = inverseFrequencies(d, { theta, scaling: { type: 'default' } });
  const linear = inverseFrequencies(d, { theta, scaling: { type: 'linear', factor: 4 } });
  plain.forEach((x, i) => assert.ok(Math.abs(linear[i]! - x / 4) <= 1e-6 * x));
  const s = { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } as const;
  const got = inverseFrequencies(d, { theta, scaling: s } as RopeConfig);
  let bands = 0;
  plain.forEach((inv, i) => {
    const wavelen = 2 * Math.PI / inv, low = 8192 / 1, high = 8192 / 4;
    let want = inv;
    if (wavelen > low) want = inv / 32;
    else if (wavelen >= high) { const sm = (8192 / wavelen - 1) / 3; want = (1 - sm) * inv / 32 + sm * inv; bands |= 2; }
    if (wavelen > low) bands |= 4; else if (wavelen < high) bands |= 1;
    assert.ok(Math.abs(got[i]! - want) <= 1e-6 * want, `i=${i}: ${got[i]} vs ${want}`);
  });
  assert.equal(bands, 7, 'all three bands occur');
});

test('config variants: biases and tied embeddings read; other model types and malformed flags refused', () => {
  const c = parseModelConfig({ ...base, attention_bias: true, mlp_bias: true, tie_word_embeddings: true, num_key_value_heads: 1 });
  assert.deepEqual([c.attentionBias, c.mlpBias, c.tieEmbeddings, c.kvHeads], [true, true, true, 1]);
  assert.throws(() => parseModelConfig({ ...base, model_type: 'mistral' }), isCode('UNSUPPORTED', /model_type "llama"/));
  assert.throws(() => parseModelConfig({ ...base, attention_bias: 'yes' }), isCode('MALFORMED_FILE', /attention_bias/));
  assert.throws(() => parseModelConfig({ ...base, num_key_value_heads: 3 }), isCode('MALFORMED_FILE'));
});

// A byte-level BPE tokenizer.json small enough to write by hand: "hello" is one token after three merges.
const tinyBpe = {
  version: '1.0', truncation: null, padding: null,
  added_tokens: [{ id: 0, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } } },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
    ignore_merges: false, vocab: { '<s>': 0, h: 1, e: 2, l: 3, o: 4, 'Ġ': 5, w: 6, r: 7, d: 8, he: 9, ll: 10, llo: 11, hello: 12 },
    merges: ['h e', 'l l', 'll o', 'he llo'] },
};

test('tokenizer.json runs through @huggingface/tokenizers: BOS from the post-processor, merges, decode and streaming decode', () => {
  const t = new HfTokenizer(tinyBpe);
  assert.deepEqual(t.encode('hello world'), [0, 12, 5, 6, 4, 7, 3, 8]);
  assert.equal(t.decode(t.encode('hello world')), 'hello world');
  const d = t.streamDecoder();
  assert.equal([12, 5, 6, 4, 7, 3, 8].map((id) => d.push(id)).join('') + d.flush(), 'hello world');
  assert.equal(t.vocabSize, 13);
  assert.throws(() => new HfTokenizer({ nope: 1 }), isCode('MALFORMED_FILE'));
});

test('a folder gets its tokenizer.json, bytes for a 256-token vocabulary, and a clear NOT_FOUND otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-tok-'));
  try {
    assert.equal(loadTokenizer(dir, parseModelConfig(base)).kind, 'bytes');
    assert.throws(() => loadTokenizer(dir, parseModelConfig({ ...base, vocab_size: 32000 })),
      isCode('NOT_FOUND', /expected tokenizer\.json beside config\.json for a vocabulary of 32000 tokens/));
    writeFileSync(join(dir, 'tokenizer.model'), 'sentencepiece');
    assert.throws(() => loadTokenizer(dir, parseModelConfig({ ...base, vocab_size: 32000 })), isCode('NOT_FOUND', /SentencePiece/));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyBpe));
    assert.equal(loadTokenizer(dir, parseModelConfig({ ...base, vocab_size: 16 })).kind, 'tokenizer.json');
    assert.throws(() => loadTokenizer(dir, parseModelConfig({ ...base, vocab_size: 8 })), isCode('MALFORMED_FILE', /vocab_size 8/));
    writeFileSync(join(dir, 'tokenizer.json'), '{ not json');
    assert.throws(() => loadTokenizer(dir, parseModelConfig(base)), isCode('MALFORMED_FILE'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
