/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';
import { tvBound } from '../attention/tv-bound.js';
import type { AttentionStats, ResolvedAttentionOptions } from '../attention/options.js';
import { decodeF16, numberToF16Bits } from '../tensor/half.js';
import { down32, encodeKey, encodeQuery, up32 } from './quantize.js';
import { attendParams, DEFAULT_WORKGROUPS, encodeMerge, Pipelines, splitCount, upload, WebGpuDecodePlan } from './plan.js';
import { boundsSource, BUCKETS, compactSource, cutSource, histogramSource, WG, type Storage } from './wgsl.js';
import { attendSource, keysPerStep, lanesFor } from './attend-kernel.js';
import { timeOnGpu, timePasses, type GpuTiming } from './timing.js';

export interface GpuDecoderShape {
  heads: number; kvHeads: number; headDim: number; valueDim: number;
  /** How K and V are kept on the GPU (f16: half the bytes, exact modes within 1e-3 relative). */
  storage: Storage;
  /** Workgroups a dense pass aims for (splits = this / (KV heads · head subgroups)). */
  targetWorkgroups?: number;
}

/** What a sparse decode runs on the GPU. */
type Mode = { kind: 'dense' } | { kind: 'relu' } | { kind: 'certified'; epsilon: number };

const round = (x: number, m: number) => Math.ceil(x / m) * m;

/**
 * A decoding KV cache on a GPU: keys and values (and, for sparse modes, int8 key codes) in GPU
 * buffers, head-major, grown by doubling with GPU-side copies; `attend` encodes every pass of one
 * decode step into one command buffer and reads back only the output and the per-head counters.
 * Modes: dense softmax or ReLU (split-KV), exact ReLU through certified code bounds, certified
 * softmax ε (bounds → histogram of bound gaps → cut → compaction → gathered attention).
 */
export class GpuDecoder {
  readonly D: number;
  readonly DV: number;
  private n = 0;
  private cap = 0;
  private keyNormMax = 0;
  private K: GPUBuffer | null = null;
  private V: GPUBuffer | null = null;
  private codes: GPUBuffer | null = null;
  private meta: GPUBuffer | null = null;
  private readonly mode: Mode;
  private readonly pipelines: Pipelines;
  /** Dense modes: the plan that attends over this cache's own buffers (grown with them). */
  private plan: WebGpuDecodePlan | null = null;
  private readonly scratch = new Map<string, GPUBuffer>();
  private readback: GPUBuffer | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly group: number;

  constructor(readonly device: GPUDevice, readonly shape: GpuDecoderShape, readonly options: ResolvedAttentionOptions) {
    this.D = round(shape.headDim, 16);
    this.DV = round(shape.valueDim, 8);
    this.group = shape.heads / shape.kvHeads;
    this.pipelines = Pipelines.of(device);
    const sel = options.selection;
    if (sel.rule === 'dense') this.mode = { kind: 'dense' };
    else if (sel.rule === 'exact') this.mode = { kind: 'relu' };
    else if (sel.rule === 'certified') this.mode = { kind: 'certified', epsilon: sel.epsilon };
    else throw new HsrError('UNSUPPORTED', `backend 'webgpu': expected sparsity 'dense' or { epsilon } for softmax, got the ${sel.rule} rule`);
    if (this.D > 2048 || this.DV > 2048) throw new HsrError('UNSUPPORTED', `backend 'webgpu': expected headDim and valueDim ≤ 2048, got ${shape.headDim} and ${shape.valueDim}`);
  }

  get length(): number { return this.n; }

