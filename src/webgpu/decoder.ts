/// <reference types="@webgpu/types" />
import { HsrError } from '../errors.js';
import type { AttentionStats, ResolvedAttentionOptions } from '../attention/options.js';
import { decodeF16, encodeF16 } from '../tensor/half.js';
import { STATS_BYTES, WebGpuDecodePlan } from './plan.js';
import type { DecodePlanOptions } from './plan-options.js';
import { Pipelines, upload } from './pipelines.js';
import { KeyMoments } from '../attention/moments.js';
import { paperThreshold } from '../attention/threshold-rule.js';
import type { Storage } from './wgsl.js';
import { timeOnGpu, timePasses, type GpuTiming } from './timing.js';
import { allOrNone, assertDeviceAlive, bufferLimit, gpuBuffer, readBackFailed } from './device.js';

export interface GpuDecoderShape {
  heads: number; kvHeads: number; headDim: number; valueDim: number;
  /** How K and V are kept on the GPU (f16: half the bytes, exact modes within 1e-3 relative). */
  storage: Storage;
  /** Workgroups a pass aims for (splits = this / (KV heads · head subgroups)). */
  targetWorkgroups?: number;
}

const round = (x: number, m: number) => Math.ceil(x / m) * m;
/** Free staging buffers kept (more steps in flight create more, destroyed once done). */
const MAX_STAGING = 4;
const closed = () => new HsrError('CLOSED', "KVCache: expected an open cache, got one that was destroyed");

/**
 * A decoding KV cache on a GPU: keys and values in GPU buffers [kvHeads, cap, dim], grown by
 * doubling with GPU-side copies; every decode step is one {@link WebGpuDecodePlan} over them (dense,
 * exact sparse ReLU, certified, threshold or top-k softmax: the plan keeps the key codes and
 * selects on the GPU; 'paper' is a threshold plan given each query's threshold from key moments),
 * recorded into one command buffer, with only the output and the plan's per-head stats read back.
 */
export class GpuDecoder {
  readonly D: number;
  readonly DV: number;
  private n = 0;
  private cap = 0;
  private keyNormMax = 0;
  private K: GPUBuffer | null = null;
  private V: GPUBuffer | null = null;
  private Q: GPUBuffer | null = null;
  private out: GPUBuffer | null = null;
  private readonly sparsity: NonNullable<DecodePlanOptions['sparsity']>;
  /** 'paper': running key moments per KV head (of the keys as stored), for the per-query threshold. */
  private readonly moments: KeyMoments[] | null;
  private readonly pipelines: Pipelines;
  /** The plan over this cache's buffers (made with them whenever the capacity grows). */
  private plan: WebGpuDecodePlan | null = null;
  /** Mappable buffers of finished steps, free for the next (steps in flight hold their own). */
  private readonly staging: GPUBuffer[] = [];
  private destroyed = false;
  /** Why the cache refuses work for good (its device lost, a growth the GPU could not hold): every later call throws it. */
  private failure: HsrError | null = null;
  /** The out-of-memory checks of the growths so far (GPU errors come back asynchronously): a step waits for them. */
  private growth: Promise<unknown> = Promise.resolve();

  constructor(readonly device: GPUDevice, readonly shape: GpuDecoderShape, readonly options: ResolvedAttentionOptions) {
    this.D = round(shape.headDim, 16);
    this.DV = round(shape.valueDim, 8);
    this.pipelines = Pipelines.of(device);
    const sel = options.selection;
    this.sparsity = sel.rule === 'dense' || sel.rule === 'exact' ? sel.rule : sel.rule === 'certified' ? { epsilon: sel.epsilon }
      : sel.rule === 'top-k' ? { topK: sel.topK } : { threshold: sel.rule === 'threshold' ? sel.threshold : 0 };
    this.moments = sel.rule === 'paper' ? Array.from({ length: shape.kvHeads }, () => new KeyMoments(shape.headDim)) : null;
    if (this.D > 2048 || this.DV > 2048) throw new HsrError('UNSUPPORTED', `backend 'webgpu': expected headDim and valueDim ≤ 2048, got ${shape.headDim} and ${shape.valueDim}`);
  }

