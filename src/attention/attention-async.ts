/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';
import { KERNEL_BACKENDS, type KernelBackend } from '../kernels/index.js';
import { assertCount, assertMatrix, describe, type Matrix } from '../tensor/matrix.js';
import { webGpuDevice } from '../webgpu/device.js';
import { GpuPrefill } from '../webgpu/prefill.js';
import { attention } from './attention.js';
import { assertValueSumFits, maxAbs } from './value-range.js';
import { resolveAttentionOptions, type AttentionOptions, type AttentionStats } from './options.js';

export interface AsyncAttentionOptions extends Omit<AttentionOptions, 'backend'> {
  /** The CPU kernel backends, or 'webgpu' (docs/webgpu.md: dense softmax / ReLU^α and exact sparse ReLU^α). */
  backend?: KernelBackend | 'webgpu';
  /** Query heads: q is [m, heads·d], position-major (default 1). */
  heads?: number;
  /** KV heads (heads is a multiple): k is [n, kvHeads·d], v [n, kvHeads·dv]; head h uses KV head ⌊h / (heads / kvHeads)⌋ (default 1). */
  kvHeads?: number;
  /** 'webgpu' only: the GPU to use (default navigator.gpu, or the `webgpu` package in Node). */
  gpu?: GPU;
  /** 'webgpu' only: how keys and values are kept on the GPU (default 'f32'; 'f16' halves the bytes). */
  storage?: 'f32' | 'f16';
}

/**
 * One-shot attention (prefill / full attention) that may run on a GPU: `attention()` of every
 * query head, with grouped-query heads side by side in the rows (q [m, heads·d], k [n, kvHeads·d],
 * v [n, kvHeads·dv] → output [m, heads·dv]). Results and stats mean what they mean for
 * `attention()`; `errorBound`, where present, has one entry per (position, head), position-major.
 * CPU backends run `attention()` head by head; 'webgpu' runs all heads in one GPU pass.
 */
export async function attentionAsync(q: Matrix, k: Matrix, v: Matrix, options: AsyncAttentionOptions): Promise<{ output: Matrix; stats: AttentionStats }> {
  assertMatrix(q, 'attentionAsync q');
  assertMatrix(k, 'attentionAsync k');
  assertMatrix(v, 'attentionAsync v');
  if (options === null || typeof options !== 'object') throw new HsrError('BAD_OPTION', `attentionAsync: expected an options object, got ${describe(options)}`);
  const { heads = 1, kvHeads = 1, gpu, storage = 'f32', backend = 'auto', ...rest } = options;
  assertCount(heads, 'attentionAsync heads');
  assertCount(kvHeads, 'attentionAsync kvHeads');
  if (heads < 1 || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new HsrError('BAD_OPTION', `attentionAsync: expected heads ≥ 1 a multiple of kvHeads ≥ 1, got heads ${heads} and kvHeads ${kvHeads}`);
  }
  if (q.cols % heads !== 0 || v.cols % kvHeads !== 0) {
    throw new HsrError('SHAPE_MISMATCH', `attentionAsync: expected q's columns a multiple of heads (${heads}) and v's of kvHeads (${kvHeads}), got ${q.cols} and ${v.cols}`);
  }
  const d = q.cols / heads, dv = v.cols / kvHeads;
  if (k.cols !== kvHeads * d) {
    throw new HsrError('DIM_MISMATCH', `attentionAsync: expected k to have kvHeads·d = ${kvHeads * d} columns (d = ${d} from q), got ${k.cols}`);
  }
  if (k.rows !== v.rows) {
    throw new HsrError('SHAPE_MISMATCH', `attentionAsync: expected one value row per key (${k.rows}), got ${v.rows}`);
  }
  if (backend !== 'webgpu' && !KERNEL_BACKENDS.includes(backend)) {
    throw new HsrError('BAD_OPTION', `attentionAsync: expected backend 'webgpu' or ${KERNEL_BACKENDS.map((b) => `'${b}'`).join(', ')}, got ${describe(backend)}`);
  }
  if (storage !== 'f32' && storage !== 'f16') throw new HsrError('BAD_OPTION', `attentionAsync: expected storage 'f32' or 'f16', got ${describe(storage)}`);
  assertValueSumFits(k.rows, maxAbs(v.data), 'attentionAsync');
  if (backend !== 'webgpu') return perHead(q, k, v, heads, kvHeads, d, dv, { ...rest, backend });
  const o = resolveAttentionOptions({ ...rest, backend: 'js' }, d, 'attentionAsync');
  const m = q.rows, n = k.rows;
  const prefill = new GpuPrefill(await webGpuDevice(gpu), { heads, kvHeads, headDim: d, valueDim: dv, storage }, o);
  try {
    prefill.load(q.data, m, k.data, v.data, n);
    const { output, stats } = await prefill.run();
    return { output: { data: output, rows: m, cols: heads * dv }, stats };
  } finally {
    prefill.destroy();
  }
}

/** attention() of each query head over its KV head's columns; stats summed, errorBound interleaved. */
function perHead(q: Matrix, k: Matrix, v: Matrix, heads: number, kvHeads: number, d: number, dv: number,
  options: AttentionOptions): { output: Matrix; stats: AttentionStats } {
  if (heads === 1) return attention(q, k, v, options);
  const m = q.rows, n = k.rows, group = heads / kvHeads;
  const output = new Float32Array(m * heads * dv);
  const stats: AttentionStats = { keysScored: 0, keysUsed: 0 };
  for (let g = 0; g < kvHeads; g++) {
    const kg = columns(k, n, g * d, d), vg = columns(v, n, g * dv, dv);
    for (let h = g * group; h < (g + 1) * group; h++) {
      const r = attention(columns(q, m, h * d, d), kg, vg, options);
      for (let i = 0; i < m; i++) output.set(r.output.data.subarray(i * dv, (i + 1) * dv), (i * heads + h) * dv);
      stats.keysScored += r.stats.keysScored; stats.keysUsed += r.stats.keysUsed;
      for (const key of ['boundsEvaluated', 'denseQueries'] as const) {
        if (r.stats[key] !== undefined) stats[key] = (stats[key] ?? 0) + r.stats[key]!;
      }
      if (r.stats.errorBound) {
        stats.errorBound ??= new Float64Array(m * heads);
        for (let i = 0; i < m; i++) stats.errorBound[i * heads + h] = r.stats.errorBound[i]!;
      }
    }
  }
  return { output: { data: output, rows: m, cols: heads * dv }, stats };
}

/** Columns [c0, c0 + width) of a row-major matrix's first `rows` rows, as a matrix. */
function columns(x: Matrix, rows: number, c0: number, width: number): Matrix {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) data.set(x.data.subarray(i * x.cols + c0, i * x.cols + c0 + width), i * width);
  return { data, rows, cols: width };
}