  /** Appends t positions: keys [t, kvHeads, headDim], values [t, kvHeads, valueDim] (validated by the caller). */
  append(keys: Float32Array, values: Float32Array): void {
    const { kvHeads, headDim: d, valueDim: dv, storage } = this.shape;
    const t = keys.length / (kvHeads * d);
    if (t === 0) return;
    if (storage === 'f16') checkHalfRange(keys, values);
    this.reserve(this.n + t);
    const q = this.device.queue, sparse = this.mode.kind !== 'dense';
    const kRow = this.rowBytes(this.D), vRow = this.rowBytes(this.DV);
    const kStage = new Float32Array(t * this.D), vStage = new Float32Array(t * this.DV);
    const codes = sparse ? new Int8Array(t * this.D) : null, meta = sparse ? new Float32Array(4 * t) : null;
    for (let g = 0; g < kvHeads; g++) {
      kStage.fill(0); vStage.fill(0);
      for (let p = 0; p < t; p++) {
        kStage.set(keys.subarray((p * kvHeads + g) * d, (p * kvHeads + g + 1) * d), p * this.D);
        vStage.set(values.subarray((p * kvHeads + g) * dv, (p * kvHeads + g + 1) * dv), p * this.DV);
      }
      const kData = this.stored(kStage), vData = this.stored(vStage);
      const row0 = g * this.cap + this.n;
      upload(q, this.K!, row0 * kRow, kData);
      upload(q, this.V!, row0 * vRow, vData);
      // Codes and the norm bound come from the keys as stored (their float16 rounding on 'f16').
      const stored = storage === 'f16' ? halfValues(kData as Uint16Array) : kStage;
      for (let p = 0; p < t; p++) {
        const key = stored.subarray(p * this.D, (p + 1) * this.D);
        let n2 = 0;
        for (let i = 0; i < d; i++) n2 += key[i]! * key[i]!;
        this.keyNormMax = Math.max(this.keyNormMax, Math.sqrt(n2));
        if (codes) encodeKey(key, d, codes, p * this.D, meta!, p);
      }
      if (codes) {
        upload(q, this.codes!, row0 * this.D, codes);
        upload(q, this.meta!, row0 * 16, meta!);
      }
    }
    this.n += t;
  }

