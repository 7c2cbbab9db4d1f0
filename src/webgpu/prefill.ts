/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';
import type { AttentionStats, ResolvedAttentionOptions } from '../attention/options.js';
import { visibleKeys } from '../attention/reference.js';
import { numberToF16Bits } from '../tensor/half.js';
import { checkHalfRange, halfValues } from './decoder.js';
import { Pipelines, upload } from './pipelines.js';
import { encodeKey, encodeQuery } from './quantize.js';
import { headsPerTile, keySplits, maskSource, prefillMergeSource, prefillBytes, prefillSource, prefillTiles, PREFILL_PARAMS_BYTES, queryTile, type PrefillTiles } from './prefill-kernel.js';
import { WG, type Storage } from './wgsl.js';
import { assertDeviceAlive, gpuBuffer, readBackFailed } from './device.js';

export interface PrefillShape {
  heads: number; kvHeads: number; headDim: number; valueDim: number;
  /** How K and V are kept on the GPU (f16: half the bytes, results within 1e-3 relative). */
  storage: Storage;
  /**
   * The attention pass's tile sizes (tests, benchmarks: e.g. those of a device with less workgroup
   * memory); default: the largest the device's workgroup memory holds (prefillTiles).
   */
  tiles?: PrefillTiles;
}

const round = (x: number, m: number) => Math.ceil(x / m) * m;

/**
 * Causal (or full) attention of m query positions over n keys on a GPU, every head of a grouped-
 * query layout at once (prefill-kernel.ts): `load` uploads one problem, `encode` records its passes
 * into a command encoder (benchmarks time that alone), `run` encodes, submits and reads back the
 * output and the CPU backends' stats. Modes: dense softmax and ReLU^α, exact sparse ReLU^α (key
 * tiles whose certified bounds stay below the bias are skipped: zero error).
 */
export class GpuPrefill {
  readonly D: number;
  readonly DV: number;
  private readonly G: number;
  private readonly sub: number;
  /**
   * The attention pass's tile sizes: the shape's, else (prefill-kernel.ts prefillTiles) the largest
   * the workgroup memory holds, with key splits (keySplits) for the problem last loaded.
   */
  tiles: PrefillTiles;
  private readonly sparse: boolean;
  private readonly pipelines: Pipelines;
  private readonly buffers = new Map<string, GPUBuffer>();
  private m = 0;
  private n = 0;

  constructor(readonly device: GPUDevice, readonly shape: PrefillShape, readonly options: ResolvedAttentionOptions) {
    const { heads, kvHeads, headDim, valueDim, storage } = shape;
    this.D = round(headDim, 16);
    this.DV = round(valueDim, 8);
    const sel = options.selection.rule;
    if (sel !== 'dense' && sel !== 'exact') {
      throw new HsrError('UNSUPPORTED', `attentionAsync: backend 'webgpu' prefills with sparsity 'dense' or (ReLU) 'exact', got the ${sel} rule`);
    }
    this.sparse = sel === 'exact';
    this.pipelines = Pipelines.of(device);
    this.G = headsPerTile(heads / kvHeads);
    this.sub = heads / kvHeads / this.G;
    const limit = device.limits.maxComputeWorkgroupStorageSize;
    const tiles = shape.tiles ?? prefillTiles(this.D, this.DV, limit);
    if (!tiles) {
      throw new HsrError('UNSUPPORTED', `attentionAsync: backend 'webgpu' needs its prefill tiles in ${limit} bytes of workgroup memory, got headDim ${headDim} and valueDim ${valueDim} (too wide)`);
    }
    const { TY, TX, BK, DC, KC, prefetch, order, splits } = tiles;
    if (!([4, 8, 16].includes(TY) && (TX === 8 || TX === 16) && BK === 4 * TX && [16, 32, 64].includes(DC) && this.D % DC === 0
      && BK % KC === 0 && KC >= 1 && typeof prefetch === 'boolean' && (order === 'global' || order === 'group')
      && Number.isInteger(splits) && splits >= 1 && splits <= 16 && prefillBytes(tiles, this.DV) <= limit)) {
      throw new HsrError('BAD_OPTION', `GpuPrefill: expected tiles with TY 4, 8 or 16, TX 8 or 16, BK = 4·TX, DC of 16/32/64 dividing ${this.D}, KC dividing BK, prefetch a boolean, order 'global' or 'group', 1–16 splits, within ${limit} bytes, got ${JSON.stringify(tiles)}`);
    }
    this.tiles = tiles;
  }

