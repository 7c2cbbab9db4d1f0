/// <reference types="@webgpu/types" />
// What the dense plan tests share (webgpu-plan.test.ts, webgpu-dense-tuning.test.ts): one step of a
// dense WebGpuDecodePlan checked head by head against the float64 reference, and a ReLU bias that
// float32 scores cannot put on the other side of a key than float64 does.
import assert from 'node:assert/strict';
import type { DecodeBuffers, WebGpuDecodePlan } from '../../src/index.js';
import { referenceAttention } from '../attention/fixtures.js';
import { readBuffer } from './gpu-helpers.js';

export interface DenseCase {
  heads: number; kvHeads: number; d: number; dv: number;
  /** Positions a KV head holds in k and v. */
  n: number;
  /** Queries [heads, d]; keys [kvHeads, n, d] and values [kvHeads, n, dv] as the GPU stores them (gpu-helpers asStored). */
  q: Float32Array; k: Float32Array; v: Float32Array;
  kind: 'softmax' | 'relu'; scale: number; alpha: number; bias: number;
}

/** What a logit needs of a case. */
type Scores = Pick<DenseCase, 'heads' | 'kvHeads' | 'd' | 'n' | 'q' | 'k' | 'scale'>;

/** Head h's scaled logit of key j, in float64. */
export function logitOf(c: Scores, h: number, j: number): number {
  const g = Math.floor(h / (c.heads / c.kvHeads));
  let s = 0;
  for (let i = 0; i < c.d; i++) s += c.q[h * c.d + i]! * c.k[(g * c.n + j) * c.d + i]!;
  return s * c.scale;
}

/**
 * A ReLU bias in the middle of the first gap ≥ 1e-3 wide between every head's logits, from the
 * `quantile`-th up: float32 scores then count the keys of positive weight as float64 does.
 */
export function biasInGap(c: Scores, quantile: number): number {
  const { heads, n } = c;
  const all = Array.from({ length: heads * n }, (_, i) => logitOf(c, Math.floor(i / n), i % n)).sort((x, y) => x - y);
  let at = Math.floor(quantile * all.length);
  while (all[at + 1]! - all[at]! < 1e-3) at++;
  return (all[at]! + all[at + 1]!) / 2;
}

/**
 * Records one step of `plan` over the first `len` positions, submits it and checks every head
 * against the float64 reference: the output within tol·(1 + |ref|) and, with `counts`, the stats'
 * keysScored = len and keysUsed = len (softmax) or the keys whose logit exceeds the bias (ReLU:
 * a bias from {@link biasInGap}, or keys whose scores float32 holds exactly).
 */
export async function checkDenseStep(device: GPUDevice, plan: WebGpuDecodePlan, bufs: DecodeBuffers, c: DenseCase, len: number,
  check: { tol: number; label: string; counts: boolean }): Promise<void> {
  const { heads, kvHeads, d, dv, n, kind } = c, { tol, label } = check;
  const enc = device.createCommandEncoder();
  plan.encode(enc, bufs, len);
  device.queue.submit([enc.finish()]);
  const got = new Float32Array(await readBuffer(device, bufs.output, heads * dv * 4));
  const stats = new Uint32Array(await readBuffer(device, plan.stats, heads * 16));
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads));
    const ref = len === 0 ? new Float64Array(dv) : referenceAttention({ q: c.q.subarray(h * d, (h + 1) * d), m: 1, k: c.k.subarray(g * n * d, (g * n + len) * d), n: len,
      v: c.v.subarray(g * n * dv, (g * n + len) * dv), d, dv, kind, scale: c.scale, alpha: c.alpha, bias: c.bias, causal: false });
    for (let i = 0; i < dv; i++) assert.ok(Math.abs(got[h * dv + i]! - ref[i]!) <= tol * (1 + Math.abs(ref[i]!)), `${label} head ${h}: ${got[h * dv + i]} vs ${ref[i]}`);
    if (!check.counts) continue;
    let used = len;
    if (kind === 'relu') { used = 0; for (let j = 0; j < len; j++) if (logitOf(c, h, j) > c.bias) used++; }
    assert.deepEqual([stats[4 * h], stats[4 * h + 1]], [len, used], `${label} head ${h}: keys scored, used`);
  }
}
