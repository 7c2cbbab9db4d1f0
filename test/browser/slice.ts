// A representative slice of the conformance and exactness suites that runs unchanged in Node and in
// Chromium: every attention mode (one-shot and KV-cache decode, each kernel backend) against the
// float64 reference (one-shot on the plain-TypeScript and the WebAssembly kernels), and every HSR
// index kind against the scan oracle. It returns its raw results
// (outputs, counters, ids) so the Node test can also check that both hosts computed the same.
// The modules are passed in (Node imports dist/ from disk, the page over HTTP), so this file
// imports types only and the browser gets it through TypeScript's transpileModule.
import type * as Lib from '../../dist/index.js';
import type * as Reference from '../../dist/attention/reference.js';
import type * as Random from '../../dist/report/random.js';

export interface SliceModules { lib: typeof Lib; reference: typeof Reference; random: typeof Random }

export interface CaseResult {
  name: string;
  /**
   * max over rows of |output − float64 reference|∞ / allowance, ≤ 1 to pass. The allowance is
   * 1e-5·max(1, |reference row|∞) for exact modes, plus 2·errorBound[row]·max|v| for sparse softmax
   * (a total-variation bound δ moves a weighted mean of values by at most 2δ·max|v|).
   */
  worst: number;
  output: number[];
  keysScored: number;
  keysUsed: number;
  errorBound: number[];
}

export interface IndexResult { kind: string; ids: number[][]; agreesWithScan: boolean }

export interface SliceResult { host: string; backend: string; cases: CaseResult[]; indexes: IndexResult[] }

type Sparsity = NonNullable<Lib.AttentionOptions['sparsity']>;
interface Mode { name: string; kind: 'softmax' | 'relu'; alpha?: number; bias?: number; sparsity?: Sparsity; index?: string }

/** One mode per sparsity kind, both attention kinds (ReLU exact with α 1 and 2, with a bias). */
const MODES: Mode[] = [
  { name: 'softmax dense', kind: 'softmax', sparsity: 'dense' },
  { name: 'softmax threshold', kind: 'softmax', sparsity: { threshold: 0.5 } },
  { name: 'softmax topk', kind: 'softmax', sparsity: { topK: 24 } },
  { name: 'softmax paper', kind: 'softmax', sparsity: 'paper' },
  { name: 'softmax certified', kind: 'softmax', sparsity: { epsilon: 0.01 } },
  { name: 'softmax certified ball-tree', kind: 'softmax', sparsity: { epsilon: 0.01 }, index: 'ball-tree' },
  { name: 'relu dense', kind: 'relu', sparsity: 'dense' },
  { name: 'relu exact', kind: 'relu', bias: 0.3 },
  { name: 'relu² exact', kind: 'relu', alpha: 2, bias: 0.1 },
  { name: 'relu² exact ball-tree', kind: 'relu', alpha: 2, bias: 0.1, index: 'ball-tree' },
];

/** n above the certified mode's dense cut-over (1024 keys), so every sparse mode is sparse. */
const N = 1200, M = 6, D = 16, DV = 8;

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** The worst row of `out` [rows, dv] against `ref`, as a fraction of its allowance (see CaseResult.worst). */
function worstRow(out: Float32Array, ref: Float64Array, dv: number, bounds: ArrayLike<number> | undefined, vMax: number): number {
  let worst = 0;
  for (let i = 0; i < out.length / dv; i++) {
    let err = 0, scale = 1;
    for (let c = 0; c < dv; c++) {
      err = Math.max(err, Math.abs(out[i * dv + c]! - ref[i * dv + c]!));
      scale = Math.max(scale, Math.abs(ref[i * dv + c]!));
    }
    worst = Math.max(worst, err / (1e-5 * scale + 2 * (bounds?.[i] ?? 0) * vMax));
  }
  return worst;
}

function attentionCases(m: typeof Lib, ref: typeof Reference, random: typeof Random, r: Random.Random): CaseResult[] {
  const out: CaseResult[] = [];
  const q = random.gaussianArray(r, M * D, 2.5), k = random.gaussianArray(r, N * D, 1.5), v = random.gaussianArray(r, N * DV);
  for (const mode of MODES) {
    for (const [causal, backend] of [[false, 'js'], [true, 'js'], [false, 'wasm'], [true, 'wasm']] as const) {
      const opts: Lib.AttentionOptions = { kind: mode.kind, alpha: mode.alpha, bias: mode.bias, causal, sparsity: mode.sparsity, index: mode.index, backend };
      const res = m.attention(m.matrix(q, M, D), m.matrix(k, N, D), m.matrix(v, N, DV), opts);
      const want = ref.referenceAttention({ q, m: M, k, n: N, v, d: D, dv: DV, kind: mode.kind, scale: 1 / Math.sqrt(D),
        alpha: mode.alpha ?? 1, bias: mode.bias ?? 0, causal });
      const bounds = res.stats.errorBound ?? new Float64Array(0);
      out.push({
        name: `attention ${backend} ${mode.name}${causal ? ' causal' : ''}`, worst: worstRow(res.output.data, want, DV, res.stats.errorBound, maxAbs(v)), output: [...res.output.data],
        keysScored: res.stats.keysScored, keysUsed: res.stats.keysUsed, errorBound: [...bounds],
      });
    }
  }
  return out;
}

