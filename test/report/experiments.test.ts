import assert from 'node:assert/strict';
import { test } from 'node:test';
import { covariance } from '../../src/analysis/key-stats.js';
import { gaussianPaperSparsity, gaussianTail } from '../../src/report/experiments/gaussian-sparsity.js';
import { FittedGaussianKeys } from '../../src/report/experiments/synthetic-keys.js';
import { seededRandom } from '../../src/report/random.js';

test('gaussianTail matches tabulated normal tail probabilities', () => {
  for (const [x, q] of [[0, 0.5], [1, 0.158655254], [2, 0.022750132], [3, 0.001349898], [-1, 0.841344746]] as const) {
    assert.ok(Math.abs(gaussianTail(x) - q) < 1e-7 * Math.max(1, q * 10), `Q(${x}) = ${gaussianTail(x)}`);
  }
});

test('gaussianPaperSparsity counts exactly the scores at or above μ + σ·√(0.4 ln n) (brute force on a small sweep)', () => {
  const r = gaussianPaperSparsity({ minLog2: 6, maxLog2: 9, dim: 8, queries: 3, seed: 4 });
  assert.deepEqual(r.points.map((p) => p.n), [64, 128, 256, 512]);
  // Redraw the same keys and queries in the same order and count by brute force.
  const rnd = seededRandom(4), d = 8, Q = 3, N = 512;
  const q = Float64Array.from({ length: Q * d }, () => rnd.gauss());
  const k = Array.from({ length: N }, () => Float64Array.from({ length: d }, () => Math.fround(rnd.gauss())));
  for (const p of r.points) {
    let kept = 0;
    for (let i = 0; i < Q; i++) {
      const s = k.slice(0, p.n).map((key) => Math.fround(key.reduce((a, x, c) => a + x * q[i * d + c]!, 0) / Math.sqrt(d)));
      const mu = s.reduce((a, b) => a + b, 0) / p.n, sd = Math.sqrt(s.reduce((a, b) => a + (b - mu) ** 2, 0) / p.n);
      kept += s.filter((x) => x >= mu + sd * Math.sqrt(0.4 * Math.log(p.n))).length;
    }
    assert.ok(Math.abs(p.keptMean * Q - kept) <= 1, `n=${p.n}: ${p.keptMean * Q} vs ${kept}`);
  }
});

test('FittedGaussianKeys draws keys with the source keys\' mean and covariance', () => {
  const r = seededRandom(8), d = 4, n = 2000;
  // Correlated, offset source keys.
  const src = new Float32Array(n * d);
  for (let i = 0; i < n; i++) { const a = r.gauss(), b = r.gauss(); src.set([3 + a, a + 0.5 * b, -2 + 2 * b, 0.1 * r.gauss()], i * d); }
  const fit = new FittedGaussianKeys(src, n, d);
  const m = 20000, out = new Float32Array(m * d);
  for (let i = 0; i < m; i++) fit.sample(r, out, i * d);
  const mean = (x: Float32Array, rows: number) => Float64Array.from({ length: d }, (_, c) => { let s = 0; for (let i = 0; i < rows; i++) s += x[i * d + c]!; return s / rows; });
  const ms = mean(src, n), mo = mean(out, m);
  const cs = covariance(src, n, d, ms), co = covariance(out, m, d, mo);
  for (let c = 0; c < d; c++) assert.ok(Math.abs(ms[c]! - mo[c]!) < 0.05, `mean ${c}`);
  for (let i = 0; i < d * d; i++) assert.ok(Math.abs(cs[i]! - co[i]!) < 0.1 * Math.max(1, Math.abs(cs[i]!)), `cov ${i}: ${cs[i]} vs ${co[i]}`);
});
