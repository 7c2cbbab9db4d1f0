/**
 * Claim 4 (time), prefill: causal attention of n real queries over n real keys (one head of a
 * dump, first n positions) with `attention()`: dense against the sparse modes, and the HSR part on
 * its own (building the index over the n keys, then one bounds pass or half-space query per query
 * over its visible prefix). Alternating rounds at every n; exponents fitted on log-log.
 */
import { attention } from '../../attention/attention.js';
import type { AttentionOptions } from '../../attention/options.js';
import { fitPowerLaw, type PowerLawFit } from '../../analysis/stats.js';
import { HalfSpaceIndex } from '../../hsr/half-space-index.js';
import { matrix, type Matrix } from '../../tensor/matrix.js';
import { alternateRounds } from '../timing.js';

export interface PrefillProblem {
  name: string;
  /** One head: queries, keys, values [≥ max n, dim], row-major by position. */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dim: number;
  kind: 'softmax' | 'relu';
  alpha: number;
  bias: number;
  /** Contenders besides dense: label → sparsity (softmax) or undefined (ReLU exact sparse). */
  modes: readonly { label: string; options: Partial<AttentionOptions> }[];
  index: string;
}

export interface PrefillTimingResult {
  problem: string;
  points: { n: number; ms: Record<string, number>; keptFraction: Record<string, number> }[];
  /** Fitted exponent of ms vs n per contender; empty for a single size. */
  fits: Record<string, PowerLawFit>;
}

export function prefillTiming(p: PrefillProblem, sizes: readonly number[], rounds: number, onStep?: () => void): PrefillTimingResult {
  const d = p.dim, scale = 1 / Math.sqrt(d);
  const points: PrefillTimingResult['points'] = [];
  for (const n of sizes) {
    const rows = (a: Float32Array): Matrix => matrix(a.subarray(0, n * d), n, d);
    const q = rows(p.q), k = rows(p.k), v = rows(p.v);
    const base: AttentionOptions = { kind: p.kind, alpha: p.alpha, bias: p.bias, causal: true, index: p.index };
    const visible = (n * (n + 1)) / 2;
    const kept: Record<string, number> = {};
    const contenders: Record<string, () => void> = { dense: () => { attention(q, k, v, { ...base, sparsity: 'dense' }); } };
    for (const m of p.modes) {
      contenders[m.label] = () => { kept[m.label] = attention(q, k, v, { ...base, ...m.options }).stats.keysUsed / visible; };
    }
    const upper = new Float64Array(n), lower = new Float64Array(n);
    contenders[p.kind === 'softmax' ? 'HSR: build + bounds passes' : 'HSR: build + queries'] = () => {
      const index = HalfSpaceIndex.build(k, { kind: p.index });
      for (let i = 0; i < n; i++) {
        const qi = q.data.subarray(i * d, (i + 1) * d);
        if (p.kind === 'softmax') index.scoreBounds(qi, upper, lower, i + 1);
        else index.query(qi, p.bias / scale, i + 1);
      }
    };
    points.push({ n, ms: alternateRounds(contenders, rounds), keptFraction: kept });
    onStep?.();
  }
  // A single size has no exponent to fit (`hsr-attn bench prefill --n 2048` times one size).
  const fits = points.length < 2 ? {} : Object.fromEntries(Object.keys(points[0]!.ms).map((label) =>
    [label, fitPowerLaw(points.map((q) => q.n), points.map((q) => Math.max(q.ms[label]!, 1e-6)))]));
  return { problem: p.name, points, fits };
}
