/**
 * Per-head attention statistics for the explorer's heatmap. A model's KVCache attends a whole
 * grouped-query group at once and reports work summed over its heads; to see each query head on its
 * own, the probe gives every query head its own single-head KVCache over its KV head's keys (the
 * same rows, so the same keys used and bounds; the keys are stored once per query head, so this
 * run is slower and is never the one timed).
 */
import { KVCache, type KVCacheOptions } from '../kvcache/kv-cache.js';
import type { LayerAttention } from '../model/layer-attention.js';

export interface ProbeShape { layers: number; heads: number; kvHeads: number; headDim: number; positions: number }

/** Per (layer, head, position): keys used and the certified TV bound (0 where the mode has none). */
export class HeadProbe {
  /** [layer][head][position] keys that entered the weighted sum. */
  readonly keysUsed: Float64Array;
  /** [layer][head][position] certified bound on the row's total-variation error. */
  readonly errorBound: Float64Array;

  constructor(readonly shape: ProbeShape, private readonly options: Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>) {
    const size = shape.layers * shape.heads * shape.positions;
    this.keysUsed = new Float64Array(size);
    this.errorBound = new Float64Array(size);
  }

  /** An AttentionFactory for RunOptions.factory. */
  readonly factory = (layer: number): LayerAttention => new ProbeLayer(this, layer, this.options);

  at(layer: number, head: number, position: number): number {
    return (layer * this.shape.heads + head) * this.shape.positions + position;
  }
}

class ProbeLayer implements LayerAttention {
  keysScored = 0;
  keysUsed = 0;
  private readonly caches: KVCache[];
  private readonly group: number;
  private pos = 0;

  constructor(private readonly probe: HeadProbe, private readonly layer: number, options: Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>) {
    const { heads, kvHeads, headDim } = probe.shape;
    this.group = heads / kvHeads;
    this.caches = Array.from({ length: heads }, () => new KVCache({ ...options, heads: 1, kvHeads: 1, headDim }));
  }

  step(queries: Float32Array, keys: Float32Array, values: Float32Array, out: Float32Array): void {
    const { heads, headDim: d } = this.probe.shape;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / this.group), cache = this.caches[h]!;
      cache.append(keys.subarray(g * d, (g + 1) * d), values.subarray(g * d, (g + 1) * d));
      const { output, stats } = cache.attend(queries.subarray(h * d, (h + 1) * d));
      out.set(output, h * d);
      this.keysScored += stats.keysScored;
      this.keysUsed += stats.keysUsed;
      const at = this.probe.at(this.layer, h, this.pos);
      this.probe.keysUsed[at] = stats.keysUsed;
      this.probe.errorBound[at] = stats.errorBound?.[0] ?? 0;
    }
    this.pos++;
  }
}
