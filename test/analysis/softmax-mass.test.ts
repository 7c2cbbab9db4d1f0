import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { droppedMass, leadingMass, oracleMinimumKeys, softmaxOfLogits } from '../../src/analysis/softmax-mass.js';

/** Brute force: the smallest subset size whose mass reaches 1 − ε, over every subset. */
function bruteMinimum(w: Float64Array, eps: number): number {
  let best = w.length;
  for (let mask = 1; mask < 1 << w.length; mask++) {
    let mass = 0, size = 0;
    for (let j = 0; j < w.length; j++) if (mask & (1 << j)) { mass += w[j]!; size++; }
    if (mass >= 1 - eps && size < best) best = size;
  }
  return best;
}

test('oracleMinimumKeys equals the smallest subset with mass ≥ 1 − ε (brute force over subsets)', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { minLength: 1, maxLength: 9 }), (logits) => {
    const w = softmaxOfLogits(logits);
    const eps = [0.3, 0.05, 1e-3];
    assert.deepEqual(oracleMinimumKeys(w, eps), eps.map((e) => bruteMinimum(w, e)));
  }));
});

test('softmaxOfLogits is stable for huge logits and sums to 1', () => {
  const w = softmaxOfLogits([1e4, 1e4 - 1, -1e4]);
  assert.ok(Math.abs(w[0]! + w[1]! + w[2]! - 1) < 1e-15);
  assert.ok(Math.abs(w[0]! / w[1]! - Math.E) < 1e-12);
  assert.equal(w[2], 0);
});

test('droppedMass is 1 − kept mass; leadingMass sums the first keys', () => {
  const w = softmaxOfLogits([0, 1, 2, 3]);
  assert.equal(droppedMass(w, [3, 2]), w[0]! + w[1]!);
  assert.equal(droppedMass(w, [0, 1, 2, 3]), 0);
  assert.equal(leadingMass(w, 2), w[0]! + w[1]!);
  assert.equal(leadingMass(w, 10), w[0]! + w[1]! + w[2]! + w[3]!);
});
