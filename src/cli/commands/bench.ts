/**
 * `hsr-attn bench [decode|prefill]`: wall-clock timing of dense baselines beside the library's
 * sparse modes on one machine, in alternating rounds (src/report/timing.ts) so that load from other
 * processes hits every contender alike; medians, and ratios taken within the same run. Decode adds
 * onnxruntime-node (one thread) when it is installed and our dense decoder on two worker threads.
 * The full sweeps (more sizes, ORT on two threads, bandwidth) are bench/decode.ts and bench/prefill.ts.
 */
import { sweepSparsity } from '../../analysis/mode-sweep.js';
import { attention } from '../../attention/attention.js';
import { HalfSpaceIndex } from '../../hsr/half-space-index.js';
import { referenceAttention } from '../../attention/reference.js';
import { KVCache } from '../../kvcache/kv-cache.js';
import type { AttentionOptions, Sparsity } from '../../attention/options.js';
import { DenseDecoder } from '../../kernels/dense-decode.js';
import { createJsKernels } from '../../kernels/js/js-kernels.js';
import type { Kernels, Weighting } from '../../kernels/types.js';
import { createKernels } from '../../kernels/index.js';
import { assertWritableFile, writeFileAtomic } from '../../node/files.js';
import { createOrtDecoder } from '../../node/onnx-attention.js';
import { DecodePool } from '../../node/worker-pool.js';
import { dataFile, loadDumpTensors, REAL_DUMPS, realWorkload, requireDataFile } from '../../node/workloads.js';
import { prefillTiming } from '../../report/experiments/prefill-timing.js';
import { alternateRoundsAsync } from '../../report/timing.js';
import { calibrateReluBias, denseDecodeBytes, referenceDecode, sparseDecodeBytes, syntheticWorkload, type Workload } from '../../report/workloads.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { ProgressBar } from '../progress.js';
import { formatTable } from '../table.js';
import { matrix } from '../../tensor/matrix.js';

const WORKLOADS = ['gaussian', 'llm', 'real'] as const;
type WorkloadName = (typeof WORKLOADS)[number];
const INDEX = 'quantized', TOP_K = 256, RELU_ALPHA = 2;
/** `noDump`: the default workloads where the real dump is absent (an npm install; it ships no dumps). */
const DEFAULTS = {
  decode: { n: '16384', workload: 'real,llm,gaussian', noDump: 'llm,gaussian', rounds: 15 },
  prefill: { n: '2048', workload: 'real', noDump: 'llm', rounds: 3 },
};

/** One decode contender: one step for query set q, and the work of its last step. */
interface Contender {
  name: string;
  kind: 'softmax' | 'relu';
  /** Dense contenders are the speed baselines (the fastest of the same kind and thread count). */
  dense?: boolean;
  threads?: number;
  /** The KVCache sparsity of a softmax sparse contender: its total-variation distance is measured. */
  sparsity?: Sparsity;
  /** A sparse contender whose kept set the CPU engine does not reproduce (the GPU's): no TV distance. */
  tvUnmeasured?: boolean;
  step(q: Float32Array): Float32Array | Promise<Float32Array>;
  work(): { keysUsedPerHead: number; bytes: number; tvBound?: number };
  close?(): Promise<void>;
}

export interface DecodeRow {
  workload: string; n: number; d: number; heads: number; kvHeads: number; contender: string; kind: 'softmax' | 'relu';
  /** Median wall ms per decode step (all query heads). */
  msPerToken: number;
  /** Median ms of the fastest dense contender of the same kind and thread count (`baseline`) / this contender's. */
  speedupVsDense: number;
  baseline: string;
  keysUsedPerHead: number;
  /** Bytes read per step (dense: all of K and V; sparse: index pass + exact rows, an estimate). */
  mbTouched: number;
  /** Max |output − float64 reference| on the first query set: the absolute output error. */
  maxError: number;
  /**
   * Total-variation distance between the exact softmax weights and the ones used, on the first query
   * set, max over query heads (the mass the kept keys leave out; 0 for dense and exact ReLU; NaN —
   * null in JSON — for the GPU's certified rows, whose kept set is not reproduced on the CPU).
   */
  tvDistance: number;
  /** The largest certified bound on that distance (stats.errorBound) on the first query set; null where none. */
  tvBound: number | null;
}

