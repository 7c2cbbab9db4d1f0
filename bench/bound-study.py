#!/usr/bin/env python3
"""Can a cheaper bound than the per-key int8 one skip part of the sweep on real keys? (numpy study)

For the last 8 queries of every head of both real dumps (data/dev_c_relu_l3 and data/dev_c_l2,
d = 64), reports the fraction of keys each bound family leaves to be swept:
  ReLU (bias 1): keys whose upper bound reaches the threshold (active fraction beside it);
  softmax: keys a certified ε = 1e-2 walk in upper-bound order takes (oracle fraction beside it).
Bound families: per-block min/max boxes (blocks by position or by recursive principal splits),
k-means residual balls (per-key ‖k − c‖), PCA projections with a Cauchy–Schwarz residual term.
Run: python3 bench/bound-study.py   (numpy; prints one line per setting; docs/sparse-decode.md)
"""
import json, struct, sys
import numpy as np

def load(path):
    b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']; dt = {'F16': np.float16, 'U8': np.uint8, 'F32': np.float32}[v['dtype']]
        out[k] = np.frombuffer(b[base + s:base + e], dtype=dt).reshape(v['shape'])
    return out

def certified_taken(s, ub, eps):
    """Keys a walk in decreasing upper-bound order takes until the rest's bound ≤ ε·W (exact W)."""
    M = s.max(); o = np.argsort(-ub); w = np.cumsum(np.exp(s[o] - M)); eu = np.exp(ub[o] - M)
    tail = np.append(np.cumsum(eu[::-1])[::-1][1:], 0)
    return np.argmax(tail <= eps * w) + 1

def principal_leaves(k, idx, size):
    if len(idx) <= size: return [idx]
    x = k[idx] - k[idx].mean(0); u = np.linalg.svd(x, full_matrices=False)[2][0]
    o = np.argsort(x @ u); h = len(idx) // 2
    return principal_leaves(k, idx[o[:h]], size) + principal_leaves(k, idx[o[h:]], size)

def kmeans(x, c_count, iters=15, seed=0):
    rng = np.random.default_rng(seed); c = x[rng.choice(len(x), c_count, replace=False)]
    for _ in range(iters):
        a = ((x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None]).argmin(1)
        for j in range(c_count):
            m = a == j
            if m.any(): c[j] = x[m].mean(0)
    return c, a

def bounds(family, param, k, q_rows):
    """Yields (q, upper bounds of every key) for each query row, for one KV head's keys."""
    n = len(k)
    if family == 'box':
        order, size = param
        perm = np.arange(n) if order == 'position' else np.concatenate(principal_leaves(k, np.arange(n), size))
        kb = k[perm].reshape(-1, size, k.shape[1]); lo, hi = kb.min(1), kb.max(1)
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        inv = np.empty(n, dtype=int); inv[perm] = np.arange(n)
        for q in q_rows:
            yield q, np.repeat(mid @ q + half @ np.abs(q), size)[inv]
    elif family == 'kmeans':
        c, a = kmeans(k, param); r = np.linalg.norm(k - c[a], axis=1)
        for q in q_rows: yield q, (c @ q)[a] + np.linalg.norm(q) * r
    else:  # pca
        mu = k.mean(0); x = k - mu; w, v = np.linalg.eigh(x.T @ x); p = v[:, ::-1][:, :param]
        kp = x @ p; res = np.linalg.norm(x - kp @ p.T, axis=1)
        for q in q_rows:
            qp = p.T @ q; yield q, mu @ q + kp @ qp + np.linalg.norm(q - p @ qp) * res

def main(data='data'):
    settings = [('box', ('position', b)) for b in (8, 16, 64)] + [('box', ('principal', b)) for b in (8, 16, 64)] \
        + [('kmeans', c) for c in (16, 256, 1024)] + [('pca', r) for r in (8, 16, 32)]
    for name, layer, relu in [('dev_c_relu_l3', 'layers.3', True), ('dev_c_l2', 'layers.2', False)]:
        t = load(f'{data}/{name}.safetensors')
        Q = t[layer + '.q'].astype(np.float64) / 8; K = t[layer + '.k'].astype(np.float64); n = K.shape[1]
        for family, param in settings:
            got = []
            for kv in range(K.shape[0]):
                rows = [Q[h, i] for h in range(kv * 3, kv * 3 + 3) for i in range(n - 8, n)]
                for q, ub in bounds(family, param, K[kv], rows):
                    s = K[kv] @ q
                    if relu: got.append(((s > 1).mean(), (ub > 1).mean()))
                    else:
                        e = np.sort(np.exp(s - s.max()))[::-1]; c = np.cumsum(e)
                        got.append(((np.searchsorted(c, 0.99 * c[-1]) + 1) / n, certified_taken(s, ub, 1e-2) / n))
            a, b = np.array(got).mean(0)
            what = 'active' if relu else 'oracle ε=1e-2'
            print(f'{name} {family} {param}: {what} {a:.4f}, left to sweep {b:.4f}', flush=True)

if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'data')
