# PyTorch SDPA decode on the same GPU and shapes as bench/webgpu-decode.ts: 8 query / 2 KV heads,
# d = 128, f16 K/V, one query position (and the real dump's shape, 6 / 2 heads, d = 64, n = 8192).
# Two timings, medians over rounds of `reps` calls: `sdpa.ms` with CUDA synchronisation around an
# eager batch (GPU time plus Python's launch overhead, which dominates at short n), and
# `sdpa.graphMs`: the same calls captured once in a CUDA graph and replayed between CUDA events —
# GPU time with almost no launch cost, the fair anchor for the WebGPU benches' GPU timestamps.
# Before each shape the GPU is kept busy for --warm-ms so its clocks have ramped up.
#   python3 bench/webgpu_torch_sdpa.py [--n 32768,65536] [--rounds 5] [--reps 20] [--warm-ms 500] [--out file.json]
import argparse, json, statistics, time
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--n', default='32768,65536,131072,262144,524288')
ap.add_argument('--rounds', type=int, default=5)
ap.add_argument('--reps', type=int, default=20)
ap.add_argument('--dump-shape', default='6,2,64,8192', help='heads,kvHeads,d,n of the real dump the WebGPU bench also runs ("" skips)')
ap.add_argument('--warm-ms', type=float, default=500)
ap.add_argument('--out')
a = ap.parse_args()
heads, kv_heads, d = 8, 2, 128
# The achievable read bandwidth of this GPU (a 1 GiB f32 sum), the yardstick of "% of bandwidth".
x = torch.empty(1 << 28, device='cuda', dtype=torch.float32)
for _ in range(3): x.sum()
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(50): x.sum()
torch.cuda.synchronize(); read_gbps = 2**30 / ((time.perf_counter() - t) / 50) / 1e9
del x
print(json.dumps({'readGBps': read_gbps}), flush=True)
rows = []
shapes = [(heads, kv_heads, d, n) for n in map(int, a.n.split(','))]
if a.dump_shape: shapes.insert(0, tuple(map(int, a.dump_shape.split(','))))
for (hq, hk, dd, n) in shapes:
    q = torch.randn(1, hq, 1, dd, device='cuda', dtype=torch.float16)
    k = torch.randn(1, hk, n, dd, device='cuda', dtype=torch.float16)
    v = torch.randn(1, hk, n, dd, device='cuda', dtype=torch.float16)
    f = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.cuda.synchronize(); t = time.perf_counter()
    while time.perf_counter() - t < a.warm_ms / 1e3:
        for _ in range(20): f()
        torch.cuda.synchronize()
    # Capture on a side stream after warm-up calls there, as torch.cuda.graph requires.
    graph, graph_error = None, None
    try:
        side = torch.cuda.Stream(); side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3): f()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(a.reps): f()
    except Exception as e:  # the eager timing still stands; say why the graph one is missing
        graph, graph_error = None, repr(e)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples, graph_samples = [], []
    for _ in range(a.rounds):
        torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(a.reps): f()
        torch.cuda.synchronize(); samples.append((time.perf_counter() - t) / a.reps * 1e3)
        if graph is not None:
            start.record(); graph.replay(); end.record(); end.synchronize()
            graph_samples.append(start.elapsed_time(end) / a.reps)
    ms = statistics.median(samples)
    kv_bytes = 2 * hk * n * dd * 2
    row = {'n': n, 'heads': hq, 'kvHeads': hk, 'd': dd, 'sdpa.ms': ms, 'sdpa.GBps': kv_bytes / ms / 1e6, 'samples': samples}
    if graph_samples:
        graph_ms = statistics.median(graph_samples)
        row.update({'sdpa.graphMs': graph_ms, 'sdpa.graphGBps': kv_bytes / graph_ms / 1e6, 'graphSamples': graph_samples})
    else:
        row['graphError'] = graph_error
    rows.append(row); print(json.dumps(row), flush=True)
result = {'bench': 'torch-sdpa-decode', 'torch': torch.__version__, 'gpu': torch.cuda.get_device_name(), 'readGBps': read_gbps, 'heads': heads, 'kvHeads': kv_heads, 'd': d, 'dtype': 'float16', 'rounds': a.rounds, 'reps': a.reps, 'rows': rows}
if a.out:
    with open(a.out, 'w') as fh: json.dump(result, fh, indent=2)