export interface PrefillRow {
  workload: string; n: number; d: number; contender: string; ms: number; keptFraction: number; speedupVsDense: number;
  /** Max |output − float64 causal reference| over the last 64 positions (NaN for the HSR-only row). */
  maxErrorTail: number;
}

export const benchCommand: Command = {
  name: 'bench',
  usage: 'hsr-attn bench [decode|prefill] [--n LIST] [--d 64|128] [--workload LIST] [--rounds R] [--backend cpu|webgpu] [--json] [--out FILE]',
  brief: 'time dense baselines (plain JS, WASM) against the sparse modes: per-token decode or causal prefill',
  summary: [
    'decode (default): per-token decode, 8 query heads over 2 KV heads (synthetic) or the real dump\'s 6 over 2',
    '(its first n ≤ 8192 positions, d = 64), for dense plain JS, dense WASM (DenseDecoder; also on 2 worker threads),',
    'onnxruntime-node dense attention on one thread (when the package is installed), and KVCache: dense, exact',
    `sparse ReLU^${RELU_ALPHA} (bias calibrated to ~2% active keys), softmax certified ε = 1e-3 and 1e-2, top-k ${TOP_K}, paper`,
    `(${INDEX} index). Reports ms/token, speed against the fastest dense contender of the same kind and thread count,`,
    'keys used per head, MB touched, the max absolute output error vs the float64 reference, and for the softmax sparse modes',
    'the total-variation distance of their weights from the exact ones and its certified bound; names the sparse modes slower than dense. prefill: causal attention() of one head, dense vs certified ε = 1e-2 (plus the HSR',
    'part alone). Contenders alternate in rounds; medians. Defaults: decode --n 16384 --workload real,llm,gaussian',
    '--rounds 15; prefill --n 2048 --workload real --rounds 3 (without the real dump: llm,gaussian and llm).',
    'decode --backend webgpu: the same workloads on the GPU (KVCache backend \'webgpu\', f16 K/V): dense softmax and',
    `ReLU^${RELU_ALPHA}, exact sparse ReLU^${RELU_ALPHA}, certified ε = 1e-3 and 1e-2, top-k ${TOP_K}, paper, each step a full attendAsync (upload, passes,`,
    'readback); ratios vs dense webgpu of the same kind. Without a GPU, VK_ICD_FILENAMES may name SwiftShader (docs/webgpu.md).',
  ].join('\n'),
  positionals: 'decode|prefill',
  options: {
    n: { type: 'string', value: 'LIST', help: 'cache lengths, comma-separated (default 16384; prefill 2048)' },
    d: { type: 'integer', value: '64|128', default: 64, help: 'head dimension of the synthetic workloads' },
    workload: { type: 'string', value: 'LIST', help: `comma-separated from ${WORKLOADS.join('|')} (default real,llm,gaussian; prefill real)` },
    rounds: { type: 'integer', value: 'R', help: 'alternating rounds per size (default 15; prefill 3)' },
    backend: { type: 'string', value: 'cpu|webgpu', help: 'decode on the CPU (default) or on the GPU through WebGPU' },
    out: { type: 'string', value: 'FILE', help: 'also write the JSON result to FILE (atomically)' },
  },
  async run(args) {
    const mode = args._[0] ?? 'decode';
    if ((mode !== 'decode' && mode !== 'prefill') || args._.length > 1) throw new UsageError(`expected decode or prefill, got ${args._.join(' ')}`);
    const def = DEFAULTS[mode];
    const ns = ((args.n as string | undefined) ?? def.n).split(',').map(Number);
    if (ns.some((n) => !Number.isSafeInteger(n) || n < 2)) throw new UsageError(`expected --n to be integers ≥ 2, got ${JSON.stringify(args.n)}`);
    const d = args.d as number;
    if (d !== 64 && d !== 128) throw new UsageError(`expected --d to be 64 or 128, got ${d}`);
    let workload = args.workload as string | undefined;
    if (workload === undefined) {
      workload = dataFile(REAL_DUMPS.real) === null ? def.noDump : def.workload;
      if (workload === def.noDump) process.stderr.write(`hsr-attn bench: the real dump ${REAL_DUMPS.real} is not here (the npm package ships no dumps), so --workload ${workload}\n`);
    }
    const workloads = workload.split(',');
    for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`expected --workload from ${WORKLOADS.join('|')}, got ${JSON.stringify(w)}`);
    const rounds = (args.rounds as number | undefined) ?? def.rounds;
    if (rounds < 1) throw new UsageError(`expected --rounds ≥ 1, got ${rounds}`);
    const backend = ((args.backend as string | undefined) ?? 'cpu') as 'cpu' | 'webgpu';
    if (backend !== 'cpu' && backend !== 'webgpu') throw new UsageError(`expected --backend cpu or webgpu, got ${JSON.stringify(backend)}`);
    if (backend === 'webgpu' && mode !== 'decode') throw new UsageError('expected --backend webgpu with decode only (prefill runs on the CPU)');
    const config = { mode, ns, d, workloads: workloads as WorkloadName[], rounds, backend };
    if (args.out !== undefined) assertWritableFile(args.out as string); // before the run, not after
    const bar = new ProgressBar(`bench ${mode}`, 'sizes', !args.json);
    const started = performance.now();
    const result = mode === 'decode'
      ? { mode, rounds, backend, index: INDEX, rows: await benchDecode(config, bar) }
      : { mode, rounds, index: INDEX, rows: benchPrefill(config, bar) };
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    const json = JSON.stringify({ ...result, seconds });
    if (args.out !== undefined) writeFileAtomic(args.out as string, JSON.stringify({ ...result, seconds }, null, 1) + '\n');
    process.stdout.write((args.json ? json : formatResult(result)) + '\n');
    return 0;
  },
};