  get length(): number { return this.n; }

  /** Appends t positions: keys [t, kvHeads, headDim], values [t, kvHeads, valueDim] (validated by the caller). */
  append(keys: Float32Array, values: Float32Array): void {
    const { kvHeads, headDim: d, valueDim: dv, storage } = this.shape;
    this.assertUsable('KVCache.append');
    const t = keys.length / (kvHeads * d);
    if (t === 0) return;
    if (storage === 'f16') checkHalfRange(keys, values);
    this.reserve(this.n + t);
    const q = this.device.queue;
    const kRow = this.rowBytes(this.D), vRow = this.rowBytes(this.DV);
    const kStage = new Float32Array(t * this.D), vStage = new Float32Array(t * this.DV);
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
      // The logit range check of attend uses the keys as stored (their float16 rounding on 'f16').
      const stored = storage === 'f16' ? halfValues(kData as Uint16Array) : kStage;
      for (let p = 0; p < t; p++) {
        let n2 = 0;
        for (let i = p * this.D; i < p * this.D + d; i++) n2 += stored[i]! * stored[i]!;
        this.keyNormMax = Math.max(this.keyNormMax, Math.sqrt(n2));
        this.moments?.[g]!.add(stored.subarray(p * this.D, p * this.D + d), 0);
      }
    }
    this.n += t;
  }

  /**
   * One decode step: queries [heads, headDim] → output [heads, valueDim] and the CPU backends'
   * stats. Recorded and submitted now, before the returned promise waits: the GPU's queue then
   * runs steps and appends in the order of the calls, and steps in flight together (on this cache
   * or others) overlap their round trips, each reading back through its own staging buffer.
   */
  async attend(queries: Float32Array): Promise<{ output: Float32Array; stats: AttentionStats }> {
    this.assertUsable('KVCache.attendAsync');
    const { heads, headDim: d, valueDim: dv } = this.shape;
    const { scale } = this.options, n = this.n, sparsity = this.sparsity;
    const output = new Float32Array(heads * dv);
    const stats: AttentionStats = { keysScored: 0, keysUsed: 0 };
    const bounded = typeof sparsity === 'object'; // certified, threshold, 'paper', top-k: errorBound as on the CPU
    if (bounded) { stats.errorBound = new Float64Array(heads); stats.boundsEvaluated = 0; stats.denseQueries = 0; }
    if (sparsity === 'exact') stats.boundsEvaluated = 0;
    if (n === 0) return { output, stats };
    let qMax = 0;
    for (let h = 0; h < heads; h++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += queries[h * d + i]! ** 2;
      qMax = Math.max(qMax, Math.sqrt(s));
    }
    if (!(scale * qMax * this.keyNormMax < 1e30)) {
      throw new HsrError('UNSUPPORTED', `backend 'webgpu': logits up to scale·‖q‖·‖k‖ = ${scale * qMax * this.keyNormMax} exceed what float32 kernels can weigh (≤ 1e30)`);
    }
    if (typeof sparsity === 'object' && !('epsilon' in sparsity) && !(qMax * this.keyNormMax < 1e30)) {
      throw new HsrError('UNSUPPORTED', `backend 'webgpu': threshold and top-k score ⟨q, k⟩ in float32 pairs: expected ‖q‖·‖k‖ < 1e30, got ${qMax * this.keyNormMax}`);
    }
    const dev = this.device;
    dev.pushErrorScope('validation');
    const enc = dev.createCommandEncoder();
    this.encodeStep(enc, this.paddedQueries(queries));
    const outBytes = heads * this.DV * 4, total = outBytes + heads * STATS_BYTES;
    // Mappable buffers are reused (creating one a step is host time on every step); a step takes
    // one no other step in flight holds.
    const rb = this.staging.pop() ?? dev.createBuffer({ size: total, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(this.out!, 0, rb, 0, outBytes);
    enc.copyBufferToBuffer(this.plan!.stats, 0, rb, outBytes, heads * STATS_BYTES);
    dev.queue.submit([enc.finish()]);
    // The error scope and the mapping are waited for together: one round trip to the GPU's
    // process events a step instead of two (each costs host time on Dawn's Node bindings).
    // (A growth's out-of-memory check comes with them; a mapping fails only on a lost device.)
    const [invalid, mapped] = await Promise.all([dev.popErrorScope().catch(() => null),
      rb.mapAsync(GPUMapMode.READ, 0, total).then(() => null, (e: unknown) => e ?? 'mapAsync rejected'), this.growth]);
    if (mapped || invalid || this.failure) {
      rb.destroy();
      if (this.destroyed) throw closed();
      if (mapped) this.failure ??= readBackFailed(dev, 'KVCache.attendAsync', mapped);
      if (this.failure) throw this.failure;
      throw new HsrError('UNSUPPORTED', `backend 'webgpu': the GPU refused a decode pass: ${invalid!.message}`);
    }
    const data = rb.getMappedRange(0, total);
    const out = new Float32Array(data, 0, heads * this.DV);
    if (this.DV === dv) output.set(out);
    else for (let h = 0; h < heads; h++) output.set(out.subarray(h * this.DV, h * this.DV + dv), h * dv);
    const words = new Uint32Array(data, outBytes, 4 * heads), bounds = new Float32Array(data, outBytes, 4 * heads);
    for (let h = 0; h < heads; h++) {
      stats.keysScored += words[4 * h]!;
      stats.keysUsed += words[4 * h + 1]!;
      if (bounded) {
        stats.errorBound![h] = bounds[4 * h + 2]!;
        if (words[4 * h + 1] === n) stats.denseQueries!++;
      }
    }
    rb.unmap();
    if (this.destroyed || this.staging.length >= MAX_STAGING) rb.destroy();
    else this.staging.push(rb);
    if (sparsity !== 'dense') stats.boundsEvaluated = heads * n;
    return { output, stats };
  }

  /** Encodes one decode step over the n cached keys into enc (padded queries Q [heads, D] uploaded now). */
  private encodeStep(enc: GPUCommandEncoder, Q: Float32Array): void {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.Q ??= this.device.createBuffer({ size: Q.byteLength, usage });
    this.out ??= this.device.createBuffer({ size: this.shape.heads * this.DV * 4, usage });
    upload(this.device.queue, this.Q, 0, Q);
    const plan = this.plan!; // (n > 0: made by the growth to the capacity)
    if (this.moments) {
      const { heads, headDim: d } = this.shape, group = heads / this.shape.kvHeads, scale = this.options.scale;
      plan.setThresholds(Array.from({ length: heads }, (_, h) =>
        paperThreshold(Q.subarray(h * this.D, h * this.D + d), this.moments![Math.floor(h / group)]!, this.n, scale)));
    }
    plan.encode(enc, { queries: this.Q, keys: this.K!, values: this.V!, output: this.out }, this.n);
  }

  /**
   * Benchmarks: milliseconds per decode step of `reps` steps recorded into one command buffer and
   * waited for once (no readback): the GPU's own time where it has timestamps, else submit to done
   * (timing.ts); {@link lastTiming} has every part of the last call, per step.
   */
  async timeSteps(queries: Float32Array, reps: number): Promise<number> {
    const Q = this.paddedQueries(queries);
    const t = await timeOnGpu(this.device, (enc) => { for (let r = 0; r < reps; r++) this.encodeStep(enc, Q); });
    this.lastTiming = { encodeMs: t.encodeMs / reps, submitMs: t.submitMs / reps, gpuMs: t.gpuMs === null ? null : t.gpuMs / reps };
    return this.lastTiming.gpuMs ?? this.lastTiming.submitMs;
  }

  /**
   * Benchmarks: GPU milliseconds per decode step by pass (query codes, scan, cut, compact,
   * attention, merge; `between`: the gaps between passes) over `reps` steps in one command buffer;
   * null without timestamps.
   */
  async timeStepPasses(queries: Float32Array, reps: number): Promise<Record<string, number> | null> {
    const Q = this.paddedQueries(queries);
    const t = await timePasses(this.device, this.pipelines, (enc) => { for (let r = 0; r < reps; r++) this.encodeStep(enc, Q); });
    if (t) for (const k of Object.keys(t)) t[k]! /= reps;
    return t;
  }

  /** The queries padded to [heads, D], in one array reused by every step (uploads copy it at once). */
  private paddedQueries(queries: Float32Array): Float32Array {
    const { heads, headDim: d } = this.shape;
    const Q = this.qPadded ??= new Float32Array(heads * this.D);
    if (d === this.D) Q.set(queries);
    else for (let h = 0; h < heads; h++) Q.set(queries.subarray(h * d, (h + 1) * d), h * this.D);
    return Q;
  }

  private qPadded: Float32Array | null = null;

  /** The parts of the last {@link timeSteps}, milliseconds per step. */
  lastTiming: GpuTiming = { encodeMs: 0, submitMs: 0, gpuMs: null };

  /** A plan over this cache's buffers at capacity `cap` (padded dims D, DV). */
  private newPlan(cap: number): WebGpuDecodePlan {
    const o = this.options;
    return WebGpuDecodePlan.create(this.pipelines, {
      heads: this.shape.heads, kvHeads: this.shape.kvHeads, headDim: this.D, valueDim: this.DV, storage: this.shape.storage,
      kind: o.kind, alpha: o.alpha, bias: o.bias, scale: o.scale, maxLength: cap, targetWorkgroups: this.shape.targetWorkgroups,
      sparsity: this.sparsity,
      // The cache keeps the CPU backends' stats (their selection at every length): no dense steps.
      ...(typeof this.sparsity === 'object' && 'epsilon' in this.sparsity ? { certifiedDenseMax: 0 } : {}),
    });
  }

  /** CLOSED once destroyed; DEVICE_LOST once the device is known lost; the failure once failed. */
  private assertUsable(where: string): void {
    if (this.destroyed) throw closed();
    assertDeviceAlive(this.device, where);
    if (this.failure) throw this.failure;
  }

  private rowBytes(dim: number): number { return this.shape.storage === 'f16' ? 2 * dim : 4 * dim; }

  /** Rows as the GPU keeps them: the float32 values, or their float16 bit patterns. */
  private stored(rows: Float32Array): Float32Array | Uint16Array {
    if (this.shape.storage === 'f32') return rows;
    const h = new Uint16Array(rows.length);
    encodeF16(rows, h);
    return h;
  }

  /**
   * Capacity for `need` positions: new K/V buffers (doubling, within the device's buffer limits)
   * with every KV head's rows copied on the GPU, and the plan over them — all or none: past the
   * limits (the K/V rows', or a plan buffer's) TOO_LARGE before the cache changes. Out of memory
   * comes back from the GPU later: it fails the cache (TOO_LARGE from the next call on), whose
   * rows went to buffers that do not exist.
   */
  private reserve(need: number): void {
    if (need <= this.cap) return;
    const { kvHeads } = this.shape, old = this.cap, dev = this.device;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
    const kRow = this.rowBytes(this.D), vRow = this.rowBytes(this.DV), limit = bufferLimit(dev, usage);
    const most = Math.floor(limit.bytes / (kvHeads * Math.max(kRow, vRow)));
    if (need > most) {
      throw new HsrError('TOO_LARGE', `KVCache.append: expected at most ${most} positions (the device's ${limit.name} = ${limit.bytes} bytes a buffer, ${kvHeads * Math.max(kRow, vRow)} bytes a position of keys or values), got ${need}`);
    }
    const made = (cap: number) => allOrNone(() => ({
      cap, plan: this.newPlan(cap),
      K: gpuBuffer(dev, kvHeads * cap * kRow, usage, 'KVCache.append keys'), V: gpuBuffer(dev, kvHeads * cap * vRow, usage, 'KVCache.append values'),
    }));
    dev.pushErrorScope('out-of-memory');
    let next: ReturnType<typeof made>;
    try {
      // Doubling where it fits; else exactly `need` (a plan buffer's limit may bind before the K/V rows').
      const cap = Math.min(Math.max(need, 2 * old, 256), most);
      try { next = made(cap); } catch (e) { if (cap === need || !(e instanceof HsrError && e.code === 'TOO_LARGE')) throw e; next = made(need); }
      const enc = dev.createCommandEncoder();
      for (const [from, to, rowBytes] of [[this.K, next.K, kRow], [this.V, next.V, vRow]] as const) {
        if (from && this.n > 0) for (let h = 0; h < kvHeads; h++) enc.copyBufferToBuffer(from, h * old * rowBytes, to, h * next.cap * rowBytes, this.n * rowBytes);
      }
      dev.queue.submit([enc.finish()]);
    } finally {
      const oom = dev.popErrorScope();
      this.growth = Promise.all([this.growth, oom.then((e) => {
        if (e && next) this.failure ??= new HsrError('TOO_LARGE', `KVCache: expected the GPU to hold the growth to ${next.cap} positions (${kvHeads * next.cap * (kRow + vRow)} bytes of keys and values), got out of memory (${e.message}); the positions appended since are lost: the cache refuses further work`);
      }, () => {})]);
    }
    for (const b of [this.K, this.V]) b?.destroy();
    this.plan?.destroy();
    ({ K: this.K, V: this.V, plan: this.plan, cap: this.cap } = next);
  }

  /** The last sparse decode's attended positions per head, ascending (certified: kept, ReLU: candidates; a union list's for each of its heads) — for tests and diagnostics. */
  async lastSelection(): Promise<Uint32Array[]> {
    const sel = this.plan?.selected;
    if (!sel) return [];
    const { heads } = this.shape, stride = this.plan!.options.maxLength;
    const rb = this.device.createBuffer({ size: sel.ids.size + 16 * Math.ceil(heads / 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(sel.ids, 0, rb, 0, sel.ids.size);
    enc.copyBufferToBuffer(sel.counts, 0, rb, sel.ids.size, 4 * heads);
    this.device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const all = new Uint32Array(rb.getMappedRange().slice(0));
    rb.unmap(); rb.destroy();
    const c = all.subarray(sel.ids.size / 4);
    const l = (h: number) => Math.floor(h / sel.headsPerList);
    return Array.from({ length: heads }, (_, h) => all.slice(l(h) * stride, l(h) * stride + c[l(h)]!).sort());
  }

  /**
   * Frees every GPU buffer (the device stays: it is shared); steps already submitted still finish
   * (WebGPU keeps a destroyed buffer's memory for work in flight), later calls are CLOSED.
   */
  destroy(): void {
    for (const b of [this.K, this.V, this.Q, this.out, ...this.staging]) b?.destroy();
    this.plan?.destroy();
    this.plan = null;
    this.K = this.V = this.Q = this.out = null;
    this.staging.length = 0;
    this.n = this.cap = 0;
    this.destroyed = true;
  }
}

/** float16 holds magnitudes up to 65504; beyond that a stored key or value would become ±Infinity. */
export function checkHalfRange(keys: Float32Array, values: Float32Array, where = 'KVCache.append'): void {
  for (const [what, a] of [['keys', keys], ['values', values]] as const) {
    for (let i = 0; i < a.length; i++) {
      if (Math.abs(a[i]!) > 65504) {
        throw new HsrError('UNSUPPORTED', `${where}: storage 'f16' holds |x| ≤ 65504, got ${what}[${i}] = ${a[i]}`);
      }
    }
  }
}

/** Float16 bit patterns as the float32 values they stand for. */
export function halfValues(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  decodeF16(bits, out);
  return out;
}
