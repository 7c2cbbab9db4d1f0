import { HsrError } from '../errors.js';
import type { KernelBackend } from '../kernels/index.js';

/**
 * The kernel backend Node code should use: `HSR_KERNELS=js|wasm|auto` from the environment
 * (default 'auto'). Only Node code reads the environment; the core takes `backend` as an option.
 */
export function kernelBackendFromEnv(env: Record<string, string | undefined> = process.env): KernelBackend {
  const v = env['HSR_KERNELS'];
  if (v === undefined || v === '') return 'auto';
  if (v === 'js' || v === 'wasm' || v === 'auto') return v;
  throw new HsrError('BAD_OPTION', `HSR_KERNELS: expected 'js', 'wasm' or 'auto', got ${JSON.stringify(v)}`);
}
