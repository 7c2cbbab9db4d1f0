/// <reference types="@webgpu/types" />
// The conformance suite of the 'webgpu' backend, through the public API only: KVCache.create +
// attendAsync (dense softmax and ReLU^α, exact sparse ReLU^α, certified ε, threshold, top-k) and
// attentionAsync prefill, each against the float64 reference and against the CPU backend ('js',
// fed the K/V as the GPU stores them) in the same host. It runs unchanged in Node on Dawn
// (webgpu-conformance.test.ts) and in headless Chromium on navigator.gpu
// (test/browser/conformance.test.ts): the modules are passed in, so this file imports types only
// and the page gets it through TypeScript's transpileModule. Results are plain data (a case's
// failures as messages), checked by the test of each host.
import type * as Lib from '../../src/index.js';
import type * as Reference from '../../src/attention/reference.js';
import type * as Random from '../../src/report/random.js';
import type * as Half from '../../src/tensor/half.js';
import type { GpuDecoder } from '../../src/webgpu/decoder.js';

export interface GpuSuiteModules { lib: typeof Lib; reference: typeof Reference; random: typeof Random; half: typeof Half }

/** A decode step: 4 query heads on 2 KV heads over n keys appended in three batches; head 0's query is zero. */
export interface DecodeCase {
  label: string; n: number; d: number; dv: number;
  opts: Omit<Lib.KVCacheOptions, 'heads' | 'kvHeads' | 'headDim' | 'valueDim' | 'backend' | 'gpu'>;
  /** 'llm': a shared offset direction and strong outliers; 'ties': every other key repeats the one before; 'grid': integers (exact logits, many ties). */
  keys?: 'gauss' | 'llm' | 'ties' | 'grid';
}

/** A prefill: attentionAsync of m query rows over n keys, grouped heads side by side. */
export interface PrefillCase {
  label: string; m: number; n: number; heads: number; kvHeads: number; d: number; dv: number;
  opts: Omit<Lib.AsyncAttentionOptions, 'heads' | 'kvHeads' | 'backend' | 'gpu'>;
  /** Rewrites q [m, heads·d], k [n, kvHeads·d], v [n, kvHeads·dv] in place (default: Gaussian). */
  make?: (q: Float32Array, k: Float32Array, v: Float32Array) => void;
  /** Tolerance relative to max|v| (default 2e-5 f32, 1e-3 f16). */
  tol?: number;
  /** How the GPU runs it (default attentionAsync with backend 'webgpu'; Node tests choose tile sizes through GpuPrefill). */
  gpu?: (q: Lib.Matrix, k: Lib.Matrix, v: Lib.Matrix) => Promise<{ output: Lib.Matrix; stats: Lib.AttentionStats }>;
}

export const DECODE_CASES: DecodeCase[] = [
  ...(['f32', 'f16'] as const).flatMap((storage): DecodeCase[] => [
    { label: `dense softmax ${storage}`, opts: { kind: 'softmax', storage }, n: 600, d: 24, dv: 20 },
    { label: `dense softmax ${storage}, ties, n = 3`, opts: { kind: 'softmax', storage }, n: 3, d: 16, dv: 8, keys: 'ties' },
    { label: `dense ReLU² ${storage}`, opts: { kind: 'relu', sparsity: 'dense', alpha: 2, bias: 0.2, storage }, n: 300, d: 16, dv: 16 },
    { label: `exact sparse ReLU ${storage}`, opts: { kind: 'relu', bias: 1, storage }, n: 700, d: 32, dv: 16 },
    { label: `certified ε = 1e-2 ${storage}`, opts: { kind: 'softmax', sparsity: { epsilon: 1e-2 }, storage }, n: 900, d: 32, dv: 16, keys: 'llm' },
  ]),
  { label: 'certified ε = 1e-3 f32, ties', opts: { kind: 'softmax', sparsity: { epsilon: 1e-3 } }, n: 500, d: 16, dv: 8, keys: 'ties' },
  { label: 'threshold 1.0 f32', opts: { kind: 'softmax', sparsity: { threshold: 1.0 } }, n: 400, d: 16, dv: 8 },
  { label: 'threshold 0.5 f16, ties', opts: { kind: 'softmax', sparsity: { threshold: 0.5 }, storage: 'f16' }, n: 300, d: 16, dv: 8, keys: 'ties' },
  { label: 'top-5 f32, ties', opts: { kind: 'softmax', sparsity: { topK: 5 } }, n: 300, d: 16, dv: 8, keys: 'ties' },
  { label: 'top-40 f16, integer keys', opts: { kind: 'softmax', sparsity: { topK: 40 }, storage: 'f16', scale: 1 }, n: 600, d: 16, dv: 8, keys: 'grid' },
];