/**
 * Grouped-query decode through KVCache (its default kernels: WebAssembly SIMD where the host has it),
 * past the certified mode's dense cut-over; sampled steps checked against the reference, every
 * step's outputs returned for the Node–Chromium comparison.
 */
function decodeCases(m: typeof Lib, ref: typeof Reference, random: typeof Random, r: Random.Random): CaseResult[] {
  const heads = 2, kvHeads = 1, steps = 1060, group = heads / kvHeads;
  const keys = random.gaussianArray(r, steps * kvHeads * D, 1.5), values = random.gaussianArray(r, steps * kvHeads * DV);
  const queries = random.gaussianArray(r, steps * heads * D, 2.5);
  const out: CaseResult[] = [];
  {
    for (const mode of MODES) {
      const cache = new m.KVCache({ heads, kvHeads, headDim: D, valueDim: DV, kind: mode.kind, alpha: mode.alpha, bias: mode.bias,
        ...(mode.sparsity === undefined ? {} : { sparsity: mode.sparsity }), ...(mode.index === undefined ? {} : { index: mode.index }) });
      let worst = 0, scored = 0, used = 0;
      const outputs: number[] = [], bounds: number[] = [];
      for (let p = 0; p < steps; p++) {
        cache.append(keys.subarray(p * kvHeads * D, (p + 1) * kvHeads * D), values.subarray(p * kvHeads * DV, (p + 1) * kvHeads * DV));
        const qs = queries.subarray(p * heads * D, (p + 1) * heads * D);
        const { output, stats } = cache.attend(qs);
        scored += stats.keysScored;
        used += stats.keysUsed;
        outputs.push(...output);
        if (stats.errorBound) bounds.push(...stats.errorBound);
        if (p % 64 !== 0 && p < steps - 8) continue;   // the reference is O(n) per row: check a sample of steps
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / group);
          const kh = new Float32Array((p + 1) * D), vh = new Float32Array((p + 1) * DV);
          for (let j = 0; j <= p; j++) {
            kh.set(keys.subarray((j * kvHeads + g) * D, (j * kvHeads + g + 1) * D), j * D);
            vh.set(values.subarray((j * kvHeads + g) * DV, (j * kvHeads + g + 1) * DV), j * DV);
          }
          const want = ref.referenceAttention({ q: qs.slice(h * D, (h + 1) * D), m: 1, k: kh, n: p + 1, v: vh, d: D, dv: DV, kind: mode.kind,
            scale: 1 / Math.sqrt(D), alpha: mode.alpha ?? 1, bias: mode.bias ?? 0, causal: false });
          const bound = stats.errorBound ? [stats.errorBound[h]!] : undefined;
          worst = Math.max(worst, worstRow(output.subarray(h * DV, (h + 1) * DV), want, DV, bound, maxAbs(vh)));
        }
      }
      out.push({ name: `KVCache ${mode.name}`, worst, output: outputs, keysScored: scored, keysUsed: used, errorBound: bounds });
    }
  }
  return out;
}

/** Every registered index kind against scan, on Gaussian and on duplicated points, with offsets at score quantiles. */
function indexCases(m: typeof Lib, random: typeof Random, r: Random.Random): IndexResult[] {
  const n = 400, d = 24;
  const pts = random.gaussianArray(r, n * d);
  pts.copyWithin(0, 10 * d, 60 * d);          // 50 duplicated points: ties the index must report alike
  const normals = Array.from({ length: 6 }, () => random.gaussianArray(r, d));
  const probes = normals.flatMap((a) => {
    const scores = Array.from({ length: n }, (_, i) => { let s = 0; for (let c = 0; c < d; c++) s += a[c]! * pts[i * d + c]!; return s; }).sort((x, y) => y - x);
    return [0.02, 0.3, 0.9].map((f) => ({ a, b: scores[Math.floor(f * n)]! + 1e-3 }));
  });
  const run = (kind: string) => {
    const index = m.HalfSpaceIndex.build(m.matrix(pts, n, d), { kind });
    return probes.map(({ a, b }) => [...index.query(a, b)]);
  };
  const scan = run('scan');
  return m.indexKinds().map((kind) => {
    const ids = run(kind);
    return { kind, ids, agreesWithScan: JSON.stringify(ids) === JSON.stringify(scan) };
  });
}

