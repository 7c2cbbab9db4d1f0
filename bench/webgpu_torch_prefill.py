# PyTorch SDPA causal prefill on the same GPU and shapes as bench/webgpu-prefill.ts: 8 query / 2 KV
# heads, d = 128, m = n positions, scaled_dot_product_attention(is_causal=True) in float16 (tensor
# cores: the anchor) and float32 (TF32 off: the closest to the WebGPU kernel's float32 arithmetic).
# K/V are expanded to the 8 query heads before timing (repeat_interleave): every fused SDPA backend
# takes that, while enable_gqa would send float32 to the math path (an n × n matrix a head); prefill
# is compute-bound, so sharing K/V rows saves little. Median over rounds of `reps` calls timed with CUDA events
# around the batch; TFLOP/s count 4·d flops per visible query–key pair, as the WebGPU bench does.
#   python3 bench/webgpu_torch_prefill.py [--n 4096,16384,32768] [--dtypes float16,float32] [--rounds 5] [--reps 5] [--out file.json]
import argparse, json, statistics
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--n', default='4096,16384,32768')
ap.add_argument('--dtypes', default='float16,float32')
ap.add_argument('--rounds', type=int, default=5)
ap.add_argument('--reps', type=int, default=5)
ap.add_argument('--out')
a = ap.parse_args()
heads, kv_heads, d = 8, 2, 128
torch.backends.cuda.matmul.allow_tf32 = False  # float32 rows stay float32 arithmetic
rows = []
for dtype_name in a.dtypes.split(','):
    dtype = getattr(torch, dtype_name)
    for n in map(int, a.n.split(',')):
        q = torch.randn(1, heads, n, d, device='cuda', dtype=dtype)
        k = torch.randn(1, kv_heads, n, d, device='cuda', dtype=dtype).repeat_interleave(heads // kv_heads, dim=1)
        v = torch.randn(1, kv_heads, n, d, device='cuda', dtype=dtype).repeat_interleave(heads // kv_heads, dim=1)
        f = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
        row = {'n': n, 'dtype': dtype_name, 'heads': heads, 'kvHeads': kv_heads, 'd': d}
        try:
            for _ in range(3): f()
            samples = []
            for _ in range(a.rounds):
                t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                t0.record()
                for _ in range(a.reps): f()
                t1.record(); torch.cuda.synchronize()
                samples.append(t0.elapsed_time(t1) / a.reps)
            ms = statistics.median(samples)
            flops = 4 * d * heads * n * (n + 1) / 2
            row.update({'sdpa.ms': ms, 'sdpa.TFLOPs': flops / ms / 1e9, 'samples': samples})
        except RuntimeError as e:  # e.g. out of memory: the row says so and the rest still runs
            row['error'] = str(e)[:300]
            torch.cuda.empty_cache()
        rows.append(row); print(json.dumps(row), flush=True)
        del q, k, v
result = {'bench': 'torch-sdpa-causal-prefill', 'torch': torch.__version__, 'gpu': torch.cuda.get_device_name(), 'heads': heads, 'kvHeads': kv_heads, 'd': d, 'rounds': a.rounds, 'reps': a.reps, 'rows': rows}
if a.out:
    with open(a.out, 'w') as fh: json.dump(result, fh, indent=2)
