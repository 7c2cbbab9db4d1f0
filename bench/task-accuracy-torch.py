#!/usr/bin/env python3
"""Dense task accuracy of the retrieval models, answered by an independent PyTorch forward pass on a GPU.

The library's own runs (bench/task-accuracy.ts) cost minutes per 8k trial on a CPU core; this answers
the same prompts (written by `bench/task-accuracy.ts --prompts FILE`, each exactly the prompt of
`hsr-attn eval TASK --trials 1 --seed S`) with dense attention in float32 on a GPU, hundreds per cell, so
the dense accuracies carry narrow intervals, and pairs with the library's dense answers on the seeds both ran.

A trial is correct when the argmax at every answer position, teacher-forced on the answer, is the answer
byte: exactly when greedy decoding would produce the answer. `got` holds those argmaxes (after a first
wrong byte they can differ from what greedy decoding would print).

The forward pass is written from the models' READMEs (Llama: RMSNorm, RoPE rotate_half, GQA, SwiGLU;
softmax, or ReLU^alpha with bias for `attention_kind: "relu"`); `--check-hf` compares it with HF
transformers' LlamaForCausalLM on the softmax model first.

    python3 bench/task-accuracy-torch.py --prompts prompts.jsonl --models packages/hsr-attention-models \\
        --model bytelm-recall-10m --model bytelm-relu-recall-10m --out dense-torch.jsonl --check-hf
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import load_file


def load(folder, device):
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    w = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith('.safetensors'):
            w.update({k: v.to(device=device, dtype=torch.float32) for k, v in load_file(os.path.join(folder, f)).items()})
    return cfg, w


def rope_tables(cfg, n, device):
    d = cfg.get('head_dim') or cfg['hidden_size'] // cfg['num_attention_heads']
    theta = cfg.get('rope_theta') or cfg['rope_parameters']['rope_theta']
    inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float().to(device), ang.sin().float().to(device)


def rotate(x, cos, sin):
    h = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., h:], x[..., :h]], dim=-1) * sin


def rms(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def attention(cfg, q, k, v):
    """q [B, H, T, d], k/v [B, H, T, d] (KV heads already repeated): causal dense attention."""
    if cfg.get('attention_kind', 'softmax') != 'relu':
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    alpha, bias = cfg['relu_alpha'], cfg['relu_bias']
    T = q.shape[-2]
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    out = torch.empty_like(q)
    for h in range(q.shape[1]):   # one head at a time: [B, T, T] scores fit easily
        s = q[:, h] @ k[:, h].transpose(-1, -2) / math.sqrt(q.shape[-1])
        wgt = torch.relu(s - bias).pow(alpha) * mask
        den = wgt.sum(-1, keepdim=True)
        out[:, h] = torch.where(den > 0, (wgt @ v[:, h]) / den.clamp_min(1e-30), torch.zeros_like(q[:, h]))
    return out


@torch.no_grad()
def forward(cfg, w, ids, rope):
    B, T = ids.shape
    H, KV = cfg['num_attention_heads'], cfg['num_key_value_heads']
    d = cfg.get('head_dim') or cfg['hidden_size'] // H
    eps = cfg['rms_norm_eps']
    cos, sin = rope[0][:T], rope[1][:T]
    x = w['model.embed_tokens.weight'][ids]
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        h = rms(x, w[p + 'input_layernorm.weight'], eps)
        q = (h @ w[p + 'self_attn.q_proj.weight'].T).view(B, T, H, d).transpose(1, 2)
        k = (h @ w[p + 'self_attn.k_proj.weight'].T).view(B, T, KV, d).transpose(1, 2)
        v = (h @ w[p + 'self_attn.v_proj.weight'].T).view(B, T, KV, d).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        a = attention(cfg, q, k, v).transpose(1, 2).reshape(B, T, H * d)
        x = x + a @ w[p + 'self_attn.o_proj.weight'].T
        h = rms(x, w[p + 'post_attention_layernorm.weight'], eps)
        g = torch.nn.functional.silu(h @ w[p + 'mlp.gate_proj.weight'].T) * (h @ w[p + 'mlp.up_proj.weight'].T)
        x = x + g @ w[p + 'mlp.down_proj.weight'].T
    return rms(x, w['model.norm.weight'], eps) @ w['lm_head.weight'].T


def check_hf(folder, cfg, w, prompt, device):
    """Largest |logit difference| between this forward pass and HF transformers' on one prompt."""
    from transformers import LlamaForCausalLM
    hf = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation='sdpa').to(device).eval()
    ids = torch.tensor([prompt], device=device)
    with torch.no_grad():
        ref = hf(ids).logits[0]
    mine = forward(cfg, w, ids, rope_tables(cfg, len(prompt), device))[0]
    return (ref - mine).abs().max().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--prompts', required=True)
    ap.add_argument('--models', required=True, help='folder holding the model folders')
    ap.add_argument('--model', action='append', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--check-hf', action='store_true')
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    rows = [json.loads(l) for l in open(args.prompts) if l.strip()]
    cells = {}
    for r in rows:
        cells.setdefault((r['task'], r['context'], r.get('pairs'), r.get('intro', False)), []).append(r)
    print('torch', torch.__version__, device, torch.cuda.get_device_name() if device == 'cuda' else '', len(rows), 'prompts', flush=True)
    with open(args.out, 'w') as out:
        for name in args.model:
            folder = os.path.join(args.models, name)
            cfg, w = load(folder, device)
            if args.check_hf and cfg.get('attention_kind', 'softmax') == 'softmax':
                try:
                    diff = check_hf(folder, cfg, w, list(rows[0]['prompt'].encode('latin-1')), device)
                    print(f'{name}: |this forward − HF LlamaForCausalLM| ≤ {diff:.2e} over {len(rows[0]["prompt"])} positions', flush=True)
                except Exception as e:   # noqa: BLE001 (the check is extra; the accuracies still count)
                    print(f'{name}: HF check failed: {e!r}', flush=True)
            rope = rope_tables(cfg, max(r['context'] for r in rows), device)
            t0 = time.time()
            for key, group in cells.items():
                for b in range(0, len(group), args.batch):
                    chunk = group[b:b + args.batch]
                    full = [list((r['prompt'] + r['answer']).encode('latin-1')) for r in chunk]
                    ids = torch.tensor([f[:-1] for f in full], device=device)
                    n = len(chunk[0]['answer'])
                    pred = forward(cfg, w, ids, rope)[:, -n:].argmax(-1).tolist()
                    for r, p in zip(chunk, pred):
                        got = bytes(p).decode('latin-1')
                        out.write(json.dumps(dict(model=name, task=r['task'], context=r['context'], pairs=r.get('pairs'),
                                                  intro=r.get('intro', False), seed=r['seed'], expected=r['answer'], got=got,
                                                  correct=got == r['answer'], distance=r['distance'])) + '\n')
                print(f'{name} {key}: done at {time.time() - t0:.1f} s', flush=True)
    summary(args.out)


def summary(path):
    rows = [json.loads(l) for l in open(path)]
    cells = {}
    for r in rows:
        cells.setdefault((r['model'], r['task'], r['context'], r['pairs'], r['intro']), []).append(r['correct'])
    for key, c in cells.items():
        print(*key, f'{sum(c)}/{len(c)}', f'{sum(c) / len(c):.3f}', sep='\t')


if __name__ == '__main__':
    sys.exit(main())