  /**
   * Uploads one problem: queries [m, heads, headDim], keys [n, kvHeads, headDim], values
   * [n, kvHeads, valueDim], position-major (validated by the caller). Throws UNSUPPORTED where f16
   * storage cannot hold a key or value, or logits could leave float32's range.
   */
  load(queries: Float32Array, m: number, keys: Float32Array, values: Float32Array, n: number): void {
    const { heads, kvHeads, headDim: d, valueDim: dv, storage } = this.shape;
    const { D, DV } = this, queue = this.device.queue, usage = GPUBufferUsage.STORAGE;
    assertDeviceAlive(this.device, 'attentionAsync');
    // Key splits where query tiles are few (short prompts, chunks over long contexts).
    if (!this.shape.tiles) {
      const { TY, BK } = this.tiles;
      this.tiles = { ...this.tiles, splits: keySplits(Math.ceil(m / queryTile(this.G, TY)) * kvHeads * this.sub, Math.ceil(n / BK)) };
    }
    // One workgroup per query tile (x) and per (query tile, KV head group) in the mask pass (y):
    // WebGPU guarantees 65535 a dimension.
    const BQ = this.queryTile();
    const tiles = Math.ceil(m / BQ) * (this.sparse ? kvHeads * this.sub : 1);
    if (tiles > 65535) {
      throw new HsrError('UNSUPPORTED', `attentionAsync: backend 'webgpu' dispatches at most 65535 query tiles${this.sparse ? ' × KV head groups' : ''} (${BQ} positions a tile), got ${tiles} for m = ${m}`);
    }
    const { splits } = this.tiles;
    if (splits > 1 && Math.ceil((heads * m * DV) / 4 / WG) > 65535) {
      throw new HsrError('UNSUPPORTED', `attentionAsync: backend 'webgpu' merges key splits of at most ${65535 * WG * 4 / DV} rows, got ${heads * m} (${splits} splits)`);
    }
    this.m = m; this.n = n;
    if (storage === 'f16') checkHalfRange(keys, values, 'attentionAsync');
    const K = headMajor(keys, n, kvHeads, d, D), V = headMajor(values, n, kvHeads, dv, DV);
    const kStored = storage === 'f16' ? halfBits(K) : K;
    upload(queue, this.buf('K', kStored.byteLength, usage), 0, kStored);
    const vStored = storage === 'f16' ? halfBits(V) : V;
    upload(queue, this.buf('V', vStored.byteLength, usage), 0, vStored);
    // Bounds and the range check come from the keys as stored (their float16 rounding on 'f16').
    const kSeen = storage === 'f16' ? halfValues(kStored as Uint16Array) : K;
    let kMax = 0;
    for (let r = 0; r < kvHeads * n; r++) kMax = Math.max(kMax, norm(kSeen, r * D, d));
    const Q = headMajor(queries, m, heads, d, D);
    let qMax = 0;
    for (let r = 0; r < heads * m; r++) qMax = Math.max(qMax, norm(Q, r * D, d));
    if (!(this.options.scale * qMax * kMax < 1e30)) {
      throw new HsrError('UNSUPPORTED', `attentionAsync: backend 'webgpu': logits up to scale·‖q‖·‖k‖ = ${this.options.scale * qMax * kMax} exceed what float32 kernels can weigh (≤ 1e30)`);
    }
    upload(queue, this.buf('Q', Q.byteLength, usage), 0, Q);
    if (this.sparse) {
      const codes = new Int8Array(kvHeads * n * D), meta = new Float32Array(4 * kvHeads * n);
      for (let r = 0; r < kvHeads * n; r++) encodeKey(kSeen.subarray(r * D, r * D + d), d, codes, r * D, meta, r);
      upload(queue, this.buf('codes', codes.byteLength, usage), 0, codes);
      upload(queue, this.buf('meta', meta.byteLength, usage), 0, meta);
      const qcode = new Int8Array(heads * m * 2 * D), coef = new Float32Array(4 * heads * m);
      for (let r = 0; r < heads * m; r++) encodeQuery(Q.subarray(r * D, r * D + d), d, D, this.options.scale, qcode, 2 * r * D, coef, r);
      upload(queue, this.buf('qcode', qcode.byteLength, usage), 0, qcode);
      upload(queue, this.buf('coef', coef.byteLength, usage), 0, coef);
    }
    const qTiles = Math.ceil(m / BQ), kTiles = Math.ceil(n / this.tiles.BK);
    const params = new Uint32Array(PREFILL_PARAMS_BYTES / 4), f = new Float32Array(params.buffer), i = new Int32Array(params.buffer);
    params.set([m, n, 0, n, 0, 0, heads / kvHeads, this.sub, qTiles, kTiles, this.options.causal ? 1 : 0, heads * m]);
    i[2] = n - m; f[4] = this.options.scale; f[5] = this.options.bias;
    upload(queue, this.buf('params', params.byteLength, GPUBufferUsage.UNIFORM), 0, params);
    this.buf('out', heads * m * DV * 4, usage);
    this.buf('rowCount', heads * m * 8, usage);
    if (this.sparse) this.buf('mask', kvHeads * this.sub * qTiles * kTiles * 4, usage);
    if (splits > 1) this.buf('part', heads * m * splits * (DV / 4 + 1) * 16, usage);
  }

