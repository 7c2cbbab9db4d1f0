import { HsrError } from '../errors.js';
import { describe } from '../tensor/matrix.js';
import { createJsKernels } from './js/js-kernels.js';
import type { Kernels } from './types.js';
import { simdSupported } from './wasm/wasm-api.js';
import { relaxedSimdUsable } from './wasm/relaxed.js';
import { createWasmKernels } from './wasm/wasm-kernels.js';

export type KernelBackend = 'auto' | 'js' | 'wasm' | 'wasm-simd' | 'wasm-relaxed' | 'wasm-relaxed-q7';

/** Every KernelBackend value (for option checks and messages). */
export const KERNEL_BACKENDS: readonly KernelBackend[] = ['auto', 'js', 'wasm', 'wasm-simd', 'wasm-relaxed', 'wasm-relaxed-q7'];

/**
 * A kernel backend: `'wasm'` (the best WebAssembly build the host runs correctly: relaxed SIMD —
 * fused multiply-adds — where `relaxedSimdUsable()` passes its known-answer test, e.g. Node ≥ 22
 * and current browsers, else SIMD 1.0; UNSUPPORTED without SIMD), `'wasm-simd'` (SIMD 1.0 only),
 * `'wasm-relaxed'` (UNSUPPORTED where not usable), `'wasm-relaxed-q7'` (relaxed, with the quantized
 * sweep on 7-bit queries: faster only where V8 uses AVX-VNNI, looser bounds; docs/kernels.md), `'js'`
 * (plain TypeScript) or `'auto'` (default: as 'wasm' where SIMD validates, else js). Each call
 * creates an independent backend with its own memory; share one per K/V store. Node code may map
 * the `HSR_KERNELS` environment variable to `backend` (src/node/kernels-env.ts); the core never reads it.
 */
export function createKernels(options: { backend?: KernelBackend } = {}): Kernels {
  const backend = options.backend ?? 'auto';
  if (!KERNEL_BACKENDS.includes(backend)) {
    throw new HsrError('BAD_OPTION', `createKernels: expected backend ${KERNEL_BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${describe(backend)}`);
  }
  if (backend === 'js') return createJsKernels();
  if (!simdSupported()) {
    if (backend === 'auto') return createJsKernels();
    throw new HsrError('UNSUPPORTED', 'createKernels: expected a host with WebAssembly SIMD, got none');
  }
  if (backend === 'wasm-simd') return createWasmKernels();
  const relaxed = relaxedSimdUsable();
  if ((backend === 'wasm-relaxed' || backend === 'wasm-relaxed-q7') && !relaxed) {
    throw new HsrError('UNSUPPORTED', 'createKernels: expected a host that runs WebAssembly relaxed SIMD correctly (Node >= 22, current browsers), got none');
  }
  return createWasmKernels({ relaxed, sweepQueryBits: backend === 'wasm-relaxed-q7' ? 7 : 16 });
}

export { createJsKernels } from './js/js-kernels.js';
export { createWasmKernels } from './wasm/wasm-kernels.js';
export { simdSupported } from './wasm/wasm-api.js';
export { relaxedSimdUsable } from './wasm/relaxed.js';
export { initStates, lseMerge, finishState, type StateArray } from './state.js';
export type { Kernels, F32Buffer, I8Buffer, Weighting } from './types.js';
export { STATE_EXTRA } from './types.js';
export { DenseDecoder, type DenseDecoderOptions } from './dense-decode.js';
export { denseCausalAttention } from './dense-prefill.js';
