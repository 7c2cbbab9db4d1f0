import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import { createJsKernels } from './js/js-kernels.js';
import type { Kernels } from './types.js';
import { simdSupported } from './wasm/wasm-api.js';
import { createWasmKernels } from './wasm/wasm-kernels.js';

export type KernelBackend = 'auto' | 'js' | 'wasm';

/**
 * A kernel backend: `'wasm'` (WebAssembly SIMD; UNSUPPORTED where it does not validate), `'js'`
 * (plain TypeScript) or `'auto'` (default: wasm where supported, else js). Each call creates an
 * independent backend with its own memory; share one per K/V store. Node code may map the
 * `HSR_KERNELS` environment variable to `backend` (src/node/kernels-env.ts); the core never reads it.
 */
export function createKernels(options: { backend?: KernelBackend } = {}): Kernels {
  const backend = options.backend ?? 'auto';
  if (backend === 'js') return createJsKernels();
  if (backend === 'wasm' || backend === 'auto') {
    if (simdSupported()) return createWasmKernels();
    if (backend === 'wasm') throw new HsrError('UNSUPPORTED', 'createKernels: expected a host with WebAssembly SIMD, got none');
    return createJsKernels();
  }
  throw new HsrError('BAD_OPTION', `createKernels: expected backend 'auto', 'js' or 'wasm', got ${describe(backend)}`);
}

export { createJsKernels } from './js/js-kernels.js';
export { createWasmKernels } from './wasm/wasm-kernels.js';
export { simdSupported } from './wasm/wasm-api.js';
export { initStates, lseMerge, finishState, type StateArray } from './state.js';
export type { Kernels, F32Buffer, I8Buffer, Weighting } from './types.js';
export { STATE_EXTRA } from './types.js';
export { DenseDecoder, type DenseDecoderOptions } from './dense-decode.js';
export { denseCausalAttention } from './dense-prefill.js';
