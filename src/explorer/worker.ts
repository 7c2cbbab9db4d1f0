/**
 * The explorer's Web Worker: loads a vendored model over HTTP and runs the library on it, so the
 * page stays responsive. One request at a time; replies are the Reply messages of protocol.ts.
 */
import { HsrError } from '../errors.js';
import { attentionFactory, cacheSparsity, describeAttention, type AttentionMode } from '../model/attention-mode.js';
import { fetchReader, loadModelFiles } from '../model/load.js';
import { LlamaSession, type LlamaModel } from '../model/llama.js';
import { generate, perplexity } from '../model/run.js';
import { ByteDecoder } from '../model/tokenizer.js';
import { KVCache, type KVCacheOptions } from '../kvcache/kv-cache.js';
import { createKernels } from '../kernels/index.js';
import { DecodePool } from '../kernels/pool/decode-pool.js';
import { poolAttention, type PoolAttentionSet } from '../model/pool-attention.js';
import { gaussianArray, seededRandom } from '../report/random.js';
import { HeadProbe } from './probe.js';
import type { GpuRow, ModelName, PoolInfo, Reply, Request } from './protocol.js';

/**
 * Fewest positions (over the KV heads) a pool thread takes: waking Web Workers costs tens of
 * microseconds, which a short slice does not repay (the model's 2 KV heads split from 512 positions).
 */
const MIN_POSITIONS_PER_THREAD = 512;
/**
 * Most threads a pool takes: a run makes one pool per layer (6 here), each with threads − 1 Web
 * Workers, and the model's contexts (≤ 8192 positions × 2 KV heads) give more threads too little work each.
 */
const MAX_THREADS = 4;

let model: LlamaModel | null = null;
let modelName: ModelName | null = null;
let loadedReply: Extract<Reply, { type: 'loaded' }> | null = null;
let poolInfo: Promise<PoolInfo> | null = null;
/** The 'ran on' labels (the attention kernels, the same for both, are in the 'loaded' reply). */
const oneThread = () => '1 thread';
const poolThreads = (set: PoolAttentionSet) => `${set.threads} threads (DecodePool)`;

/** Threads a DecodePool gets in this worker (it starts them once to know), and why fewer than the CPUs. */
function probePool(): Promise<PoolInfo> {
  const threads = Math.min(MAX_THREADS, navigator.hardwareConcurrency || 1);
  return poolInfo ??= DecodePool.create({ heads: 1, kvHeads: 1, headDim: 4, threads, weighting: { kind: 'softmax', scale: 1, bias: 0, alpha: 1 } })
    .then(async (p) => { await p.close(); return { threads: p.threads, fallback: p.fallback }; });
}

/** Dense attention on a DecodePool per layer for `capacity` positions, closed after `run`. */
async function withPool<T>(capacity: number, threads: number, run: (set: PoolAttentionSet) => T): Promise<T> {
  const set = await poolAttention(loaded().config, capacity, { threads, minPositionsPerThread: MIN_POSITIONS_PER_THREAD });
  try { return run(set); } finally { await set.close(); }
}

const post = (r: Reply, transfer: Transferable[] = []) => postMessage(r, { transfer });
const now = () => performance.now();

function loaded(): LlamaModel {
  if (model === null) throw new HsrError('BAD_OPTION', 'explorer worker: expected a loaded model, got none');
  return model;
}

/** Loads `name` unless it is the model already loaded; replies with the model's info either way. */
async function load(name: ModelName): Promise<void> {
  if (modelName !== name || loadedReply === null) {
    const t0 = now();
    // The pool's threads start while the weights download.
    const [m, pool] = await Promise.all([loadModelFiles(fetchReader(new URL(`../../models/${name}/`, import.meta.url).href)), probePool()]);
    model = m;
    modelName = name;
    const c = model.config;
    // KVCache's and DecodePool's kernels: what createKernels picks by default ('auto').
    loadedReply = { type: 'loaded', backend: model.products.name, attentionKernels: createKernels().name, pool, info: {
      name, kind: c.attention.kind, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, maxPositions: c.maxPositions, loadSeconds: (now() - t0) / 1000,
    } };
  }
  post(loadedReply);
}

async function runPerplexity(tokens: Uint8Array, mode: AttentionMode, threads: number): Promise<void> {
  const onProgress = (done: number, total: number) => post({ type: 'progress', done, total });
  const { r, label, ranOn } = threads > 1 && mode.kind === 'dense'
    ? await withPool(tokens.length, threads, (set) => ({ r: perplexity(loaded(), tokens, { attention: mode, factory: set.factory, onProgress }),
      label: `dense · ${set.threads} threads`, ranOn: poolThreads(set) }))
    : { r: perplexity(loaded(), tokens, { attention: mode, onProgress }), label: describeAttention(mode), ranOn: oneThread() };
  post({ type: 'perplexity', label, ranOn, tokens: r.tokens, nll: r.nll, bitsPerToken: r.bitsPerToken,
    tokensPerSecond: r.tokens / r.seconds, keysUsed: r.keysUsed, keysVisible: r.keysVisible, maxErrorBound: r.maxErrorBound });
}