  /** Records the loaded problem's passes into `enc` (m, n ≥ 1). */
  encode(enc: GPUCommandEncoder): void {
    const { kvHeads, storage } = this.shape, o = this.options, b = (name: string) => this.buffers.get(name)!;
    const BQ = this.queryTile(), qTiles = Math.ceil(this.m / BQ), groups = kvHeads * this.sub;
    if (this.sparse) {
      const { BK } = this.tiles;
      const pipe = this.pipelines.get(`prefill-mask-${this.D}-${this.G}-${BQ}-${BK}`, () => maskSource(this.D, this.G, BQ, BK));
      this.pipelines.dispatch(enc, pipe, [b('codes'), b('meta'), b('qcode'), b('coef'), b('params'), b('mask')], Math.ceil(this.n / WG), qTiles * groups);
    }
    const { TY, TX, BK, DC, KC, prefetch, order, splits } = this.tiles;
    const key = `prefill-${this.D}-${this.DV}-${this.G}-${TY}-${TX}-${BK}-${DC}-${KC}-${prefetch}-${order}-${splits}-${storage}-${o.kind}-${o.alpha}-${this.sparse}`;
    const pipe = this.pipelines.get(key, () => prefillSource({
      D: this.D, DV: this.DV, G: this.G, ...this.tiles, storage, weighting: o.kind, alpha: o.alpha, sparse: this.sparse,
    }));
    // With key splits the attention pass writes partial states (binding 7), the merge the output.
    const split = splits > 1;
    this.pipelines.dispatch(enc, pipe, [b('K'), b('V'), b('Q'), split ? null : b('out'), b('params'), split ? null : b('rowCount'),
      this.sparse ? b('mask') : null, split ? b('part') : null], qTiles, groups * splits);
    if (split) {
      const merge = this.pipelines.get(`prefill-merge-${this.DV}-${splits}`, () => prefillMergeSource(this.DV, splits));
      this.pipelines.dispatch(enc, merge, [b('part'), b('out'), b('params'), b('rowCount')], Math.ceil((this.shape.heads * this.m * this.DV) / 4 / WG), 1);
    }
    this.pipelines.endPass();
  }