interface Config { ns: number[]; d: number; workloads: WorkloadName[]; rounds: number; backend: 'cpu' | 'webgpu' }

/** Every (workload, n) decode workload; the real dump gives its first min(n, 8192) positions, once per distinct length. */
function* decodeWorkloads(c: Config, R: number): Generator<Workload> {
  for (const name of c.workloads) {
    if (name === 'real') {
      const seen = new Set<number>();
      for (const n of c.ns) {
        requireDataFile(REAL_DUMPS.real);
        const w = realWorkload('real', R, n)!;
        if (!seen.has(w.n)) { seen.add(w.n); yield w; }
      }
    } else for (const n of c.ns) yield syntheticWorkload(name, n, c.d, 8, 2, R);
  }
}

async function benchDecode(c: Config, bar: ProgressBar): Promise<DecodeRow[]> {
  const rows: DecodeRow[] = [];
  const total = c.workloads.length * c.ns.length;
  let done = 0;
  bar.update(0, total);
  for (const w of decodeWorkloads(c, c.rounds + 1)) {
    rows.push(...await decodeRows(w, c.rounds, c.backend));
    bar.update(++done, total);
  }
  return rows;
}

async function decodeRows(w: Workload, rounds: number, backend: 'cpu' | 'webgpu'): Promise<DecodeRow[]> {
  const bias = calibrateReluBias(w);
  const weighting = (kind: 'softmax' | 'relu'): Weighting => ({ kind, scale: 1 / Math.sqrt(w.d), bias: kind === 'relu' ? bias : 0, alpha: kind === 'relu' ? RELU_ALPHA : 1 });
  const cs: Contender[] = backend === 'webgpu' ? [
    await gpuContender('dense webgpu', w, { kind: 'softmax' }, true),
    await gpuContender('dense webgpu relu', w, { kind: 'relu', sparsity: 'dense', alpha: RELU_ALPHA, bias }, true),
    await gpuContender(`webgpu sparse relu^${RELU_ALPHA} exact`, w, { kind: 'relu', alpha: RELU_ALPHA, bias }),
    await gpuContender('webgpu certified ε=1e-3', w, { kind: 'softmax', sparsity: { epsilon: 1e-3 } }),
    await gpuContender('webgpu certified ε=1e-2', w, { kind: 'softmax', sparsity: { epsilon: 1e-2 } }),
    await gpuContender(`webgpu top-k ${TOP_K}`, w, { kind: 'softmax', sparsity: { topK: TOP_K } }),
    await gpuContender('webgpu paper', w, { kind: 'softmax', sparsity: 'paper' }),
  ] : [
    denseContender('dense js', w, weighting('softmax'), createJsKernels()),
    denseContender('dense wasm', w, weighting('softmax'), createKernels({ backend: 'wasm' })),
    await poolContender(w, weighting('softmax'), 2),
    ...await ortContender(w),
    { ...cacheContender('KVCache dense', w, { kind: 'softmax', sparsity: 'dense' }), dense: true },
    denseContender('dense wasm relu', w, weighting('relu'), createKernels({ backend: 'wasm' })),
    cacheContender(`sparse relu^${RELU_ALPHA} exact`, w, { kind: 'relu', alpha: RELU_ALPHA, bias }),
    cacheContender('certified ε=1e-3', w, { kind: 'softmax', sparsity: { epsilon: 1e-3 } }),
    cacheContender('certified ε=1e-2', w, { kind: 'softmax', sparsity: { epsilon: 1e-2 } }),
    cacheContender(`top-k ${TOP_K}`, w, { kind: 'softmax', sparsity: { topK: TOP_K } }),
    cacheContender('paper', w, { kind: 'softmax', sparsity: 'paper' }),
  ];
  // Validate on the first query set (queries[0]); the timed rounds use the others in turn.
  const q0 = w.queries[0]!;
  const want = { softmax: referenceDecode(w, q0, 'softmax', 1, 0), relu: referenceDecode(w, q0, 'relu', RELU_ALPHA, bias) };
  const errors: number[] = [];
  for (const c of cs) errors.push(maxAbsDiff(await c.step(q0), want[c.kind]));
  const work = cs.map((c) => c.work());
  const sparse = cs.filter((c) => c.sparsity !== undefined);
  const tv = new Map(measuredTv(w, q0, sparse.map((c) => c.sparsity!)).map((x, i) => [sparse[i]!.name, x]));
  const timed: Record<string, () => unknown> = {};
  for (const c of cs) {
    let r = 0;
    timed[c.name] = () => c.step(w.queries[1 + (r++ % (w.queries.length - 1))]!);
  }
  const ms = await alternateRoundsAsync(timed, rounds);
  for (const c of cs) await c.close?.();
  // Speed baseline of each contender: the fastest dense contender of its kind at its thread count.
  const threadsOf = (c: Contender) => c.threads ?? 1;
  const baselineOf = (c: Contender) => cs.filter((d) => d.dense && d.kind === c.kind && threadsOf(d) === threadsOf(c))
    .reduce((best, d) => (ms[d.name]! < ms[best.name]! ? d : best));
  return cs.map((c, i) => {
    const base = baselineOf(c);
    return {
      workload: w.name, n: w.n, d: w.d, heads: w.heads, kvHeads: w.kvHeads, contender: c.name, kind: c.kind,
      msPerToken: ms[c.name]!, speedupVsDense: ms[base.name]! / ms[c.name]!, baseline: base.name,
      keysUsedPerHead: work[i]!.keysUsedPerHead, mbTouched: work[i]!.bytes / 1e6, maxError: errors[i]!,
      tvDistance: tv.get(c.name) ?? (c.tvUnmeasured ? NaN : 0), tvBound: work[i]!.tvBound ?? null,
    };
  });
}

