/// <reference types="@webgpu/types" />
/**
 * What every pass on a device shares: its compiled pipelines by key, one-call dispatches that
 * reuse bind groups and a compute pass, and buffer uploads.
 */
import { subgroupSize } from './device.js';
import type { PassProfile, Profiled } from './timing.js';

const shared = new WeakMap<GPUDevice, Pipelines>();

/**
 * Compiled pipelines of one device by key, and one-call dispatches. One per device (`of`): every
 * cache and plan on a device shares the compiled shaders (a model's layers would otherwise compile
 * the same ones per layer).
 */
export class Pipelines implements Profiled {
  private readonly cache = new Map<string, GPUComputePipeline>();
  /** Pass labels by pipeline (benchmarks' per-pass timing): the key's words before its first number. */
  private readonly labels = new WeakMap<GPUComputePipeline, string>();
  /** Benchmarks (timing.ts `timePasses`): while set, every pass gets GPU timestamps. */
  profile: PassProfile | null = null;
  /** Dispatches recorded so far (benchmarks count a decode step's; consecutive ones share a compute pass). */
  passes = 0;
  /**
   * Benchmarks (a step timed by its first passes, bench/webgpu-sparse-plan.ts --prefixes): while
   * set, dispatches once {@link passes} has reached it are not recorded.
   */
  stopAt: number | null = null;
  /** Lanes of a subgroup the attention kernel may rely on (0: no subgroups). */
  readonly subgroupSize: number;
  private constructor(readonly device: GPUDevice) { this.subgroupSize = subgroupSize(device); }

  static of(device: GPUDevice): Pipelines {
    let p = shared.get(device);
    if (!p) { p = new Pipelines(device); shared.set(device, p); }
    return p;
  }

  get(key: string, source: () => string): GPUComputePipeline {
    let p = this.cache.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source() });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.cache.set(key, p);
      const words = key.split('-');
      const first = words.findIndex((w) => /^[0-9]/.test(w));
      this.labels.set(p, words.slice(0, first < 0 ? words.length : first).join('-'));
    }
    return p;
  }

  /**
   * One dispatch: `buffers[i]` at binding i (null skips a binding), plus `extra` entries. Bind
   * groups are cached by pipeline and buffers (a decode step reuses the last step's: creating them
   * cost more CPU time than the GPU spends on a short step). Consecutive dispatches on one encoder
   * share a compute pass (WebGPU orders each dispatch's storage writes before the next one's reads
   * within a pass; a pass per dispatch is host time on every step): call {@link endPass} before
   * the encoder's own commands (copies, clears) and before it is finished. While profiling, every
   * dispatch gets a pass of its own with timestamps.
   */
  dispatch(enc: GPUCommandEncoder, pipe: GPUComputePipeline, buffers: (GPUBuffer | null)[], x: number, y: number,
    extra: GPUBindGroupEntry[] = []): void {
    if (x === 0 || y === 0) return; // nothing to run (e.g. a selection scan over 0 keys)
    if (this.stopAt !== null && this.passes >= this.stopAt) return;
    let key = String(this.idOf(pipe));
    for (let i = 0; i < buffers.length; i++) if (buffers[i]) key += `,${i}=${this.idOf(buffers[i]!)}`;
    for (const e of extra) key += `,${e.binding}=${this.idOf((e.resource as GPUBufferBinding).buffer)}`;
    let bg = this.groups.get(key);
    if (!bg) {
      if (this.groups.size > 4096) this.groups.clear(); // buffers replaced by growth leave stale keys
      const entries: GPUBindGroupEntry[] = [...extra];
      buffers.forEach((b, i) => { if (b) entries.push({ binding: i, resource: { buffer: b } }); });
      bg = this.device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
      this.groups.set(key, bg);
    }
    this.passes++;
    const writes = this.profile?.next(this.labels.get(pipe) ?? 'pass');
    if (writes) {
      this.endPass();
      const pass = enc.beginComputePass({ timestampWrites: writes });
      pass.setPipeline(pipe); pass.setBindGroup(0, bg); pass.dispatchWorkgroups(x, y); pass.end();
      return;
    }
    if (this.open?.enc !== enc) {
      this.endPass();
      this.open = { enc, pass: enc.beginComputePass(), pipe: null };
    }
    const open = this.open!;
    if (open.pipe !== pipe) { open.pass.setPipeline(pipe); open.pipe = pipe; }
    open.pass.setBindGroup(0, bg); open.pass.dispatchWorkgroups(x, y);
  }

  /** Ends the compute pass {@link dispatch} left open (on whichever encoder). */
  endPass(): void {
    this.open?.pass.end();
    this.open = null;
  }

  private open: { enc: GPUCommandEncoder; pass: GPUComputePassEncoder; pipe: GPUComputePipeline | null } | null = null;
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) { id = this.nextId++; this.ids.set(o, id); }
    return id;
  }
}

/**
 * queue.writeBuffer of a typed array's bytes (typed arrays over ArrayBufferLike are not a
 * GPUAllowSharedBufferSource in the DOM typings).
 */
export function upload(queue: GPUQueue, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
}
