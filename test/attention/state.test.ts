import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttentionState, mergeStates } from '../../src/index.js';
import { KeyMoments } from '../../src/attention/moments.js';
import { kthLargest, selectTop } from '../../src/attention/selection.js';

const logitsAndValues = fc.array(fc.record({ s: fc.double({ min: -1e4, max: 1e4, noNaN: true }), v: fc.double({ min: -5, max: 5, noNaN: true }) }), { maxLength: 20 });

function stateOf(items: { s: number; v: number }[]): AttentionState {
  const st = new AttentionState(1).reset('softmax');
  for (const { s, v } of items) st.addLogit(s, Float32Array.of(v), 0);
  return st;
}

test('mergeStates(a, b) is the state of the union of the two key sets (log-sum-exp)', () => {
  fc.assert(fc.property(logitsAndValues, logitsAndValues, (a, b) => {
    const merged = mergeStates(stateOf(a), stateOf(b), new AttentionState(1));
    const whole = stateOf([...a, ...b]);
    const out1 = new Float32Array(1), out2 = new Float32Array(1);
    merged.finish(out1, 0); whole.finish(out2, 0);
    assert.ok(Math.abs(out1[0]! - out2[0]!) <= 1e-5 * (1 + Math.abs(out2[0]!)));
    if (whole.sum > 0) assert.ok(Math.abs(merged.logSum() - whole.logSum()) <= 1e-9 * (1 + Math.abs(whole.logSum())));
    else assert.equal(merged.sum, 0);
  }));
});

test('an empty state is the identity of mergeStates; ReLU states add', () => {
  const a = stateOf([{ s: 3, v: 2 }]);
  const merged = mergeStates(new AttentionState(1).reset(), a, new AttentionState(1));
  assert.equal(merged.max, 3);
  assert.equal(merged.sum, 1);
  const r1 = new AttentionState(1).reset('relu'), r2 = new AttentionState(1).reset('relu');
  r1.addWeight(2, Float32Array.of(1), 0);
  r2.addWeight(6, Float32Array.of(3), 0);
  const out = new Float32Array(1);
  mergeStates(r1, r2).finish(out, 0);
  assert.equal(out[0], (2 * 1 + 6 * 3) / 8);
});

test('kthLargest and selectTop agree with a full sort (ties: earlier id first)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 40 }), fc.nat(), (xs, kk) => {
    const k = 1 + (kk % xs.length);
    const sorted = [...xs].sort((a, b) => b - a);
    assert.equal(kthLargest(Float64Array.from(xs), xs.length, k), sorted[k - 1]);
    const ids = Uint32Array.from(xs.keys()), scores = Float64Array.from(xs);
    selectTop(ids, scores, xs.length, k);
    const expected = [...xs.keys()].sort((a, b) => xs[b]! - xs[a]! || a - b).slice(0, k);
    assert.deepEqual([...ids.subarray(0, k)].sort((a, b) => a - b), expected.sort((a, b) => a - b));
  }));
});

test('KeyMoments gives the mean and variance of ⟨q,k⟩ over the keys added', () => {
  fc.assert(fc.property(fc.array(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 30 }),
    fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 3, maxLength: 3 }), (rows, qArr) => {
      const keys = Float32Array.from(rows.flat()), q = Float32Array.from(qArr);
      const m = new KeyMoments(3);
      for (let i = 0; i < rows.length; i++) m.add(keys, i);
      const dots = rows.map((_, i) => q[0]! * keys[3 * i]! + q[1]! * keys[3 * i + 1]! + q[2]! * keys[3 * i + 2]!);
      const mean = dots.reduce((a, b) => a + b, 0) / dots.length;
      const variance = dots.reduce((a, b) => a + (b - mean) ** 2, 0) / dots.length;
      const scale = 1 + dots.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
      assert.ok(Math.abs(m.meanDot(q) - mean) <= 1e-9 * scale);
      assert.ok(Math.abs(m.varianceDot(q) - variance) <= 1e-9 * scale * scale);
    }));
});