/**
 * The total-variation distance each softmax sparse mode reaches on query set q0, max over query
 * heads: the same selection rule run through the row engine on an index of the same kind over
 * each KV head's keys (mode-sweep.ts), its kept ids against the exact float64 softmax weights.
 */
function measuredTv(w: Workload, q0: Float32Array, modes: Sparsity[]): number[] {
  const tv = modes.map(() => 0), group = w.heads / w.kvHeads;
  if (modes.length === 0) return tv;
  const queries = new Float32Array(w.n * w.d);   // [n, d]: the decode query as the last position's
  for (let g = 0; g < w.kvHeads; g++) {
    const keys = w.keyHeads[g]!, index = HalfSpaceIndex.build(matrix(keys, w.n, w.d), { kind: INDEX }).reporter;
    for (let h = g * group; h < (g + 1) * group; h++) {
      queries.set(q0.subarray(h * w.d, (h + 1) * w.d), (w.n - 1) * w.d);
      const head = { queries, keys, values: w.valueHeads[g]!, n: w.n, dim: w.d, valueDim: w.dv };
      sweepSparsity(head, index, modes, { queries: 1 }).forEach((m, i) => { tv[i] = Math.max(tv[i]!, m.tv[0]!); });
    }
  }
  return tv;
}

function denseContender(name: string, w: Workload, weighting: Weighting, kernels: Kernels): Contender {
  const dec = new DenseDecoder({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, kernels, initialCapacity: w.n });
  dec.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  return { name, kind: weighting.kind, dense: true, step: (q) => { dec.attend(q, out); return out; }, work: () => ({ keysUsedPerHead: w.n, bytes: denseDecodeBytes(w) }) };
}

