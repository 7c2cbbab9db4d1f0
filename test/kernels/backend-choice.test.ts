import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createKernels } from '../../src/kernels/index.js';
import { simdSupported } from '../../src/kernels/wasm/wasm-api.js';
import { kernelBackendFromEnv } from '../../src/node/kernels-env.js';

it("createKernels picks wasm-simd where SIMD validates, js on request, and rejects unknown backends", () => {
  assert.equal(simdSupported(), true); // Node 20 has WebAssembly SIMD; the probe must say so
  assert.equal(createKernels().name, 'wasm-simd');
  assert.equal(createKernels({ backend: 'auto' }).name, 'wasm-simd');
  assert.equal(createKernels({ backend: 'wasm' }).name, 'wasm-simd');
  assert.equal(createKernels({ backend: 'js' }).name, 'js');
  assert.throws(() => createKernels({ backend: 'gpu' as never }), { code: 'BAD_OPTION' });
});

it('HSR_KERNELS selects the backend in Node code (js, wasm, auto; unset → auto; anything else → BAD_OPTION)', () => {
  assert.equal(kernelBackendFromEnv({}), 'auto');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: '' }), 'auto');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'js' }), 'js');
  assert.equal(kernelBackendFromEnv({ HSR_KERNELS: 'wasm' }), 'wasm');
  assert.throws(() => kernelBackendFromEnv({ HSR_KERNELS: 'fast' }), { code: 'BAD_OPTION' });
});