// Shapes repeat where they can: every new (dims, heads a tile, storage, weighting) compiles a pipeline.
export const PREFILL_CASES: PrefillCase[] = [
  // d = 24 and dv = 20 pad to 32 and 24; 4 heads on 2 KV heads (two heads a tile).
  { label: 'prefill softmax causal m = n, padded dims', m: 70, n: 70, heads: 4, kvHeads: 2, d: 24, dv: 20, opts: { kind: 'softmax', causal: true } },
  { label: 'prefill softmax causal f16, 4 lanes a row', m: 70, n: 70, heads: 2, kvHeads: 2, d: 32, dv: 32, opts: { kind: 'softmax', causal: true, storage: 'f16' } },
  { label: 'prefill exact ReLU causal, 8 heads on 2 KV heads', m: 40, n: 100, heads: 8, kvHeads: 2, d: 32, dv: 16, opts: { kind: 'relu', bias: 0.5, causal: true } },
  { label: 'prefill exact ReLU causal f16', m: 40, n: 100, heads: 1, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'relu', bias: 0.5, causal: true, storage: 'f16' } },
  { label: 'prefill softmax causal m < n (query i sees j ≤ i + n − m)', m: 40, n: 100, heads: 2, kvHeads: 2, d: 16, dv: 8, opts: { kind: 'softmax', causal: true } },
  { label: 'prefill softmax causal m > n (the first rows see no key: zeros)', m: 100, n: 40, heads: 3, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'softmax', causal: true } },
  { label: 'prefill softmax full, m < n', m: 33, n: 77, heads: 2, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'softmax' } },
  { label: 'prefill exact ReLU causal, 3 heads on 1 KV head', m: 50, n: 50, heads: 3, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'relu', bias: 0.5, causal: true } },
  { label: 'prefill dense ReLU² causal', m: 70, n: 70, heads: 1, kvHeads: 1, d: 16, dv: 8, opts: { kind: 'relu', alpha: 2, bias: 0.2, sparsity: 'dense', causal: true } },
];

/** One case's outcome: every check that failed, as a message (empty: passed), and the GPU's stats. */
export interface GpuCaseResult { label: string; failures: string[]; ms: number; stats?: Lib.AttentionStats }

export interface GpuSuiteResult { host: string; adapter: string; cases: GpuCaseResult[] }

/** Tolerance relative to max|v| (the Node tests' since the backend's start): f16 storage rounds K and V. */
const tolerance = (storage: 'f32' | 'f16' | undefined) => (storage === 'f16' ? 1e-3 : 2e-5);