/** Our dense decoder split over `threads` worker threads (DecodePool: heads and key ranges, log-sum-exp merge). */
async function poolContender(w: Workload, weighting: Weighting, threads: number): Promise<Contender> {
  const pool = await DecodePool.create({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, weighting, threads, initialCapacity: w.n });
  pool.append(w.keys, w.values);
  const out = new Float32Array(w.heads * w.dv);
  return {
    name: `dense wasm ${threads}t`, kind: weighting.kind, dense: true, threads, step: (q) => { pool.attend(q, out); return out; },
    work: () => ({ keysUsedPerHead: w.n, bytes: denseDecodeBytes(w) }), close: () => pool.close(),
  };
}

/** onnxruntime-node dense decode attention on one thread (src/node/onnx-attention.ts); none when the package is missing. */
async function ortContender(w: Workload): Promise<Contender[]> {
  const group = w.heads / w.kvHeads;
  const ort = await createOrtDecoder(w.keyHeads, w.valueHeads, w.n, group, w.d, w.dv, 1 / Math.sqrt(w.d), 1);
  if (ort === null) return [];
  return [{ name: 'onnxruntime 1t', kind: 'softmax', dense: true, step: (q) => ort.run(q), work: () => ({ keysUsedPerHead: w.n, bytes: denseDecodeBytes(w) }) }];
}