export function runSlice(modules: SliceModules, host: string, seed = 20261206): SliceResult {
  const { lib, reference, random } = modules;
  const r = random.seededRandom(seed);
  const cases = [...attentionCases(lib, reference, random, r), ...decodeCases(lib, reference, random, r)];
  return { host, backend: lib.createKernels().name, cases, indexes: indexCases(lib, random, r) };
}

/** One DecodePool run: its thread count, why it fell back (or null), and every attend's output. */
export interface PoolCase { name: string; threads: number; fallback: string | null; worst: number; output: number[] }

/** The pool's row kinds: dense softmax and ReLU², sparse ReLU² (the fused candidate sweep), certified softmax. */
const POOL_CASES: { name: string; weighting: Lib.Weighting; sparse: boolean | { epsilon: number } }[] = [
  { name: 'softmax', weighting: { kind: 'softmax', scale: 1 / Math.sqrt(D), bias: 0, alpha: 1 }, sparse: false },
  { name: 'relu²', weighting: { kind: 'relu', scale: 1 / Math.sqrt(D), bias: 0.1, alpha: 2 }, sparse: false },
  { name: 'relu² sparse', weighting: { kind: 'relu', scale: 1 / Math.sqrt(D), bias: 0.1, alpha: 2 }, sparse: true },
  { name: 'softmax certified', weighting: { kind: 'softmax', scale: 1 / Math.sqrt(D), bias: 0, alpha: 1 }, sparse: { epsilon: 0.01 } },
];

/**
 * Grouped-query decode through DecodePool (`threads` asked for, every attend split across them:
 * minPositionsPerThread 0), appending in uneven chunks so slices cut heads and key ranges at
 * varying places (the last length, 1040, past the certified rows' dense cut-over); each attend
 * checked against the float64 reference (1e-5 relative, plus 2·errorBound·max|v| for certified rows).
 * Async (creating a pool starts its threads): in a browser, call it from a Web Worker.
 */
export async function runPoolSlice(modules: Pick<SliceModules, 'reference' | 'random'> & { DecodePool: typeof Lib.DecodePool }, threads: number,
  seed = 20261207): Promise<PoolCase[]> {
  const heads = 6, kvHeads = 2, group = heads / kvHeads, chunks = [1, 2, 37, 300, 700];
  const r = modules.random.seededRandom(seed);
  const cases: PoolCase[] = [];
  for (const c of POOL_CASES) {
    const pool = await modules.DecodePool.create({ heads, kvHeads, headDim: D, valueDim: DV, weighting: c.weighting, sparse: c.sparse, threads, minPositionsPerThread: 0 });
    const keys: number[] = [], values: number[] = [], output: number[] = [];
    let worst = 0;
    try {
      for (const t of chunks) {
        const k = modules.random.gaussianArray(r, t * kvHeads * D, 1.5), v = modules.random.gaussianArray(r, t * kvHeads * DV);
        pool.append(k, v);
        keys.push(...k); values.push(...v);
        const q = modules.random.gaussianArray(r, heads * D, 2.5), out = new Float32Array(heads * DV);
        pool.attend(q, out);
        output.push(...out);
        const n = pool.length;
        for (let h = 0; h < heads; h++) {
          const g = Math.floor(h / group), kh = new Float32Array(n * D), vh = new Float32Array(n * DV);
          for (let j = 0; j < n; j++) {
            kh.set(keys.slice((j * kvHeads + g) * D, (j * kvHeads + g + 1) * D), j * D);
            vh.set(values.slice((j * kvHeads + g) * DV, (j * kvHeads + g + 1) * DV), j * DV);
          }
          const w = c.weighting;
          const want = modules.reference.referenceAttention({ q: q.slice(h * D, (h + 1) * D), m: 1, k: kh, n, v: vh, d: D, dv: DV, kind: w.kind,
            scale: w.scale, alpha: w.alpha, bias: w.bias, causal: false });
          const bound = pool.lastCertified ? [pool.lastCertified.errorBound[h]!] : undefined;
          worst = Math.max(worst, worstRow(out.subarray(h * DV, (h + 1) * DV), want, DV, bound, maxAbs(vh)));
        }
      }
    } finally {
      await pool.close();
    }
    cases.push({ name: `DecodePool ${c.name}`, threads: pool.threads, fallback: pool.fallback, worst, output });
  }
  return cases;
}