/** Collects failed checks (the first few messages, then a count: a broken kernel fails every element). */
class Checks {
  readonly failures: string[] = [];
  private more = 0;
  constructor(private readonly label: string) {}
  ok(cond: boolean, msg: () => string): void {
    if (cond) return;
    if (this.failures.length < 8) this.failures.push(`${this.label}: ${msg()}`);
    else this.failures[8] = `${this.label}: and ${++this.more} more`;
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Values as the GPU stores them: float16-rounded for storage 'f16'. */
export function stored(half: typeof Half, x: Float32Array, storage: 'f32' | 'f16'): Float32Array {
  if (storage === 'f32') return x;
  const out = new Float32Array(x.length);
  half.decodeF16(Uint16Array.from(x, (v) => half.numberToF16Bits(v)), out);
  return out;
}

/** Columns [c0, c0 + w) of each of `rows` rows of width `cols`: one head out of token-major rows. */
function columns(x: Float32Array, rows: number, cols: number, c0: number, w: number): Float32Array {
  const out = new Float32Array(rows * w);
  for (let i = 0; i < rows; i++) out.set(x.subarray(i * cols + c0, i * cols + c0 + w), i * w);
  return out;
}

/** The kept ids of the CPU's rules over float64 logits, ascending: logit ≥ t (else the best key, the smaller id on ties), or the top k by (logit desc, id asc). */
export function expectedKept(x: Float64Array, rule: { threshold: number } | { topK: number }): number[] {
  const order = Array.from(x.keys()).sort((a, b) => x[b]! - x[a]! || a - b);
  if ('topK' in rule) return order.slice(0, rule.topK).sort((a, b) => a - b);
  const kept = order.filter((j) => x[j]! >= rule.threshold);
  return (kept.length > 0 ? kept : order.slice(0, 1)).sort((a, b) => a - b);
}

function decodeKeys(random: typeof Random, r: Random.Random, c: DecodeCase, kvHeads: number): Float32Array {
  const { n, d } = c, row = kvHeads * d;
  const keys = random.gaussianArray(r, n * row, c.keys === 'llm' ? 0.6 : 1.2);
  if (c.keys === 'llm') {
    for (let i = 0; i < keys.length; i += d) keys[i]! += 2;
    for (let j = 0; j < n; j += 37) for (let i = 0; i < row; i++) keys[j * row + i]! *= 3;
  }
  if (c.keys === 'grid') for (let i = 0; i < keys.length; i++) keys[i] = Math.round(keys[i]! * 2);
  if (c.keys === 'ties') for (let j = 1; j < n; j += 2) keys.copyWithin(j * row, (j - 1) * row, j * row);
  return keys;
}

/**
 * One decode step on 'webgpu' and on 'js' (which gets the K/V as the GPU stores them). Exact modes
 * (dense, exact ReLU): within the tolerance of the float64 reference and of the CPU, keysUsed as the
 * float64 weights say. Certified: TV(kept) ≤ errorBound ≤ ε over the stored keys, the output within
 * 2·errorBound·max‖v‖ of the reference (and of the CPU, with both bounds). Threshold / top-k: the
 * float64 rule's kept keys, the CPU's output and keysUsed, errorBound ≥ TV(kept).
 */
export async function runDecodeCase(mods: GpuSuiteModules, c: DecodeCase, seed: number): Promise<GpuCaseResult> {
  const t0 = performance.now(), { lib, reference, random, half } = mods, check = new Checks(c.label);
  const r = random.seededRandom(seed), heads = 4, kvHeads = 2, group = heads / kvHeads, { n, d, dv } = c;
  const storage = c.opts.storage ?? 'f32', sparsity = c.opts.sparsity;
  const rule = typeof sparsity === 'object' && ('threshold' in sparsity || 'topK' in sparsity) ? sparsity as { threshold: number } | { topK: number } : null;
  // Selection rules compare kept sets with the float64 rule: both hosts see the keys as stored.
  let keys = decodeKeys(random, r, c, kvHeads);
  if (rule) keys = stored(half, keys, storage);
  const values = random.gaussianArray(r, n * kvHeads * dv), queries = random.gaussianArray(r, heads * d, 1.5);
  queries.fill(0, 0, d); // head 0: a zero query (uniform softmax, ReLU all-zero, every logit tied)
  const kStored = stored(half, keys, storage), vStored = stored(half, values, storage);
  const shape = { heads, kvHeads, headDim: d, valueDim: dv };
  const gpu = await lib.KVCache.create({ ...shape, ...c.opts, backend: 'webgpu' });
  const { storage: _, ...cpuOpts } = c.opts;
  const cpu = new lib.KVCache({ ...shape, ...cpuOpts, backend: 'js' });
  const cut = [0, Math.floor(n / 3), Math.floor(n / 2), n];
  for (let b = 0; b < 3; b++) {
    const [k0, k1, v0, v1] = [cut[b]! * kvHeads * d, cut[b + 1]! * kvHeads * d, cut[b]! * kvHeads * dv, cut[b + 1]! * kvHeads * dv];
    gpu.append(keys.subarray(k0, k1), values.subarray(v0, v1));
    cpu.append(kStored.subarray(k0, k1), vStored.subarray(v0, v1));
  }
  check.ok(gpu.length === n, () => `length ${gpu.length}, expected ${n}`);
  const got = await gpu.attendAsync(queries), want = cpu.attend(queries);
  const o = gpu.options, eps = o.selection.rule === 'certified' ? o.selection.epsilon : null;
  const selection = eps !== null || rule ? await (gpu as unknown as { gpu: GpuDecoder }).gpu.lastSelection() : null;
  let used = 0;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    const x = {
      q: queries.subarray(h * d, (h + 1) * d), m: 1, n, d, dv, kind: o.kind, scale: o.scale, alpha: o.alpha, bias: o.bias, causal: false,
      k: columns(c.keys === 'ties' ? kStored : keys, n, kvHeads * d, g * d, d), v: columns(values, n, kvHeads * dv, g * dv, dv),
    };
    const overStored = { ...x, k: columns(kStored, n, kvHeads * d, g * d, d), v: columns(vStored, n, kvHeads * dv, g * dv, dv) };
    const ref = reference.referenceAttention(x), tol = tolerance(storage) * maxAbs(x.v);
    const out = got.output.subarray(h * dv, (h + 1) * dv), cpuOut = want.output.subarray(h * dv, (h + 1) * dv);
    if (eps === null && !rule) {
      for (let i = 0; i < dv; i++) {
        check.ok(Math.abs(out[i]! - ref[i]!) <= tol, () => `head ${h} dim ${i}: ${out[i]} vs float64 ${ref[i]}`);
        check.ok(Math.abs(out[i]! - cpuOut[i]!) <= tol, () => `head ${h} dim ${i}: ${out[i]} vs CPU ${cpuOut[i]}`);
      }
      used += o.kind === 'relu' ? reference.referenceWeights(overStored, 0).filter((w) => w > 0).length : n;
      continue;
    }
    // Sparse softmax: the true TV of the kept set (float64 weights over the stored keys) is within the bound.
    const w = reference.referenceWeights(overStored, 0), kept = selection![h]!;
    let all = 0, inKept = 0;
    for (const t of w) all += t;
    for (const j of kept) inKept += w[j]!;
    const bound = got.stats.errorBound![h]!, tv = (all - inKept) / all;
    check.ok(tv <= bound * (1 + 1e-9) + 1e-15, () => `head ${h}: TV ${tv} > errorBound ${bound}`);
    used += kept.length;
    if (rule) {
      const want64 = expectedKept(reference.referenceScores(overStored, 0), 'topK' in rule ? { topK: Math.min(rule.topK, n) } : rule);
      check.ok(JSON.stringify([...kept].sort((a, b) => a - b)) === JSON.stringify(want64), () => `head ${h}: kept ${kept.length} keys, not the float64 rule's ${want64.length}`);
      for (let i = 0; i < dv; i++) check.ok(Math.abs(out[i]! - cpuOut[i]!) <= tol, () => `head ${h} dim ${i}: ${out[i]} vs CPU ${cpuOut[i]}`);
      continue;
    }
    check.ok(bound <= eps!, () => `head ${h}: errorBound ${bound} > ε ${eps}`);
    let vNorm = 0;
    for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < dv; i++) s += x.v[j * dv + i]! ** 2; vNorm = Math.max(vNorm, Math.sqrt(s)); }
    const cpuBound = want.stats.errorBound![h]!;
    for (let i = 0; i < dv; i++) {
      check.ok(Math.abs(out[i]! - ref[i]!) <= 2 * bound * vNorm + tol, () => `head ${h} dim ${i}: ${out[i]} vs float64 ${ref[i]} (errorBound ${bound})`);
      check.ok(Math.abs(out[i]! - cpuOut[i]!) <= 2 * (bound + cpuBound) * vNorm + tol, () => `head ${h} dim ${i}: ${out[i]} vs CPU ${cpuOut[i]} (errorBounds ${bound}, ${cpuBound})`);
    }
  }
  check.ok(got.stats.keysUsed === used, () => `keysUsed ${got.stats.keysUsed}, expected ${used}`);
  if (eps === null) check.ok(got.stats.keysUsed === want.stats.keysUsed, () => `keysUsed ${got.stats.keysUsed}, CPU ${want.stats.keysUsed}`);
  if (eps !== null || rule) check.ok(got.stats.boundsEvaluated === heads * n, () => `boundsEvaluated ${got.stats.boundsEvaluated}, expected ${heads * n}`);
  return { label: c.label, failures: check.failures, ms: performance.now() - t0 };
}