function cacheContender(name: string, w: Workload, options: Omit<AttentionOptions, 'causal'>): Contender {
  const cache = new KVCache({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, index: INDEX, ...options });
  cache.append(w.keys, w.values);
  let last: ReturnType<Contender['work']> = { keysUsedPerHead: 0, bytes: 0 };
  const kind = options.kind ?? 'softmax';
  return {
    name, kind, ...(kind === 'softmax' && options.sparsity !== undefined && options.sparsity !== 'dense' ? { sparsity: options.sparsity } : {}),
    step: (q) => {
      const r = cache.attend(q);
      const used = r.stats.keysUsed / w.heads, scored = r.stats.keysScored / w.heads, bound = r.stats.errorBound;
      last = { keysUsedPerHead: used, bytes: sparseDecodeBytes(w, used, scored), ...(bound ? { tvBound: Math.max(...bound) } : {}) };
      return r.output;
    },
    work: () => last,
  };
}

/** A KVCache on the GPU (f16 K/V); each step is a whole attendAsync, readback included. */
async function gpuContender(name: string, w: Workload, options: Omit<AttentionOptions, 'causal' | 'backend'>, dense = false): Promise<Contender> {
  const cache = await KVCache.create({ heads: w.heads, kvHeads: w.kvHeads, headDim: w.d, valueDim: w.dv, backend: 'webgpu', storage: 'f16', ...options });
  cache.append(w.keys, w.values);
  let last = { keysUsedPerHead: 0, bytes: 0 };
  const kv = (keys: number) => w.kvHeads * keys * (w.d + w.dv) * 2;
  return {
    name, kind: options.kind ?? 'softmax', dense, tvUnmeasured: !dense && options.kind === 'softmax',
    step: async (q) => {
      const r = await cache.attendAsync(q);
      const used = r.stats.keysUsed / w.heads, sparse = r.stats.boundsEvaluated !== undefined;
      // Bytes: f16 K and V of the keys used (dense: all); sparse modes add the int8 codes (d bytes a key).
      last = { keysUsedPerHead: used, bytes: sparse ? kv(used) + w.kvHeads * w.n * w.d : kv(w.n),
        ...(r.stats.errorBound ? { tvBound: Math.max(...r.stats.errorBound) } : {}) };
      return r.output;
    },
    work: () => last,
  };
}

function maxAbsDiff(got: Float32Array, want: Float64Array): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i]! - want[i]!));
  return e;
}

/** Causal prefill of head 0 (its KV head 0) at every n: prefillTiming's dense vs certified ε = 1e-2 and the HSR part. */
function benchPrefill(c: Config, bar: ProgressBar): PrefillRow[] {
  const rows: PrefillRow[] = [];
  let done = 0;
  for (const name of c.workloads) {
    const maxN = Math.max(...c.ns);
    let head: { q: Float32Array; k: Float32Array; v: Float32Array; dim: number; n: number };
    if (name === 'real') {
      const t = loadDumpTensors(requireDataFile(REAL_DUMPS.real));
      head = { q: t.q.subarray(0, t.n * t.dim), k: t.k.subarray(0, t.n * t.dim), v: t.v.subarray(0, t.n * t.dim), dim: t.dim, n: t.n };
    } else {
      const w = syntheticWorkload(name, maxN, c.d, 8, 2, maxN);
      const q = new Float32Array(maxN * w.d);
      w.queries.forEach((x, i) => q.set(x.subarray(0, w.d), i * w.d));
      head = { q, k: w.keyHeads[0]!, v: w.valueHeads[0]!, dim: w.d, n: maxN };
    }
    const sizes = [...new Set(c.ns.map((n) => Math.min(n, head.n)))].sort((a, b) => a - b);
    const r = prefillTiming({ name, ...head, kind: 'softmax', alpha: 1, bias: 0, index: INDEX,
      modes: [{ label: 'certified ε=1e-2', options: { sparsity: { epsilon: 1e-2 } } }] }, sizes, c.rounds, () => bar.update(++done, c.workloads.length * c.ns.length));
    for (const p of r.points) {
      const errors = prefillTailErrors(head, p.n);
      for (const [label, ms] of Object.entries(p.ms)) {
        rows.push({ workload: name, n: p.n, d: head.dim, contender: label, ms, keptFraction: label === 'dense' ? 1 : p.keptFraction[label] ?? NaN,
          speedupVsDense: p.ms['dense']! / ms, maxErrorTail: errors[label] ?? NaN });
      }
    }
  }
  return rows;
}

