import { HsrError } from '../errors.js';
import { KERNEL_BACKENDS, type KernelBackend } from '../kernels/index.js';

/**
 * The kernel backend Node code should use: `HSR_KERNELS=js|wasm|wasm-simd|wasm-relaxed|auto` from
 * the environment (default 'auto'). Only Node code reads the environment; the core takes `backend` as an option.
 */
export function kernelBackendFromEnv(env: Record<string, string | undefined> = process.env): KernelBackend {
  const v = env['HSR_KERNELS'];
  if (v === undefined || v === '') return 'auto';
  const known = KERNEL_BACKENDS.find((b) => b === v);
  if (known !== undefined) return known;
  throw new HsrError('BAD_OPTION', `HSR_KERNELS: expected ${KERNEL_BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${JSON.stringify(v)}`);
}
