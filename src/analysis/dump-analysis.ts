/**
 * Analysis of a Q/K/V dump (docs/reproduction/README.md "Dump format"): tensors named
 * `<prefix>N.q` [heads, n, d] (queries after RoPE, before the 1/√d scaling), `<prefix>N.k` and
 * `<prefix>N.v` [kvHeads, n, d] for each layer N; query head h reads KV head ⌊h / (heads/kvHeads)⌋.
 */
import { HsrError } from '../errors.js';
import { HalfSpaceIndex } from '../hsr/half-space-index.js';
import type { HalfSpaceReporter } from '../hsr/types.js';
import type { Float32Tensor } from '../io/safetensors.js';
import { assertFinite, matrix } from '../tensor/matrix.js';
import { analyzeHead, type HeadAnalysis, type HeadAnalysisOptions } from './head-analysis.js';
import { keyStatistics, type KeyStatistics } from './key-stats.js';

/** What the analysis reads from a dump: a safetensors file or checkpoint satisfies it. */
export interface TensorLookup {
  names(): string[];
  float32(name: string): Float32Tensor;
}

export interface DumpAnalysisOptions extends HeadAnalysisOptions {
  /** Index kinds whose pruning is measured (must include `certifiedIndex`). */
  indexKinds: string[];
  /** Tensor name prefix before the layer number (default 'layers.'). */
  layerPrefix?: string;
  /** Called after each analysed head. */
  onProgress?: (done: number, total: number) => void;
}

export interface LayerAnalysis {
  layer: string;
  heads: number;
  kvHeads: number;
  n: number;
  dim: number;
  /** Per KV head: statistics of its keys. */
  keys: KeyStatistics[];
  perHead: HeadAnalysis[];
}

/** The layers of a dump: every `<prefix>N.q` with its `.k` and `.v`, in numeric order of N. */
export function findDumpLayers(source: TensorLookup, prefix = 'layers.'): string[] {
  const names = new Set(source.names());
  const layers = [...names]
    .filter((s) => s.startsWith(prefix) && s.endsWith('.q'))
    .map((s) => s.slice(prefix.length, -2))
    .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  if (layers.length === 0) {
    throw new HsrError('NOT_FOUND', `expected tensors named ${prefix}N.q / .k / .v, got ${[...names].slice(0, 8).join(', ') || 'no tensors'}`);
  }
  for (const l of layers) for (const t of ['k', 'v']) {
    if (!names.has(`${prefix}${l}.${t}`)) throw new HsrError('NOT_FOUND', `expected ${prefix}${l}.${t} beside ${prefix}${l}.q, got none`);
  }
  return layers;
}

/** Analyses every head of every layer of a dump. */
export function analyzeDump(source: TensorLookup, options: DumpAnalysisOptions): LayerAnalysis[] {
  const prefix = options.layerPrefix ?? 'layers.';
  if (!options.indexKinds.includes(options.certifiedIndex)) {
    throw new HsrError('BAD_OPTION', `analyze: expected the certified index '${options.certifiedIndex}' among the index kinds, got ${options.indexKinds.join(', ')}`);
  }
  const layers = findDumpLayers(source, prefix).map((layer) => ({ layer, ...dumpLayer(source, prefix, layer) }));
  const total = layers.reduce((s, l) => s + l.heads, 0);
  let done = 0;
  return layers.map(({ layer, q, k, v, heads, kvHeads, n, dim, valueDim }) => {
    const group = heads / kvHeads;
    const keys: KeyStatistics[] = [], perHead: HeadAnalysis[] = [];
    for (let g = 0; g < kvHeads; g++) {
      const kg = k.subarray(g * n * dim, (g + 1) * n * dim), vg = v.subarray(g * n * valueDim, (g + 1) * n * valueDim);
      keys.push(keyStatistics(kg, n, dim));
      const indexes = new Map<string, HalfSpaceReporter>(options.indexKinds.map((kind) =>
        [kind, HalfSpaceIndex.build(matrix(kg, n, dim), { kind }).reporter]));
      for (let h = g * group; h < (g + 1) * group; h++) {
        const data = { queries: q.subarray(h * n * dim, (h + 1) * n * dim), keys: kg, values: vg, n, dim, valueDim };
        perHead.push(analyzeHead(h, g, data, indexes, options));
        options.onProgress?.(++done, total);
      }
    }
    return { layer, heads, kvHeads, n, dim, keys, perHead };
  });
}

/** One layer's q, k, v of a dump, with their shapes checked against each other and every value finite. */
export function dumpLayer(source: TensorLookup, prefix: string, layer: string) {
  const get = (t: string) => source.float32(`${prefix}${layer}.${t}`);
  const q = get('q'), k = get('k'), v = get('v');
  const [heads, n, dim] = q.shape, [kvHeads, nk, dk] = k.shape, [kvv, nv, valueDim] = v.shape;
  const ok = q.shape.length === 3 && k.shape.length === 3 && v.shape.length === 3 && kvHeads! >= 1 && heads! >= 1 && heads! % kvHeads! === 0
    && nk === n && nv === n && dk === dim && kvv === kvHeads && n! >= 1 && dim! >= 1 && valueDim! >= 1;
  if (!ok) {
    throw new HsrError('SHAPE_MISMATCH', `layer ${layer}: expected q [heads, n, d], k [kvHeads, n, d], v [kvHeads, n, dv], all ≥ 1, with kvHeads dividing heads, got q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  }
  for (const [t, x] of [['q', q], ['k', k], ['v', v]] as const) assertFinite(x.data, `${prefix}${layer}.${t}`);
  return { q: q.data, k: k.data, v: v.data, heads: heads!, kvHeads: kvHeads!, n: n!, dim: dim!, valueDim: valueDim! };
}
