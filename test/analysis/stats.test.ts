import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fitPowerLaw, median, quantile } from '../../src/analysis/stats.js';
import { HsrError } from '../../src/index.js';

test('fitPowerLaw(x, c·x^e) recovers e and c exactly, with r2 = 1', () => {
  fc.assert(fc.property(fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: 0.01, max: 100, noNaN: true }), (e, c) => {
    const xs = [1, 2, 4, 8, 16, 1000];
    const fit = fitPowerLaw(xs, xs.map((x) => c * x ** e));
    assert.ok(Math.abs(fit.exponent - e) < 1e-9);
    assert.ok(Math.abs(fit.coefficient / c - 1) < 1e-9);
    assert.ok(fit.r2 > 1 - 1e-9);
  }));
});

test('fitPowerLaw rejects non-positive values and a single distinct x', () => {
  assert.throws(() => fitPowerLaw([1, 2], [1, 0]), HsrError);
  assert.throws(() => fitPowerLaw([3, 3], [1, 2]), HsrError);
  assert.throws(() => fitPowerLaw([1], [1]), HsrError);
});

test('quantile interpolates between order statistics; median of an even list is the midpoint', () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([10, 0], 0.9), 9);
  assert.equal(quantile([5], 0.3), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});