  /**
   * Runs the loaded problem: output [m, heads, valueDim] position-major and the CPU's stats
   * (keysScored: visible keys of the tiles scored; keysUsed: keys with positive weight).
   */
  async run(): Promise<{ output: Float32Array; stats: AttentionStats }> {
    const { heads, valueDim: dv } = this.shape, { m, n, DV } = this;
    const output = new Float32Array(m * heads * dv);
    const stats: AttentionStats = { keysScored: 0, keysUsed: 0 };
    if (this.sparse) stats.boundsEvaluated = 0;
    if (m === 0 || n === 0) return { output, stats };
    const dev = this.device;
    dev.pushErrorScope('validation');
    const enc = dev.createCommandEncoder();
    this.encode(enc);
    const outBytes = heads * m * DV * 4, countBytes = heads * m * 8;
    const rb = dev.createBuffer({ size: outBytes + countBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(this.buffers.get('out')!, 0, rb, 0, outBytes);
    enc.copyBufferToBuffer(this.buffers.get('rowCount')!, 0, rb, outBytes, countBytes);
    dev.queue.submit([enc.finish()]);
    // (A mapping fails only on a lost device.)
    const [invalid, mapped] = await Promise.all([dev.popErrorScope().catch(() => null),
      rb.mapAsync(GPUMapMode.READ).then(() => null, (e: unknown) => e ?? 'mapAsync rejected')]);
    if (mapped || invalid) {
      rb.destroy();
      if (mapped) throw readBackFailed(dev, 'attentionAsync', mapped);
      throw new HsrError('UNSUPPORTED', `attentionAsync: the GPU refused a prefill pass: ${invalid!.message}`);
    }
    const data = rb.getMappedRange().slice(0);
    rb.unmap(); rb.destroy();
    const out = new Float32Array(data, 0, heads * m * DV), counts = new Uint32Array(data, outBytes, 2 * heads * m);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < m; i++) output.set(out.subarray((h * m + i) * DV, (h * m + i) * DV + dv), (i * heads + h) * dv);
    }
    // Sums in float64: 32k positions × 8 heads see up to ~4e9 keys, past a u32.
    for (let r = 0; r < heads * m; r++) { stats.keysScored += counts[2 * r]!; stats.keysUsed += counts[2 * r + 1]!; }
    if (this.sparse) {
      for (let i = 0; i < m; i++) stats.boundsEvaluated! += heads * visibleKeys(m, n, i, this.options.causal);
    }
    return { output, stats };
  }

  /** Positions of a query tile. */
  private queryTile(): number {
    return queryTile(this.G, this.tiles.TY);
  }

  /** Frees the GPU buffers (the device stays: it is shared). */
  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }

  /** A buffer of at least `bytes` (usage | COPY_SRC | COPY_DST), replaced when too small. */
  private buf(name: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = round(Math.max(bytes, 16), 16);
    let b = this.buffers.get(name);
    if (!b || b.size < size) {
      b?.destroy();
      b = gpuBuffer(this.device, size, usage | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `attentionAsync (m = ${this.m}, n = ${this.n}): ${name}`);
      this.buffers.set(name, b);
    }
    return b;
  }
}

/** Position-major rows [count, groups, dim] → head-major [groups, count, P] (zero-padded to P dims). */
function headMajor(x: Float32Array, count: number, groups: number, dim: number, P: number): Float32Array {
  const out = new Float32Array(Math.max(1, groups * count * P));
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < count; i++) out.set(x.subarray((i * groups + g) * dim, (i * groups + g + 1) * dim), (g * count + i) * P);
  }
  return out;
}

function norm(x: Float32Array, at: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += x[at + i]! * x[at + i]!;
  return Math.sqrt(s);
}

function halfBits(x: Float32Array): Uint16Array {
  const h = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) h[i] = numberToF16Bits(x[i]!);
  return h;
}