  /** One decode step: queries [heads, headDim] → output [heads, valueDim] and the CPU backends' stats. */
  attend(queries: Float32Array): Promise<{ output: Float32Array; stats: AttentionStats }> {
    const run = this.chain.then(() => this.attendNow(queries));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async attendNow(queries: Float32Array): Promise<{ output: Float32Array; stats: AttentionStats }> {
    const { heads, headDim: d, valueDim: dv } = this.shape;
    const { scale } = this.options, n = this.n, mode = this.mode;
    const output = new Float32Array(heads * dv);
    const stats: AttentionStats = { keysScored: 0, keysUsed: 0 };
    if (mode.kind === 'certified') { stats.errorBound = new Float64Array(heads); stats.boundsEvaluated = 0; stats.denseQueries = 0; }
    if (mode.kind === 'relu') stats.boundsEvaluated = 0;
    if (n === 0) return { output, stats };
    // Queries, padded; for sparse modes also their int8 parts and bound coefficients.
    const Q = this.paddedQueries(queries);
    let qMax = 0;
    for (let h = 0; h < heads; h++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += queries[h * d + i]! ** 2;
      qMax = Math.max(qMax, Math.sqrt(s));
    }
    if (!(scale * qMax * this.keyNormMax < 1e30)) {
      throw new HsrError('UNSUPPORTED', `backend 'webgpu': logits up to scale·‖q‖·‖k‖ = ${scale * qMax * this.keyNormMax} exceed what float32 kernels can weigh (≤ 1e30)`);
    }
    const dev = this.device;
    dev.pushErrorScope('validation');
    const enc = dev.createCommandEncoder();
    this.encodeStep(enc, Q);
    // Readback: out, summary (M, L), counts, used, cut (c, U, L, m0).
    const outBytes = heads * this.DV * 4;
    const layout = [['out', outBytes], ['summary', heads * 8], ['counts', heads * 4], ['used', heads * 4], ['cut', heads * 16]] as const;
    let total = 0;
    const at: Record<string, number> = {};
    for (const [name, bytes] of layout) { at[name] = total; total += bytes; }
    // One readback buffer, reused: steps run one at a time (this.chain), and creating a mappable
    // buffer per step is host time on every decode step.
    const rb = this.readback && this.readback.size >= total ? this.readback
      : dev.createBuffer({ size: total, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    if (rb !== this.readback) { this.readback?.destroy(); this.readback = rb; }
    for (const [name, bytes] of layout) {
      const src = name === 'used' && mode.kind === 'dense' ? this.plan!.counters : this.scratch.get(name);
      if (src) enc.copyBufferToBuffer(src, 0, rb, at[name]!, bytes);
    }
    dev.queue.submit([enc.finish()]);
    const invalid = await dev.popErrorScope();
    if (invalid) { throw new HsrError('UNSUPPORTED', `backend 'webgpu': the GPU refused a decode pass: ${invalid.message}`); }
    await rb.mapAsync(GPUMapMode.READ);
    const data = rb.getMappedRange().slice(0);
    rb.unmap();
    const out = new Float32Array(data, 0, heads * this.DV);
    for (let h = 0; h < heads; h++) output.set(out.subarray(h * this.DV, h * this.DV + dv), h * dv);
    const counts = new Uint32Array(data, at.counts!, heads), used = new Uint32Array(data, at.used!, heads);
    if (mode.kind === 'dense') {
      stats.keysScored = heads * n;
      stats.keysUsed = this.options.kind === 'relu' ? used.reduce((a, b) => a + b, 0) : heads * n;
    } else if (mode.kind === 'relu') {
      stats.keysScored = counts.reduce((a, b) => a + b, 0);
      stats.keysUsed = used.reduce((a, b) => a + b, 0);
      stats.boundsEvaluated = heads * n;
    } else {
      const summary = new Float32Array(data, at.summary!, 2 * heads), cut = new Float32Array(data, at.cut!, 4 * heads);
      stats.keysScored = stats.keysUsed = counts.reduce((a, b) => a + b, 0);
      stats.boundsEvaluated = heads * n;
      for (let h = 0; h < heads; h++) {
        if (counts[h] === n) stats.denseQueries!++;
        stats.errorBound![h] = this.certifiedBound(queries.subarray(h * d, (h + 1) * d), counts[h]!,
          summary[2 * h]!, summary[2 * h + 1]!, cut[4 * h + 1]!, cut[4 * h + 2]!, cut[4 * h + 3]!);
      }
    }
    return { output, stats };
  }

  /** Encodes one decode step over the n cached keys into enc (padded queries Q [heads, D] uploaded now). */
  private encodeStep(enc: GPUCommandEncoder, Q: Float32Array): void {
    const n = this.n, mode = this.mode;
    upload(this.device.queue, this.buf('Q', Q.byteLength, GPUBufferUsage.STORAGE), 0, Q);
    if (mode.kind === 'dense') {
      this.densePlan().encode(enc, { queries: this.scratch.get('Q')!, keys: this.K!, values: this.V!, output: this.buf('out', this.shape.heads * this.DV * 4, GPUBufferUsage.STORAGE) }, n);
    } else {
      this.encodeSelection(enc, Q, n, mode);
      this.encodeGathered(enc, n);
    }
  }

  /**
   * Benchmarks: milliseconds per decode step of `reps` steps recorded into one command buffer and
   * waited for once (no readback): the GPU's own time where it has timestamps, else submit to done
   * (timing.ts); {@link lastTiming} has every part of the last call, per step.
   */
  async timeSteps(queries: Float32Array, reps: number): Promise<number> {
    const Q = this.paddedQueries(queries);
    await this.chain;
    const t = await timeOnGpu(this.device, (enc) => { for (let r = 0; r < reps; r++) this.encodeStep(enc, Q); });
    this.lastTiming = { encodeMs: t.encodeMs / reps, submitMs: t.submitMs / reps, gpuMs: t.gpuMs === null ? null : t.gpuMs / reps };
    return this.lastTiming.gpuMs ?? this.lastTiming.submitMs;
  }

  /**
   * Benchmarks: GPU milliseconds per decode step by pass (bounds, histogram, cut, compact,
   * attention, merge; `between`: the gaps between passes) over `reps` steps in one command buffer;
   * null without timestamps.
   */
  async timeStepPasses(queries: Float32Array, reps: number): Promise<Record<string, number> | null> {
    const Q = this.paddedQueries(queries);
    await this.chain;
    const t = await timePasses(this.device, this.pipelines, (enc) => { for (let r = 0; r < reps; r++) this.encodeStep(enc, Q); });
    if (t) for (const k of Object.keys(t)) t[k]! /= reps;
    return t;
  }

  private paddedQueries(queries: Float32Array): Float32Array {
    const { heads, headDim: d } = this.shape;
    const Q = new Float32Array(heads * this.D);
    for (let h = 0; h < heads; h++) Q.set(queries.subarray(h * d, (h + 1) * d), h * this.D);
    return Q;
  }

  /** The parts of the last {@link timeSteps}, milliseconds per step. */
  lastTiming: GpuTiming = { encodeMs: 0, submitMs: 0, gpuMs: null };

  /**
   * errorBound of a certified row: δ ≤ U/(W + U) (tv-bound.ts) with U the cut's bound on the skipped
   * keys' mass (relative to m0) and W bounded from below by the larger of L (the cut's own lower
   * bound, relative to m0) and the GPU's float32 sum of the kept keys' weights W̃ (relative to M)
   * shrunk by its rounding: each logit within scale·(D+2)·2⁻²⁴·‖q‖·max‖k‖ (float32 dot), each of
   * the kept terms and the merge within 2⁻²³ relative per addition.
   */
  private certifiedBound(q: Float32Array, kept: number, M: number, Wt: number, U: number, L: number, m0: number): number {
    if (U <= 0) return 0;
    let qn = 0;
    for (const x of q) qn += x * x;
    const logitErr = this.options.scale * (this.D + 2) * 2 ** -24 * Math.sqrt(qn) * this.keyNormMax;
    const shrink = Math.max(0, 1 - (kept + 64) * 2 ** -23) * Math.exp(-2 * logitErr);
    const wLow = Wt * shrink;
    const useL = L > 0 && (wLow <= 0 || Math.log(L) + m0 > Math.log(wLow) + M);
    return useL ? tvBound(L, m0, U, m0) : tvBound(wLow, M, U, m0);
  }

  /** The dense plan over this cache's buffers (padded dims D, DV; rebuilt when the capacity grows). */
  private densePlan(): WebGpuDecodePlan {
    if (!this.plan || this.plan.options.maxLength < this.cap) {
      this.plan?.destroy();
      const o = this.options;
      this.plan = WebGpuDecodePlan.create(this.pipelines, {
        heads: this.shape.heads, kvHeads: this.shape.kvHeads, headDim: this.D, valueDim: this.DV, storage: this.shape.storage,
        kind: o.kind, alpha: o.alpha, bias: o.bias, scale: o.scale, maxLength: this.cap, targetWorkgroups: this.shape.targetWorkgroups,
      });
    }
    return this.plan;
  }

  /** Sparse selection: per head, an id list ('ids', counts in 'counts') of the keys to attend. */
  private encodeSelection(enc: GPUCommandEncoder, Q: Float32Array, n: number, mode: Mode): void {
    const { heads, kvHeads, headDim: d } = this.shape, D = this.D, group = this.group;
    const qcodes = new Int8Array(heads * 2 * D), coef = new Float32Array(4 * heads);
    for (let h = 0; h < heads; h++) encodeQuery(Q.subarray(h * D, h * D + d), d, D, this.options.scale, qcodes, 2 * h * D, coef, h);
    const q = this.device.queue;
    upload(q, this.buf('qcode', qcodes.byteLength, GPUBufferUsage.STORAGE), 0, qcodes);
    upload(q, this.buf('coef', coef.byteLength, GPUBufferUsage.STORAGE), 0, coef);
    const params = this.params('selParams', n, 0, 0, 0);
    const ids = this.buf('ids', heads * this.cap * 4, GPUBufferUsage.STORAGE);
    const counts = this.cleared(enc, 'counts', heads * 4);
    const blocks = Math.ceil(n / WG);
    const common = [this.codes!, this.meta!, this.scratch.get('qcode')!, this.scratch.get('coef')!, params];
    if (mode.kind === 'relu') {
      this.pipelines.dispatch(enc, this.pipelines.get(`bounds-relu-${D}-${group}`, () => boundsSource(D, group, 'relu', false)), [...common, ids, counts], blocks, kvHeads);
      return;
    }
    const up = this.buf('up', heads * this.cap * 4, GPUBufferUsage.STORAGE), lo = this.buf('lo', heads * this.cap * 4, GPUBufferUsage.STORAGE);
    const m0 = this.cleared(enc, 'm0', heads * 4), sg = this.pipelines.subgroupSize > 0;
    this.pipelines.dispatch(enc, this.pipelines.get(`bounds-certified-${D}-${group}-${sg}`, () => boundsSource(D, group, 'certified', sg)), [...common, up, lo, m0], blocks, kvHeads);
    const hist = this.cleared(enc, 'hist', heads * 2 * BUCKETS * 4);
    this.pipelines.dispatch(enc, this.pipelines.get('histogram', histogramSource), [up, lo, m0, hist, params], blocks, heads);
    const eps = (mode as { epsilon: number }).epsilon;
    const cutParams = this.uniform('cutParams', new Uint32Array([heads, 0, 0, 0]));
    new Float32Array(cutParams.data.buffer)[1] = Math.fround((eps / (1 - eps)) * (1 - 1e-6));
    upload(q, cutParams.buffer, 0, cutParams.data);
    const cut = this.buf('cut', heads * 16, GPUBufferUsage.STORAGE);
    this.pipelines.dispatch(enc, this.pipelines.get('cut', cutSource), [hist, this.edges(), m0, cut, cutParams.buffer], 1, 1);
    this.pipelines.dispatch(enc, this.pipelines.get('compact', compactSource), [up, cut, ids, counts, params], blocks, heads);
  }

  /** Attention over each head's id list, merged into 'out' and 'summary'. */
  private encodeGathered(enc: GPUCommandEncoder, n: number): void {
    const { heads, storage } = this.shape;
    const target = this.shape.targetWorkgroups ?? DEFAULT_WORKGROUPS;
    const T = lanesFor(this.D, this.DV, this.pipelines.subgroupSize);
    const splits = splitCount(Math.ceil(target / heads), n, keysPerStep(T));
    const params = this.params('gatherParams', n, 0, splits, 1);
    const relu = this.options.kind === 'relu';
    const pipe = this.pipelines.get(`attend-gather-${T}-${this.D}-${this.DV}-${storage}-${this.options.kind}-${this.options.alpha}`, () => attendSource({
      D: this.D, DV: this.DV, G: 1, T, storage, weighting: relu ? 'relu' : 'softmax', alpha: this.options.alpha, gather: true,
    }));
    const part = this.buf('part', heads * splits * (this.DV + 4) * 4, GPUBufferUsage.STORAGE);
    const bufs = [this.K!, this.V!, this.scratch.get('Q')!, part, params, this.scratch.get('ids')!, this.scratch.get('counts')!];
    if (relu) bufs.push(this.cleared(enc, 'used', heads * 4));
    this.pipelines.dispatch(enc, pipe, bufs, splits, heads);
    encodeMerge(this.pipelines, enc, this.DV, part, this.buf('out', heads * this.DV * 4, GPUBufferUsage.STORAGE),
      this.buf('summary', heads * 8, GPUBufferUsage.STORAGE), params, heads);
  }

  /** A scratch buffer of at least `bytes` (usage | COPY_SRC | COPY_DST), replaced when too small. */
  private buf(name: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = round(Math.max(bytes, 16), 16);
    let b = this.scratch.get(name);
    if (!b || b.size < size) {
      b?.destroy();
      b = this.device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      this.scratch.set(name, b);
    }
    return b;
  }

  /** A storage scratch buffer zeroed at this point of the command stream. */
  private cleared(enc: GPUCommandEncoder, name: string, bytes: number): GPUBuffer {
    const b = this.buf(name, bytes, GPUBufferUsage.STORAGE);
    enc.clearBuffer(b);
    return b;
  }

  private uniform(name: string, data: Uint32Array): { buffer: GPUBuffer; data: Uint32Array } {
    return { buffer: this.buf(name, data.byteLength, GPUBufferUsage.UNIFORM), data };
  }

  /** The attention passes' uniform (wgsl.ts `Params`) over this cache's buffers. */
  private params(name: string, n: number, chunk: number, splits: number, sub: number): GPUBuffer {
    const u = attendParams(n, chunk, splits, this.cap, this.options.scale, this.options.bias, this.group, sub);
    const { buffer } = this.uniform(name, u);
    upload(this.device.queue, buffer, 0, u);
    return buffer;
  }


  /** Bucket edges for the cut: e^{−bΔ} rounded up, then e^{−(b+1)Δ} rounded down (0 for the tail bucket). */
  private edges(): GPUBuffer {
    let b = this.scratch.get('edges');
    if (!b) {
      const e = new Float32Array(2 * BUCKETS);
      for (let i = 0; i < BUCKETS; i++) {
        e[i] = up32(Math.exp(-i / 8) * (1 + 1e-12));
        e[BUCKETS + i] = i === BUCKETS - 1 ? 0 : down32(Math.exp(-(i + 1) / 8) * (1 - 1e-12));
      }
      b = this.buf('edges', e.byteLength, GPUBufferUsage.STORAGE);
      upload(this.device.queue, b, 0, e);
    }
    return b;
  }

  private rowBytes(dim: number): number { return this.shape.storage === 'f16' ? 2 * dim : 4 * dim; }

  /** Rows as the GPU keeps them: the float32 values, or their float16 bit patterns. */
  private stored(rows: Float32Array): Float32Array | Uint16Array {
    if (this.shape.storage === 'f32') return rows;
    const h = new Uint16Array(rows.length);
    for (let i = 0; i < rows.length; i++) h[i] = numberToF16Bits(rows[i]!);
    return h;
  }

  /** Capacity for `need` positions: new buffers (doubling) with every KV head's rows copied on the GPU. */
  private reserve(need: number): void {
    if (need <= this.cap) return;
    const cap = Math.max(need, 2 * this.cap, 256), { kvHeads } = this.shape, old = this.cap;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const enc = this.device.createCommandEncoder();
    const grow = (b: GPUBuffer | null, rowBytes: number): GPUBuffer => {
      const g = this.device.createBuffer({ size: kvHeads * cap * rowBytes, usage });
      if (b && this.n > 0) for (let h = 0; h < kvHeads; h++) enc.copyBufferToBuffer(b, h * old * rowBytes, g, h * cap * rowBytes, this.n * rowBytes);
      return g;
    };
    const K = grow(this.K, this.rowBytes(this.D)), V = grow(this.V, this.rowBytes(this.DV));
    const sparse = this.mode.kind !== 'dense';
    const codes = sparse ? grow(this.codes, this.D) : null, meta = sparse ? grow(this.meta, 16) : null;
    this.device.queue.submit([enc.finish()]);
    for (const b of [this.K, this.V, this.codes, this.meta]) b?.destroy();
    this.K = K; this.V = V; this.codes = codes; this.meta = meta;
    this.cap = cap;
  }

  /** The last sparse decode's kept (certified) or candidate (ReLU) positions per head, ascending — for tests and diagnostics. */
  async lastSelection(): Promise<Uint32Array[]> {
    await this.chain;
    const { heads } = this.shape, ids = this.scratch.get('ids'), counts = this.scratch.get('counts');
    if (!ids || !counts) return [];
    const rb = this.device.createBuffer({ size: ids.size + 16 * Math.ceil(heads / 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(ids, 0, rb, 0, ids.size);
    enc.copyBufferToBuffer(counts, 0, rb, ids.size, 4 * heads);
    this.device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const all = new Uint32Array(rb.getMappedRange().slice(0));
    rb.unmap(); rb.destroy();
    const c = all.subarray(ids.size / 4);
    return Array.from({ length: heads }, (_, h) => all.slice(h * this.cap, h * this.cap + c[h]!).sort());
  }

  /** Frees every GPU buffer (the device stays: it is shared). */
  destroy(): void {
    for (const b of [this.K, this.V, this.codes, this.meta, this.readback, ...this.scratch.values()]) b?.destroy();
    this.readback = null;
    this.plan?.destroy();
    this.plan = null;
    this.scratch.clear();
    this.K = this.V = this.codes = this.meta = null;
    this.n = this.cap = 0;
  }
}

/** float16 holds magnitudes up to 65504; beyond that a stored key or value would become ±Infinity. */
function checkHalfRange(keys: Float32Array, values: Float32Array): void {
  for (const [what, a] of [['keys', keys], ['values', values]] as const) {
    for (let i = 0; i < a.length; i++) {
      if (Math.abs(a[i]!) > 65504) {
        throw new HsrError('UNSUPPORTED', `KVCache.append: storage 'f16' holds |x| ≤ 65504, got ${what}[${i}] = ${a[i]}`);
      }
    }
  }
}

function halfValues(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  decodeF16(bits, out);
  return out;
}