/**
 * One prefill on 'webgpu' and on 'js' (fed K/V as stored): every (position, head) within the
 * tolerance of the float64 reference over the keys as given and of the CPU; keysUsed the visible
 * keys (softmax) or those with positive float64 weight over the stored keys (ReLU), as on the CPU;
 * keysScored the visible keys (dense) or between keysUsed and them (exact sparse).
 */
export async function runPrefillCase(mods: GpuSuiteModules, c: PrefillCase, seed: number): Promise<GpuCaseResult> {
  const t0 = performance.now(), { lib, reference, random, half } = mods, check = new Checks(c.label);
  const r = random.seededRandom(seed), { m, n, heads, kvHeads, d, dv } = c, group = heads / kvHeads, storage = c.opts.storage ?? 'f32';
  const q = random.gaussianArray(r, m * heads * d, 1.5), k = random.gaussianArray(r, n * kvHeads * d, 1.2), v = random.gaussianArray(r, n * kvHeads * dv);
  c.make?.(q, k, v);
  const kStored = stored(half, k, storage), vStored = stored(half, v, storage);
  const opts = { ...c.opts, heads, kvHeads };
  const [qm, km, vm] = [lib.matrix(q, m, heads * d), lib.matrix(k, n, kvHeads * d), lib.matrix(v, n, kvHeads * dv)];
  const got = await (c.gpu ? c.gpu(qm, km, vm) : lib.attentionAsync(qm, km, vm, { ...opts, backend: 'webgpu' }));
  const want = await lib.attentionAsync(lib.matrix(q, m, heads * d), lib.matrix(kStored, n, kvHeads * d), lib.matrix(vStored, n, kvHeads * dv), { ...opts, storage: 'f32', backend: 'js' });
  check.ok(got.output.rows === m && got.output.cols === heads * dv, () => `output ${got.output.rows}×${got.output.cols}, expected ${m}×${heads * dv}`);
  const kind = c.opts.kind, scale = c.opts.scale ?? 1 / Math.sqrt(d), alpha = c.opts.alpha ?? 1, bias = c.opts.bias ?? 0, causal = c.opts.causal ?? false;
  const tol = (c.tol ?? tolerance(storage)) * Math.max(maxAbs(v), 1e-30);
  let used = 0, visible = 0;
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / group);
    const x = { q: columns(q, m, heads * d, h * d, d), m, k: columns(k, n, kvHeads * d, g * d, d), n, v: columns(v, n, kvHeads * dv, g * dv, dv), d, dv, kind, scale, alpha, bias, causal };
    const ref = reference.referenceAttention(x);
    for (let i = 0; i < m; i++) {
      for (let e = 0; e < dv; e++) {
        const at = (i * heads + h) * dv + e, out = got.output.data[at]!;
        check.ok(Math.abs(out - ref[i * dv + e]!) <= tol, () => `position ${i} head ${h} dim ${e}: ${out} vs float64 ${ref[i * dv + e]}`);
        check.ok(Math.abs(out - want.output.data[at]!) <= tol, () => `position ${i} head ${h} dim ${e}: ${out} vs CPU ${want.output.data[at]}`);
      }
      visible += reference.visibleKeys(m, n, i, causal);
      if (kind === 'relu') used += reference.referenceWeights({ ...x, k: columns(kStored, n, kvHeads * d, g * d, d) }, i).filter((w) => w > 0).length;
    }
  }
  const s = got.stats;
  check.ok(s.keysUsed === (kind === 'relu' ? used : visible), () => `keysUsed ${s.keysUsed}, expected ${kind === 'relu' ? used : visible}`);
  check.ok(s.keysUsed === want.stats.keysUsed, () => `keysUsed ${s.keysUsed}, CPU ${want.stats.keysUsed}`);
  if (kind === 'relu' && c.opts.sparsity !== 'dense') {
    check.ok(s.keysScored >= s.keysUsed && s.keysScored <= visible, () => `keysScored ${s.keysScored} outside [${s.keysUsed}, ${visible}]`);
    check.ok(s.boundsEvaluated === visible, () => `boundsEvaluated ${s.boundsEvaluated}, expected ${visible}`);
  } else {
    check.ok(s.keysScored === visible, () => `keysScored ${s.keysScored}, expected ${visible}`);
  }
  return { label: c.label, failures: check.failures, ms: performance.now() - t0, stats: s };
}