/** Max |output − float64 causal reference| over the last 64 positions, for dense and certified ε = 1e-2 (run once, untimed). */
function prefillTailErrors(head: { q: Float32Array; k: Float32Array; v: Float32Array; dim: number }, n: number): Record<string, number> {
  const d = head.dim, tail = Math.min(64, n), rows = (a: Float32Array) => matrix(a.subarray(0, n * d), n, d);
  const want = referenceAttention({ q: head.q.subarray((n - tail) * d, n * d), m: tail, k: head.k, n, v: head.v, d, dv: d,
    kind: 'softmax', scale: 1 / Math.sqrt(d), alpha: 1, bias: 0, causal: true });
  const error = (sparsity: Sparsity) => {
    const got = attention(rows(head.q), rows(head.k), rows(head.v), { kind: 'softmax', causal: true, index: INDEX, sparsity }).output.data;
    let e = 0;
    for (let i = 0; i < tail * d; i++) e = Math.max(e, Math.abs(got[(n - tail) * d + i]! - want[i]!));
    return e;
  };
  return { dense: error('dense'), 'certified ε=1e-2': error({ epsilon: 1e-2 }) };
}

/** The dense contenders' names (the speed baselines), as decodeRows names them. */
const DENSE_NAME = /^(dense|onnxruntime|KVCache dense)/;

const fmt = (x: number, digits = 3): string => (Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toPrecision(digits));

function formatResult(r: { mode: string; rows: DecodeRow[] | PrefillRow[] }): string {
  if (r.mode === 'decode') {
    const rows = r.rows as DecodeRow[];
    const table = formatTable(['workload', 'n', 'd', 'heads', 'contender', 'ms/token', '× fastest dense', 'keys used/head', 'MB touched', 'max |out err|', 'TV dist.', 'TV bound'],
      rows.map((x) => [x.workload, String(x.n), String(x.d), `${x.heads}/${x.kvHeads}`, x.contender, fmt(x.msPerToken),
        fmt(x.speedupVsDense), String(Math.round(x.keysUsedPerHead)), fmt(x.mbTouched), x.maxError.toExponential(1),
        x.tvDistance === 0 ? '0' : Number.isNaN(x.tvDistance) ? '–' : x.tvDistance.toExponential(1), x.tvBound === null ? '' : x.tvBound.toExponential(1)]),
      ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
    const slower = rows.filter((x) => x.speedupVsDense < 1 && !DENSE_NAME.test(x.contender));
    return [table, '',
      '× fastest dense: median ms of the fastest dense contender of the same kind (softmax / ReLU) and thread count, over this row\'s.',
      'max |out err|: largest absolute difference of an output entry from the float64 reference. TV dist.: total-variation distance',
      'between the exact softmax weights and the weights used (the mass left out), max over heads; TV bound: the certified bound on it',
      '(stats.errorBound), which ε limits. Both on the first query set; 0 for dense and exact ReLU.',
      ...(slower.length > 0 ? [`Slower than dense here: ${slower.map((x) => `${x.workload} n=${x.n} ${x.contender} (${fmt(x.speedupVsDense)}×)`).join(', ')}.`] : []),
    ].join('\n');
  }
  return formatTable(['workload', 'n', 'd', 'contender (head 0, causal)', 'ms', '× dense', 'keys used / causal pairs', 'max err (last 64)'],
    (r.rows as PrefillRow[]).map((x) => [x.workload, String(x.n), String(x.d), x.contender, fmt(x.ms), fmt(x.speedupVsDense), fmt(x.keptFraction),
      Number.isNaN(x.maxErrorTail) ? '–' : x.maxErrorTail.toExponential(1)]),
    ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r']);
}