function runProbe(tokens: Uint8Array, mode: AttentionMode): void {
  const m = loaded(), c = m.config, a = c.attention;
  if (mode.kind === 'flash' || mode.kind === 'window' || mode.kind === 'page-topk') {
    throw new HsrError('BAD_OPTION', `explorer: the heatmap shows the library's KVCache modes, got ${describeAttention(mode)}`);
  }
  const probe = new HeadProbe({ layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, positions: tokens.length }, {
    kind: a.kind, alpha: a.kind === 'relu' ? a.alpha : 1, bias: a.kind === 'relu' ? a.bias : 0, scale: 1 / Math.sqrt(c.headDim),
    sparsity: cacheSparsity(mode),
  });
  perplexity(m, tokens, { attention: mode, factory: probe.factory, onProgress: (done, total) => post({ type: 'progress', done, total }) });
  post({ type: 'probe', label: describeAttention(mode), layers: c.layers, heads: c.heads, positions: tokens.length,
    keysUsed: probe.keysUsed, errorBound: probe.errorBound }, [probe.keysUsed.buffer, probe.errorBound.buffer]);
}

function runGenerate(prompt: Uint8Array, mode: AttentionMode, maxTokens: number): void {
  const decoder = new ByteDecoder();
  let count = 0, t0 = 0;
  const m = loaded();
  const r = generate(m, prompt, maxTokens, {
    attention: mode,
    onToken: (t) => {
      if (count === 0) t0 = now();       // tokens/s over decode steps, as the CLI reports it
      count++;
      post({ type: 'token', text: decoder.push(t), count, tokensPerSecond: count > 1 ? (count - 1) / ((now() - t0) / 1000) : 0 });
    },
  });
  // Positions run through the model: the prompt and every generated token but the last.
  const n = r.promptTokens + r.tokens.length - 1;
  const visible = m.config.layers * m.config.heads * n * (n + 1) / 2;
  post({ type: 'generated', tokens: r.tokens.length, tokensPerSecond: r.tokens.length / Math.max(r.decodeSeconds, 1e-9), keysUsedFraction: r.keysUsed / visible });
}

/**
 * Prefills to each context length in blocks, then times `steps` single-token forwards there
 * (threads > 1: dense attention on a DecodePool per layer).
 */
async function runSpeed(tokens: Uint8Array, mode: AttentionMode, contexts: number[], steps: number, threads: number): Promise<void> {
  const m = loaded();
  const last = contexts[contexts.length - 1]!, capacity = last + steps * contexts.length;
  if (capacity > Math.min(tokens.length, m.config.maxPositions)) {
    throw new HsrError('BAD_OPTION', `explorer speed: expected ${capacity} tokens of text and context, got ${tokens.length} (model: ${m.config.maxPositions})`);
  }
  if (threads > 1 && mode.kind === 'dense') {
    await withPool(capacity, threads, (set) => measureSpeed(new LlamaSession(m, set.factory), tokens, contexts, steps, `dense · ${set.threads} threads`, poolThreads(set)));
  } else {
    measureSpeed(new LlamaSession(m, attentionFactory(mode, m.config, capacity)), tokens, contexts, steps, describeAttention(mode), oneThread());
  }
}

function measureSpeed(s: LlamaSession, tokens: Uint8Array, contexts: number[], steps: number, label: string, ranOn: string): void {
  const rates: number[] = [];
  for (const ctx of contexts) {
    while (s.pos < ctx) s.forward(tokens, s.pos, Math.min(s.block, ctx - s.pos), false);
    const t0 = now();
    for (let i = 0; i < steps; i++) s.forward(tokens, s.pos, 1);
    rates.push(steps / ((now() - t0) / 1000));
    post({ type: 'progress', done: rates.length, total: contexts.length });
  }
  post({ type: 'speed', label, ranOn, contexts, tokensPerSecond: rates });
}

/** One decode-attention backend of the comparison: appends once, then answers queries. */
interface Attender { backend: string; attend(q: Float32Array): Promise<{ output: Float32Array; bound: number; used: number }>; close(): Promise<void> }

/**
 * Decode attention of one library mode on 'wasm' (one thread), on the DecodePool's threads (dense
 * rows and exact sparse ReLU rows, where the page has threads) and on 'webgpu', over the same seeded
 * Gaussian keys, values and queries (the model's head shape and attention kind): time per attend
 * after one warm-up call (shader compilation), keys used, and the largest output difference from wasm.
 */
