/**
 * The decode soak: one token at a time appended to a certified softmax KVCache (ε) and an exact
 * sparse ReLU^α KVCache, attending every `attendEvery` tokens, checked against a float64 brute
 * force at checkpoints, with memory recorded there. Used by the short soak in npm test
 * (test/kvcache/decode-soak.test.ts) and the 10⁵-token run (bench/decode-soak.ts; result in
 * bench/results/decode-soak.json and .txt).
 *
 * Keys are Gaussian with per-channel scales (a few channels 4× larger, as in real keys) and a slowly
 * drifting mean, so the caches see new directions over time; each query head aims at one earlier
 * key (peaked rows, where certified keeps few keys).
 */
import { referenceAttention } from '../../src/attention/reference.js';
import { KVCache } from '../../src/index.js';
import { rng } from './measure.js';

export interface SoakOptions {
  tokens: number;
  /** Token counts at which both caches are checked against the float64 brute force. */
  checkpoints: readonly number[];
  /** Attend (both caches, every head) after every this many appended tokens. */
  attendEvery: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  epsilon?: number;
  seed?: number;
}

export interface SoakCheckpoint {
  tokens: number;
  /** Certified: largest |output − reference| over heads, and its largest share of what the head may have (2·errorBound·max‖v‖ + 1e-5; ≤ 1 holds the guarantee). */
  certifiedError: number;
  certifiedShareOfAllowed: number;
  certifiedMaxBound: number;
  /** ReLU: largest |output − reference| / (1 + |reference|). */
  reluError: number;
  /** Fraction of the keys the ReLU cache used at this checkpoint. */
  reluKeysUsed: number;
  /** Process memory (heap + array buffers + external, bytes) after a collection when available. */
  memoryBytes: number;
  seconds: number;
}

export interface SoakResult {
  options: Required<SoakOptions>;
  checkpoints: SoakCheckpoint[];
  attends: number;
  /** Memory growth over a second window of `idleAttends` attends at the final length with nothing appended (a leak shows here). */
  idleGrowthBytes: number;
  idleAttends: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap, array buffers and external memory (the kernels' WebAssembly memory is external). */
export function memoryNow(): number {
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

export function decodeSoak(options: SoakOptions): SoakResult {
  const o: Required<SoakOptions> = { heads: 2, kvHeads: 1, headDim: 32, epsilon: 1e-2, seed: 11, ...options };
  const { tokens, heads, kvHeads, headDim: d, epsilon } = o;
  const r = rng(o.seed);
  const relu = { alpha: 2, bias: 0.5 };
  const certified = new KVCache({ heads, kvHeads, headDim: d, kind: 'softmax', sparsity: { epsilon } });
  const reluCache = new KVCache({ heads, kvHeads, headDim: d, kind: 'relu', ...relu });
  // Everything appended, token-major [t, kvHeads, d], allocated once for the brute force.
  const allK = new Float32Array(tokens * kvHeads * d), allV = new Float32Array(tokens * kvHeads * d);
  const channelScale = Float32Array.from({ length: d }, (_, j) => (j % 11 === 0 ? 4 : 1));
  const mean = new Float32Array(d);
  const q = new Float32Array(heads * d);
  const t0 = performance.now();
  const checkpoints: SoakCheckpoint[] = [];
  let attends = 0, maxV = 0;
  // Each head looks for one earlier key (q = 2·k_j/√… plus noise): peaked softmax rows, so the certified cache
  // keeps few keys (Gaussian queries on these keys give flat rows, which certified serves densely).
  const newQuery = (n: number) => {
    for (let h = 0; h < heads; h++) {
      const j = Math.floor(r.uniform() * n), g = Math.floor(h / (heads / kvHeads));
      for (let i = 0; i < d; i++) q[h * d + i] = 0.5 * allK[(j * kvHeads + g) * d + i]! + r.gauss();
    }
  };
  for (let t = 0; t < tokens; t++) {
    for (let j = 0; j < d; j++) mean[j] = 0.999 * mean[j]! + 0.05 * r.gauss();
    const k = allK.subarray(t * kvHeads * d, (t + 1) * kvHeads * d), v = allV.subarray(t * kvHeads * d, (t + 1) * kvHeads * d);
    for (let i = 0; i < k.length; i++) { k[i] = mean[i % d]! + channelScale[i % d]! * r.gauss(); v[i] = r.gauss(); }
    for (let g = 0; g < kvHeads; g++) maxV = Math.max(maxV, Math.hypot(...v.subarray(g * d, (g + 1) * d)));
    certified.append(k, v);
    reluCache.append(k, v);
    const n = t + 1;
    const check = o.checkpoints.includes(n);
    if (n % o.attendEvery !== 0 && !check) continue;
    newQuery(n);
    const c = certified.attend(q), rl = reluCache.attend(q);
    attends++;
    if (!check) continue;
    let certifiedError = 0, certifiedShareOfAllowed = 0, reluError = 0;
    const bound = Math.max(...c.stats.errorBound!);
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      const kh = new Float32Array(n * d), vh = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        kh.set(allK.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d), i * d);
        vh.set(allV.subarray((i * kvHeads + g) * d, (i * kvHeads + g + 1) * d), i * d);
      }
      const base = { q: q.subarray(h * d, (h + 1) * d), m: 1, k: kh, n, v: vh, d, dv: d, causal: false, scale: 1 / Math.sqrt(d) };
      const soft = referenceAttention({ ...base, kind: 'softmax', alpha: 1, bias: 0 });
      const rel = referenceAttention({ ...base, kind: 'relu', ...relu });
      const allowed = 2 * c.stats.errorBound![h]! * maxV + 1e-5;
      for (let j = 0; j < d; j++) {
        const err = Math.abs(c.output[h * d + j]! - soft[j]!);
        certifiedError = Math.max(certifiedError, err);
        certifiedShareOfAllowed = Math.max(certifiedShareOfAllowed, err / allowed);
        reluError = Math.max(reluError, Math.abs(rl.output[h * d + j]! - rel[j]!) / (1 + Math.abs(rel[j]!)));
      }
    }
    checkpoints.push({
      tokens: n, certifiedError, certifiedShareOfAllowed, certifiedMaxBound: bound, reluError,
      reluKeysUsed: rl.stats.keysUsed / (heads * n), memoryBytes: memoryNow(), seconds: (performance.now() - t0) / 1000,
    });
  }
  // Two windows of attends with nothing appended: the first lets scratch reach its size at this
  // length, the second must not grow (a leak per attend would show there).
  const idle = Math.max(50, Math.min(500, attends));
  const attendIdle = () => { for (let i = 0; i < idle; i++) { newQuery(tokens); certified.attend(q); reluCache.attend(q); } };
  attendIdle();
  const before = memoryNow();
  attendIdle();
  return { options: o, checkpoints, attends, idleGrowthBytes: memoryNow() - before, idleAttends: idle };
}

/**
 * The memory growth allowed between two checkpoints: 4× the bytes both caches must hold per token
 * (float32 key and value, the index's int8 code and per-key scalars: 4 float64 + 3 float32) plus
 * 32 MiB. Buffers grow by doubling inside one WebAssembly memory that never shrinks, so a freed
 * block's space stays counted: 2–4× the raw bytes is what bounded (linear) growth looks like here.
 */
export function allowedGrowth(o: Required<SoakOptions>, fromTokens: number, toTokens: number): number {
  const perTokenPerCache = o.kvHeads * (4 * 2 * o.headDim + o.headDim + 4 * 8 + 3 * 4);
  return 4 * 2 * perTokenPerCache * (toTokens - fromTokens) + 32 * 2 ** 20;
}
