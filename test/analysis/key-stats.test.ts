import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyStatistics, symmetricEigenvalues } from '../../src/analysis/key-stats.js';
import { rng } from '../../bench/lib/measure.js';

test('symmetricEigenvalues of a rotated diagonal matrix returns its diagonal', () => {
  const d = 6, lambda = [9, 5, 3, 1, 0.5, 0];
  // A = R·diag(λ)·Rᵀ with R a product of Givens rotations.
  const a = new Float64Array(d * d);
  lambda.forEach((l, i) => { a[i * d + i] = l; });
  const r = rng(3);
  for (let t = 0; t < 20; t++) {
    const p = Math.floor(r.uniform() * d), q = (p + 1 + Math.floor(r.uniform() * (d - 1))) % d, th = r.uniform() * 6;
    const c = Math.cos(th), s = Math.sin(th);
    for (let k = 0; k < d; k++) { const x = a[k * d + p]!, y = a[k * d + q]!; a[k * d + p] = c * x - s * y; a[k * d + q] = s * x + c * y; }
    for (let k = 0; k < d; k++) { const x = a[p * d + k]!, y = a[q * d + k]!; a[p * d + k] = c * x - s * y; a[q * d + k] = s * x + c * y; }
  }
  const eig = [...symmetricEigenvalues(a, d)].sort((x, y) => y - x);
  eig.forEach((e, i) => assert.ok(Math.abs(e - lambda[i]!) < 1e-9, `${e} vs ${lambda[i]}`));
});

test('keyStatistics: isotropic keys have effective rank ≈ d, rank-one keys ≈ 1, outlier channels are found', () => {
  const r = rng(11), n = 4000, d = 16;
  const iso = Float32Array.from({ length: n * d }, () => r.gauss());
  const s = keyStatistics(iso, n, d, { topComponents: 4 });
  assert.ok(s.effectiveRank > 15 && s.effectiveRank <= 16, `effective rank ${s.effectiveRank}`);
  assert.ok(s.participationRatio > 14, `participation ratio ${s.participationRatio}`);
  assert.ok(Math.abs(s.topVarianceShare - 4 / 16) < 0.05);
  assert.deepEqual(s.outlierChannels, []);

  const dir = Float32Array.from({ length: d }, (_, c) => (c % 3) - 1);
  const rank1 = new Float32Array(n * d);
  for (let i = 0; i < n; i++) { const t = r.gauss(); for (let c = 0; c < d; c++) rank1[i * d + c] = t * dir[c]!; }
  const s1 = keyStatistics(rank1, n, d);
  assert.ok(s1.effectiveRank < 1.0001, `rank-one effective rank ${s1.effectiveRank}`);
  assert.ok(s1.topVarianceShare > 0.9999);

  // Channels 3 and 9 carry 10× and 20× the magnitude of the others: exactly those are outliers.
  const out = Float32Array.from(iso);
  for (let i = 0; i < n; i++) { out[i * d + 3]! *= 10; out[i * d + 9]! *= 20; }
  const so = keyStatistics(out, n, d);
  assert.deepEqual(so.outlierChannels, [9, 3]);
  assert.ok(so.maxChannelRatio > 15);
});
