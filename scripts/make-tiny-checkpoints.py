#!/usr/bin/env python3
"""Tiny random-weight Llama checkpoints with reference logits from HF transformers.

Writes one folder per config variant under OUT_DIR (config.json, model.safetensors, and for the
tokenizer variant tokenizer.json + tokenizer_config.json), each with `reference.safetensors`:
`input_ids` (I32 [n]) and `logits` (F32 [n, vocab]) from `LlamaForCausalLM` in float32 with eager
attention. The weights are stored as F16 and the reference runs on exactly those values (cast to
float32), so a correct runner matches to float32 rounding. test/model/hf-checkpoints.test.ts checks
the runner against them.

Run where torch, transformers (5.x) and tokenizers are installed; no network is needed:
    python3 scripts/make-tiny-checkpoints.py --text data/factbook-backgrounds.txt --out test/fixtures/hf-tiny
"""
import argparse
import inspect
import json
import os
import traceback

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

BASE = dict(vocab_size=256, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, max_position_embeddings=64, rms_norm_eps=1e-5,
            hidden_act='silu', tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
            bos_token_id=None, eos_token_id=None, pad_token_id=None)
ROPE_THETA = 10000.0

# name -> (config overrides, rope scaling dict or None)
VARIANTS = {
    'byte-gqa': ({}, None),
    'byte-tied-mha': (dict(tie_word_embeddings=True, num_key_value_heads=4), None),
    'byte-mqa-head-dim': (dict(num_key_value_heads=1, head_dim=16), None),
    'byte-rope-linear': ({}, dict(rope_type='linear', factor=2.0)),
    'byte-rope-llama3': ({}, dict(rope_type='llama3', factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                  original_max_position_embeddings=16)),
    'byte-bias': (dict(attention_bias=True, mlp_bias=True), None),
    'bpe-tokenizer': (dict(vocab_size=320), None),
}
BYTE_PROMPT = 'The pass key is 12345. Remember it.\n'
BPE_PROMPT = 'Algeria gained independence in 1962; its capital is Algiers. Café, naïve — 42 €.\n'


def make_config(overrides, rope):
    kwargs = dict(BASE, **overrides)
    params = inspect.signature(LlamaConfig.__init__).parameters
    if 'rope_parameters' in params:   # transformers 5
        kwargs['rope_parameters'] = dict(rope or dict(rope_type='default'), rope_theta=ROPE_THETA)
    else:                             # transformers 4
        kwargs['rope_theta'] = ROPE_THETA
        kwargs['rope_scaling'] = rope
    return LlamaConfig(**kwargs)


def randomize(model, seed):
    """Weights large enough that every part changes the logits (HF's init std 0.02 would hide errors)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight'):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith('bias'):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif 'embed_tokens' in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    # Round the parameters to F16 once, so the stored checkpoint and the reference use the same values.
    # Parameters only: model.half() would also round the rotary inv_freq buffer to F16, and the reference
    # logits would then drift from any runner using float32 frequencies as position grows.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())


def train_tokenizer(text_path, vocab_size, folder):
    """A byte-level BPE tokenizer in the Llama 3 / GPT-2 style, with a BOS token added by the post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=['<|begin_of_text|>', '<|end_of_text|>'],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    with open(text_path, encoding='utf-8') as f:
        text = f.read()[:200_000]
    tok.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer)
    bos = tok.token_to_id('<|begin_of_text|>')
    tok.post_processor = processors.TemplateProcessing(single='<|begin_of_text|> $A', special_tokens=[('<|begin_of_text|>', bos)])
    tok.save(os.path.join(folder, 'tokenizer.json'))
    with open(os.path.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(dict(tokenizer_class='PreTrainedTokenizerFast', bos_token='<|begin_of_text|>', eos_token='<|end_of_text|>',
                       clean_up_tokenization_spaces=False, model_max_length=64), f, indent=2)
    return tok, bos, tok.token_to_id('<|end_of_text|>')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--text', required=True, help='training text for the BPE tokenizer variant')
    args = ap.parse_args()
    print('torch', torch.__version__, 'transformers', transformers.__version__, flush=True)
    for i, (name, (overrides, rope)) in enumerate(VARIANTS.items()):
        try:
            make_variant(args, i, name, overrides, rope)
        except Exception:                            # noqa: BLE001 (one broken variant must not cost the others)
            traceback.print_exc()


def make_variant(args, i, name, overrides, rope):
    """Writes one checkpoint folder with its reference."""
    folder = os.path.join(args.out, name)
    os.makedirs(folder, exist_ok=True)
    if name.startswith('bpe'):
        tok, bos, eos = train_tokenizer(args.text, overrides['vocab_size'], folder)
        overrides = dict(overrides, vocab_size=tok.get_vocab_size(), bos_token_id=bos, eos_token_id=eos)
        enc = tok.encode(BPE_PROMPT)
        ids = enc.ids
        with open(os.path.join(folder, 'tokenizer-reference.json'), 'w') as f:
            json.dump(dict(text=BPE_PROMPT, ids=ids, tokens=enc.tokens,
                           decoded=tok.decode(ids, skip_special_tokens=True)), f, ensure_ascii=False, indent=1)
    else:
        ids = list(BYTE_PROMPT.encode('utf-8'))
    config = make_config(overrides, rope)
    try:
        config._attn_implementation = 'eager'   # the reference attention (sdpa agrees to ~1e-7 anyway)
    except Exception as e:                       # noqa: BLE001 (older/newer config classes)
        print('could not select eager attention:', e)
    model = LlamaForCausalLM(config).eval()
    randomize(model, 1000 + i)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().contiguous()
    model.half().save_pretrained(folder)   # safetensors (the default since transformers 4.35)
    save_file({'input_ids': torch.tensor(ids, dtype=torch.int32), 'logits': logits}, os.path.join(folder, 'reference.safetensors'))
    with open(os.path.join(folder, 'config.json')) as f:
        saved = json.load(f)
    print(name, 'tokens', len(ids), 'logit std', round(logits.std().item(), 3),
          'rope', saved.get('rope_parameters', saved.get('rope_scaling')), 'files', sorted(os.listdir(folder)), flush=True)


if __name__ == '__main__':
    main()
