/// <reference types="@webgpu/types" />
// The WebGPU conformance suite (conformance.ts) in Node, on whatever adapter Dawn finds (in CI:
// SwiftShader, which scripts/run-tests.mjs points Vulkan at); test/browser/conformance.test.ts runs
// the same suite in Chromium on navigator.gpu.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as lib from '../../src/index.js';
import * as reference from '../../src/attention/reference.js';
import * as random from '../../src/report/random.js';
import * as half from '../../src/tensor/half.js';
import { SUITE } from './conformance.js';
import { gpuOrSkip } from './gpu-helpers.js';

test('webgpu conformance suite on Dawn: KVCache decode (dense, exact ReLU^α, certified ε, threshold, top-k; f32, f16) and attentionAsync prefill against float64 and the CPU; no adapter → UNSUPPORTED', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  for (const c of SUITE) {
    await t.test(c.label, async (st) => {
      const r = await c.run({ lib, reference, random, half });
      st.diagnostic(`${r.ms.toFixed(0)} ms`);
      assert.deepEqual(r.failures, []);
    });
  }
});