/**
 * No adapter → HsrError UNSUPPORTED from KVCache.create and attentionAsync: with `inject`, through a
 * GPU object whose requestAdapter finds nothing; without, on the host's own GPU (a browser whose
 * navigator.gpu has no adapter).
 */
export async function runNoAdapterCase(mods: GpuSuiteModules, inject: boolean): Promise<GpuCaseResult> {
  const t0 = performance.now(), { lib } = mods, label = inject ? 'no adapter (a GPU object given)' : 'no adapter (the host\'s GPU)', check = new Checks(label);
  const gpu = inject ? { requestAdapter: async () => null, getPreferredCanvasFormat: () => 'rgba8unorm', wgslLanguageFeatures: new Set() } as unknown as GPU : undefined;
  const outcome = async (run: () => Promise<unknown>) => {
    try { await run(); return 'resolved'; } catch (e) { return e instanceof lib.HsrError ? `HsrError ${e.code}: ${e.message}` : String(e); }
  };
  const x = lib.matrix(new Float32Array(8), 2, 4);
  for (const [what, run] of [
    ['KVCache.create', () => lib.KVCache.create({ kind: 'softmax', heads: 1, kvHeads: 1, headDim: 4, backend: 'webgpu', gpu })],
    ['attentionAsync', () => lib.attentionAsync(x, x, x, { kind: 'softmax', backend: 'webgpu', gpu })],
  ] as const) {
    const got = await outcome(run);
    check.ok(/^HsrError UNSUPPORTED: .*adapter/.test(got), () => `${what}: expected HsrError UNSUPPORTED naming the adapter, got ${got}`);
  }
  return { label, failures: check.failures, ms: performance.now() - t0 };
}

/** Every case of the suite with its fixed seed, in order: the decode steps, the prefills, no adapter (a GPU object given). */
export const SUITE: { label: string; run(mods: GpuSuiteModules): Promise<GpuCaseResult> }[] = [
  ...DECODE_CASES.map((c, i) => ({ label: c.label, run: (mods: GpuSuiteModules) => runDecodeCase(mods, c, 1000 + i) })),
  ...PREFILL_CASES.map((c, i) => ({ label: c.label, run: (mods: GpuSuiteModules) => runPrefillCase(mods, c, 2000 + i) })),
  { label: 'no adapter', run: (mods: GpuSuiteModules) => runNoAdapterCase(mods, true) },
];

/** The whole suite on this host's default GPU (navigator.gpu, or Dawn in Node), with the adapter's name. */
export async function runWebGpuSuite(mods: GpuSuiteModules, host: string): Promise<GpuSuiteResult> {
  const device = await mods.lib.webGpuDevice();
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const cases: GpuCaseResult[] = [];
  for (const c of SUITE) cases.push(await c.run(mods));
  return { host, adapter: info ? `${info.vendor} ${info.architecture}`.trim() : 'unknown', cases };
}
