// The short decode soak (bench/decode-soak.ts runs 10⁵ tokens): certified and ReLU caches fed one
// token at a time stay within their guarantees against a float64 brute force, and memory grows
// only with the cache (no growth from attending alone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowedGrowth, decodeSoak } from '../../bench/lib/decode-soak.js';

test('decode soak, 2000 tokens: certified within 2·bound·max‖v‖ and ReLU exact at every checkpoint; memory bounded', () => {
  const r = decodeSoak({ tokens: 2000, checkpoints: [1, 64, 700, 2000], attendEvery: 8 });
  assert.equal(r.checkpoints.length, 4);
  for (const c of r.checkpoints) {
    assert.ok(c.certifiedShareOfAllowed <= 1, `certified at ${c.tokens}: error ${c.certifiedError} is ${c.certifiedShareOfAllowed}× the allowed`);
    assert.ok(c.certifiedMaxBound <= r.options.epsilon, `bound ${c.certifiedMaxBound} > ε at ${c.tokens}`);
    assert.ok(c.reluError <= 1e-5, `ReLU at ${c.tokens}: relative error ${c.reluError}`);
  }
  const first = r.checkpoints[0]!, last = r.checkpoints.at(-1)!;
  assert.ok(last.memoryBytes - first.memoryBytes <= allowedGrowth(r.options, first.tokens, last.tokens),
    `memory grew ${last.memoryBytes - first.memoryBytes} bytes over ${last.tokens - first.tokens} tokens`);
  assert.ok(r.idleGrowthBytes <= 8 * 2 ** 20, `attending alone grew memory by ${r.idleGrowthBytes} bytes`);
});