async function runGpu(mode: AttentionMode, contexts: number[], count: number): Promise<void> {
  const c = loaded().config, a = c.attention;
  if (mode.kind === 'flash' || mode.kind === 'window' || mode.kind === 'page-topk') {
    throw new HsrError('BAD_OPTION', `explorer: the WebGPU comparison runs the library's KVCache modes, got ${describeAttention(mode)}`);
  }
  const weighting = { kind: a.kind, alpha: a.kind === 'relu' ? a.alpha : 1, bias: a.kind === 'relu' ? a.bias : 0, scale: 1 / Math.sqrt(c.headDim) };
  const options: KVCacheOptions = { heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, ...weighting, sparsity: cacheSparsity(mode) };
  const { threads } = await probePool();
  const pooled = threads > 1 && (mode.kind === 'dense' || (mode.kind === 'sparse' && a.kind === 'relu'));
  const rows: GpuRow[] = [];
  const backends = pooled ? 3 : 2;
  for (const n of contexts) {
    const r = seededRandom(n);
    const keys = gaussianArray(r, n * c.kvHeads * c.headDim), values = gaussianArray(r, n * c.kvHeads * c.headDim);
    const queries = Array.from({ length: count }, () => gaussianArray(r, c.heads * c.headDim).map((x) => 2 * x));
    let reference: Float32Array[] = [], referenceBounds: number[] = [];
    const vMax = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const caches = async (backend: 'wasm' | 'webgpu'): Promise<Attender> => {
      const cache = await KVCache.create({ ...options, backend });
      cache.append(keys, values);
      return { backend, close: async () => {}, attend: async (q) => {
        const { output, stats } = await cache.attendAsync(q);
        return { output, bound: stats.errorBound ? Math.max(...stats.errorBound) : 0, used: stats.keysUsed };
      } };
    };
    const makers: (() => Promise<Attender>)[] = [() => caches('wasm')];
    if (pooled) {
      makers.push(async () => {
        const p = await DecodePool.create({ heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, weighting, initialCapacity: n, threads,
          sparse: mode.kind === 'sparse', minPositionsPerThread: MIN_POSITIONS_PER_THREAD });
        p.append(keys, values);
        return { backend: `wasm · ${p.threads} threads`, close: () => p.close(), attend: async (q) => {
          const output = new Float32Array(c.heads * c.headDim);
          p.attend(q, output);
          // The pool reports no counts: dense rows use every key; sparse ReLU rows are exact, as KVCache's.
          return { output, bound: 0, used: mode.kind === 'dense' ? c.heads * n : NaN };
        } };
      });
    }
    makers.push(() => caches('webgpu'));
    for (const make of makers) {
      const att = await make();
      try {
        await att.attend(queries[0]!);
        const outputs: Float32Array[] = [], bounds: number[] = [];
        let used = 0;
        const t0 = now();
        for (const q of queries) {
          const { output, bound, used: u } = await att.attend(q);
          outputs.push(output);
          bounds.push(bound);
          used += u;
        }
        const ms = (now() - t0) / count;
        if (att.backend === 'wasm') { reference = outputs; referenceBounds = bounds; }
        // Exact modes agree to float rounding (f32 everywhere); sparse softmax rows may each differ from
        // exact by 2·TV·max|v|, so two of them by the sum of both bounds.
        let diff = 0, agrees = true;
        outputs.forEach((o, i) => o.forEach((v, j) => {
          const d = Math.abs(v - reference[i]![j]!);
          diff = Math.max(diff, d);
          if (d > 1e-4 * Math.max(1, Math.abs(reference[i]![j]!)) + 2 * (bounds[i]! + referenceBounds[i]!) * vMax) agrees = false;
        }));
        rows.push({ context: n, backend: att.backend, msPerAttend: ms, keysUsed: used / count, maxBound: Math.max(...bounds), maxDiff: diff, agrees });
      } finally {
        await att.close();
      }
      post({ type: 'progress', done: rows.length, total: backends * contexts.length });
    }
  }
  post({ type: 'gpu', label: describeAttention(mode), rows });
}

onmessage = async (e: MessageEvent<Request>) => {
  const q = e.data;
  try {
    switch (q.type) {
      case 'load': await load(q.model); break;
      case 'perplexity': await runPerplexity(q.tokens, q.mode, q.threads ?? 1); break;
      case 'probe': runProbe(q.tokens, q.mode); break;
      case 'generate': runGenerate(q.prompt, q.mode, q.maxTokens); break;
      case 'speed': await runSpeed(q.tokens, q.mode, q.contexts, q.steps, q.threads ?? 1); break;
      case 'gpu': await runGpu(q.mode, q.contexts, q.queries); break;
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof HsrError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err) });
  }
};
