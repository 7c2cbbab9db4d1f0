// Which first filter could make the GPU's sparse decode 5× faster than dense at 512k? (CPU, float64;
// docs/webgpu.md "What bounds the sparse modes".) Every sparse step now scans every key's int8 codes
// and constants (144 bytes a key and KV head against dense's 512): at full bandwidth that scan alone
// is 28 % of a dense step, so 5× needs a first pass that reads fewer bytes a key and lets few keys
// through to the int8 check. For each candidate filter this measures, with valid float64 bounds (the
// GPU's float32 rounding allowances are ~2⁻²⁰ relative, negligible here), the keys that survive it
// and projects the step's time with a bytes model:
//   - per-key codes, per-key scale s = max|x_i|/L, c = round(x/s), e = x − s·c, the bound
//     scale·(⟨q, μ⟩ + s·⟨c, q⟩) ± scale·min(‖q‖·‖e‖, s/2·‖q‖₁): int8 (L = 127, the current codes),
//     4-bit (L = 7), 2-bit (L = 1), each also "centred" (x = k − μ, μ the KV head's channel mean: the
//     outlier channels no longer set s);
//   - per-block bounds over B consecutive keys: box (per-channel min/max) and ball (centroid, radius);
//   - projection ('proj r=R'): the keys' top-R principal directions B (from S sampled keys, centred on
//     their mean μ), per key c = Bᵀ(k − μ) as f16 (or int8 + scale) and ρ ≥ ‖e‖, σ ≥ ‖Bᵀe‖ of the
//     residual e = k − μ − B·c, the bound scale·(⟨q, μ⟩ + ⟨Bᵀq, c⟩) ± scale·(‖Bᵀq‖·σ + ‖q − BBᵀq‖·ρ)
//     (valid for any B: projFilter); 'variance held' is the share of the sample's variance B holds,
//     i.e. how close to rank R the keys are.
// Exact ReLU: a key survives where its upper bound exceeds the bias for some head of its KV group;
// survivors then get the int8 check (144 B a key in 8 rows: 288 B of 32-B sectors), the int8 candidates the gathered
// attention (512 B a row). Certified ε: a cut on the filter's bounds (skipped mass ≤ ε'/2 of the kept
// keys' lower-bound mass), then the int8 cut over the survivors with the rest of the budget.
// Time: component bytes ÷ rate, at two rate sets from H100 run 6 (512k, 8/2 heads, d = 128, f16;
// bench/results/webgpu-sparse-plan-h100-run6.json): "peak" — everything at dense's 2.72 TB/s, no fixed
// costs (no design reading these bytes does better); "run 6" — the scan over every key at the ReLU
// scan's 2.52 TB/s, the gathered attention as run 6 measured it at 512k (44.6 µs for 43k rows,
// 68.1 µs for 124k: 32.1 µs + rows at 1.76 TB/s, per-pass timestamps included), the survivors'
// int8 check at that 1.76 TB/s over 288 B a survivor (its codes are 8 words of 16 B in 8 rows: 32-B
// sectors). This reproduces run 6's exact ReLU steps (int8 scan: 105 / 128 µs modelled at 1 % / 3 %,
// 100 / 127 measured).
//
//   node --import tsx bench/first-filter.ts [--n 131072,524288] [--dump data/dev_c_l2.safetensors,...]
//     [--activations 0.03,0.01] [--epsilon 1e-3] [--filters '4-bit centred,proj'] [--samples 512]
//     [--rounds 16] [--out bench/results/first-filter.json]
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { dumpWorkload, syntheticWorkload, type Workload } from './lib/keys.js';
import { table, writeJson } from './lib/measure.js';
import { loadDumpTensors } from '../src/node/workloads.js';
import { projBounds, projCodes, sampleBasis } from './lib/gpu-bounds.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '131072,524288' }, dump: { type: 'string', default: 'data/dev_c_l2.safetensors' },
  activations: { type: 'string', default: '0.03,0.01' }, epsilon: { type: 'string', default: '1e-3' },
  filters: { type: 'string', default: '' }, rounds: { type: 'string', default: '16' }, samples: { type: 'string', default: '512' }, // the projection basis' sample (and half, twice it at r = 8)
  out: { type: 'string', default: 'bench/results/first-filter.json' },
} });
const ns = a.n!.split(',').filter((x) => x !== '').map(Number), activations = a.activations!.split(',').map(Number);
const eps = Number(a.epsilon), epsRatio = eps / (1 - eps);

/** H100 run 6 (bench/results/webgpu-sparse-plan-h100-run6.json): the rates above. */
const RUN6 = { peakTBs: 2.72, scanTBs: 2.52, gatherFixedUs: 32.1, gatherTBs: 1.76 };
/** Bytes a key and KV head: f16 K+V row, the int8 codes + their vec4f constants. */
const rowBytes = (d: number) => 4 * d, int8Bytes = (d: number) => d + 16;

interface Filter { name: string; bytes: (d: number) => number; bounds: (K: Float32Array, n: number, d: number, qs: Float64Array[], scale: number) => Bounds }
/** Per head of a KV group: lower and upper bounds on every key's scaled logit. */
interface Bounds { lo: Float64Array[]; hi: Float64Array[]; captured?: number }

const dotq = (q: Float64Array, x: ArrayLike<number>, d: number) => { let s = 0; for (let i = 0; i < d; i++) s += q[i]! * x[i]!; return s; };
const norm2 = (q: Float64Array) => Math.sqrt(dotq(q, q, q.length));
const norm1 = (q: Float64Array) => q.reduce((s, x) => s + Math.abs(x), 0);

function channelMean(K: Float32Array, n: number, d: number): Float64Array {
  const mu = new Float64Array(d);
  for (let j = 0; j < n; j++) for (let i = 0; i < d; i++) mu[i] += K[j * d + i]!;
  return mu.map((x) => x / Math.max(1, n));
}

/** Per-key codes of L levels each side (127: int8, 7: 4-bit, 1: 2-bit), optionally of k − μ. */
function codeFilter(name: string, L: number, centred: boolean): Filter {
  const bits = L >= 127 ? 8 : L >= 7 ? 4 : 2;
  return { name, bytes: (d) => (bits === 8 ? int8Bytes(d) : (d * bits) / 8 + 8), bounds(K, n, d, qs, scale) {
    const mu = centred ? channelMean(K, n, d) : new Float64Array(d);
    const qmu = qs.map((q) => dotq(q, mu, d)), q2 = qs.map(norm2), q1 = qs.map(norm1);
    const lo = qs.map(() => new Float64Array(n)), hi = qs.map(() => new Float64Array(n));
    const x = new Float64Array(d), c = new Float64Array(d);
    for (let j = 0; j < n; j++) {
      let amax = 0;
      for (let i = 0; i < d; i++) { x[i] = K[j * d + i]! - mu[i]!; amax = Math.max(amax, Math.abs(x[i]!)); }
      const s = amax / L;
      let e2 = 0;
      for (let i = 0; i < d; i++) { c[i] = s > 0 ? Math.max(-L, Math.min(L, Math.round(x[i]! / s))) : 0; e2 += (x[i]! - s * c[i]!) ** 2; }
      const en = Math.sqrt(e2);
      for (let h = 0; h < qs.length; h++) {
        const est = scale * (qmu[h]! + s * dotq(qs[h]!, c, d)), half = scale * Math.min(q2[h]! * en, (s / 2) * q1[h]!);
        lo[h]![j] = est - half; hi[h]![j] = est + half;
      }
    }
    return { lo, hi };
  } };
}

/** Bounds shared by blocks of B consecutive keys: per-channel box or centroid ball. */
function blockFilter(shape: 'box' | 'ball', B: number): Filter {
  return { name: `${shape} B=${B}`, bytes: (d) => (shape === 'box' ? 4 * d : 2 * d + 4) / B, bounds(K, n, d, qs, scale) {
    const lo = qs.map(() => new Float64Array(n)), hi = qs.map(() => new Float64Array(n)), q2 = qs.map(norm2);
    const mn = new Float64Array(d), mx = new Float64Array(d), cen = new Float64Array(d);
    for (let b0 = 0; b0 < n; b0 += B) {
      const b1 = Math.min(n, b0 + B);
      mn.fill(Infinity); mx.fill(-Infinity); cen.fill(0);
      for (let j = b0; j < b1; j++) for (let i = 0; i < d; i++) {
        const v = K[j * d + i]!;
        mn[i] = Math.min(mn[i]!, v); mx[i] = Math.max(mx[i]!, v); cen[i] += v / (b1 - b0);
      }
      let r = 0;
      if (shape === 'ball') for (let j = b0; j < b1; j++) { let s = 0; for (let i = 0; i < d; i++) s += (K[j * d + i]! - cen[i]!) ** 2; r = Math.max(r, Math.sqrt(s)); }
      for (let h = 0; h < qs.length; h++) {
        const q = qs[h]!;
        let u = 0, l = 0;
        if (shape === 'box') for (let i = 0; i < d; i++) { const p = q[i]! * mn[i]!, t = q[i]! * mx[i]!; u += Math.max(p, t); l += Math.min(p, t); }
        else { const m = dotq(q, cen, d); u = m + q2[h]! * r; l = m - q2[h]! * r; }
        lo[h]!.fill(scale * l, b0, b1); hi[h]!.fill(scale * u, b0, b1);
      }
    }
    return { lo, hi };
  } };
}

/**
 * Projection onto an r-dim basis B of the keys' sample covariance (orthogonal iteration over S keys
 * spread over the cache, centred on their mean μ; bench/lib/gpu-bounds.ts): per key c = Bᵀ(k − μ)
 * rounded to f16 (or to int8 with a per-key scale), ρ ≥ ‖e‖, σ ≥ ‖Bᵀe‖ of the residual, and the bound
 * scale·(⟨q, μ⟩ + ⟨a, c⟩) ± scale·(‖a‖·σ + ‖q_r‖·ρ), valid for ANY B: the basis' quality sets only how
 * tight the bound is. Bytes: the codes + (ρ, σ) as two f32.
 */
function projFilter(r: number, codes: 'f16' | 'int8', S: number): Filter {
  return { name: `proj r=${r} ${codes}${S === Number(a.samples) ? '' : ` S=${S}`}`, bytes: () => (codes === 'f16' ? 2 * r : r + 4) + 8, bounds(K, n, d, qs, scale) {
    const basis = sampleBasis(K, n, d, r, S, ROUNDS), coded = projCodes(K, n, d, basis, codes);
    const b = qs.map((q) => projBounds(coded, n, d, q, scale));
    return { lo: b.map((x) => x.lo), hi: b.map((x) => x.hi), captured: basis.captured };
  } };
}

/** Rounds of orthogonal iteration (default 16; 40 held the same variance; the GPU's 10 rounds over 256 keys the same shares: src/webgpu/proj-wgsl.ts). */
const ROUNDS = Number(a.rounds);

const INT8 = codeFilter('int8', 127, false);
const S = Number(a.samples);
const ALL: Filter[] = [codeFilter('4-bit', 7, false), codeFilter('4-bit centred', 7, true), codeFilter('2-bit', 1, false),
  codeFilter('2-bit centred', 1, true), blockFilter('box', 32), blockFilter('box', 64), blockFilter('ball', 32), blockFilter('ball', 64),
  projFilter(8, 'f16', S), projFilter(16, 'f16', S), projFilter(32, 'f16', S), projFilter(16, 'int8', S),
  projFilter(8, 'f16', S / 2), projFilter(8, 'f16', 2 * S)];
// --filters: names (or name prefixes) to study; all by default.
const FILTERS = a.filters === '' ? ALL : ALL.filter((F) => a.filters!.split(',').some((x) => F.name.startsWith(x)));

/** Scaled logits [head][key] of one query over the first n keys. */
function logitsOf(w: Workload, n: number, q: Float32Array): Float64Array[] {
  const { d, heads } = w, group = heads / w.kvHeads, scale = 1 / Math.sqrt(d);
  return Array.from({ length: heads }, (_, h) => {
    const K = w.keyHeads[Math.floor(h / group)]!, qh = Float64Array.from(q.subarray(h * d, (h + 1) * d)), out = new Float64Array(n);
    for (let j = 0; j < n; j++) out[j] = scale * dotq(qh, K.subarray(j * d, (j + 1) * d), d);
    return out;
  });
}

/** The bias leaving `share` of all heads' logits above it (the sparse-plan bench's rule, every logit). */
function reluBias(logits: Float64Array[], share: number): number {
  const all = Float64Array.from(logits.flatMap((x) => Array.from(x))).sort().reverse();
  return all[Math.floor(share * all.length)]!;
}

/**
 * Certified cut of one head: the fewest keys, by upper bound, whose skipped mass Σ e^hi ≤ budget·Σ e^lo
 * of the kept ones (`skippedAlready` of the same unit is charged first); returns the kept flags.
 */
function certifiedCut(hi: Float64Array, lo: Float64Array, among: Uint8Array | null, budget: number, ref: number, skippedAlready = 0): Uint8Array {
  const idx: number[] = [];
  for (let j = 0; j < hi.length; j++) if (among === null || among[j]) idx.push(j);
  idx.sort((x, y) => hi[y]! - hi[x]!);
  const kept = new Uint8Array(hi.length), suffix = new Float64Array(idx.length + 1);
  for (let t = idx.length - 1; t >= 0; t--) suffix[t] = suffix[t + 1]! + Math.exp(hi[idx[t]!]! - ref);
  let L = 0;
  for (let k = 0; k < idx.length; k++) {
    if (skippedAlready + suffix[k]! <= budget * L) break;
    L += Math.exp(lo[idx[k]!]! - ref); kept[idx[k]!] = 1;
  }
  return kept;
}

const countOf = (f: Uint8Array) => f.reduce((s, x) => s + x, 0);
function union(flags: Uint8Array[]): Uint8Array { const u = new Uint8Array(flags[0]!.length); for (const f of flags) for (let j = 0; j < u.length; j++) u[j] |= f[j]!; return u; }

/** Per KV head (bytes are per KV head and key): keys scanned, survivors read at random, gathered rows. */
interface Step { survivors: number; gathered: number; keptPerHead: number }

/** Modelled µs of a step at n keys a KV head, with the fixed cost of the gathered pass and the rates given. */
function model(n: number, d: number, kvHeads: number, scanBytes: number, s: Step, r: { scan: number; random: number; fixedUs: number }): number {
  const TB = 1e12 / 1e6; // bytes a µs at 1 TB/s
  return (kvHeads * n * scanBytes) / (r.scan * TB) + r.fixedUs + (kvHeads * (s.survivors * 2 * int8Bytes(d) + s.gathered * rowBytes(d))) / (r.random * TB);
}

const rows: Record<string, unknown>[] = [];
function study(w: Workload, n: number): void {
  const { d, heads, kvHeads } = w, group = heads / kvHeads, scale = 1 / Math.sqrt(d), q = w.queries[0]!;
  const t0 = performance.now();
  const logits = logitsOf(w, n, q);
  const biases = activations.map((s) => reluBias(logits, s));
  const K = (g: number) => w.keyHeads[g]!.subarray(0, n * d);
  const qsOf = (g: number) => Array.from({ length: group }, (_, i) => Float64Array.from(q.subarray((g * group + i) * d, (g * group + i + 1) * d)));
  const int8 = Array.from({ length: kvHeads }, (_, g) => INT8.bounds(K(g), n, d, qsOf(g), scale));
  const dense = rowBytes(d), scaleTo512k = 524288 / n;
  const project = (scanBytes: number, s: Step) => {
    // Time at 512k for this n's shares (the shares scale with n only roughly: study both n).
    const at = (r: { scan: number; random: number; fixedUs: number }) => model(524288, d, kvHeads, scanBytes, { survivors: s.survivors * scaleTo512k, gathered: s.gathered * scaleTo512k, keptPerHead: 0 }, r);
    const peak = at({ scan: RUN6.peakTBs, random: RUN6.peakTBs, fixedUs: 0 }), run6 = at({ scan: RUN6.scanTBs, random: RUN6.gatherTBs, fixedUs: RUN6.gatherFixedUs });
    const denseUs = (kvHeads * 524288 * dense) / (RUN6.peakTBs * 1e6);
    return { bytesPerKey: scanBytes + (s.survivors * 2 * int8Bytes(d) + s.gathered * dense) / n, usPeak: peak, usRun6: run6,
      xDensePeak: denseUs / peak, xDenseRun6: denseUs / run6 };
  };
  const emit = (filter: string, mode: string, s: Step, scanBytes: number, extra: Record<string, unknown> = {}) => {
    const row = { workload: w.name, n, d, filter, mode, scanBytesPerKey: scanBytes, survivorsShare: s.survivors / n, gatheredShare: s.gathered / n,
      keptPerHead: s.keptPerHead, ...extra, ...project(scanBytes, s) };
    rows.push(row);
  };
  // Exact ReLU, per activation: int8 alone, then each filter + int8 over its survivors.
  const relu = (b: number, bounds: Bounds[]) => bounds.map((B) => union(B.hi.map((x) => Uint8Array.from(x, (v) => (v > b ? 1 : 0)))));
  biases.forEach((bias, ai) => {
    const positive = Array.from({ length: kvHeads }, (_, g) => union(logits.slice(g * group, (g + 1) * group).map((x) => Uint8Array.from(x, (v) => (v > bias ? 1 : 0)))));
    const cand8 = relu(bias, int8);
    const sum = (f: Uint8Array[]) => f.reduce((s, x) => s + countOf(x), 0) / kvHeads;
    const mode = `relu ${activations[ai]}`, extra = { positiveShare: sum(positive) / n };
    emit('int8 (now)', mode, { survivors: 0, gathered: sum(cand8), keptPerHead: 0 }, int8Bytes(d), extra);
    rows.at(-1)!.survivorsShare = 1;
    for (const F of FILTERS) {
      const surv = relu(bias, boundsOf(F));
      emit(`${F.name} → int8`, mode, { survivors: sum(surv), gathered: sum(surv.map((x, g) => x.map((v, j) => v & cand8[g]![j]!))), keptPerHead: 0 }, F.bytes(d), { ...extra, ...capturedOf(F) });
      // Or straight to the gathered attention, which scores every survivor exactly.
      emit(`${F.name} → gathered`, mode, { survivors: 0, gathered: sum(surv), keptPerHead: 0 }, F.bytes(d), { ...extra, ...capturedOf(F) });
      rows.at(-1)!.survivorsShare = sum(surv) / n;
    }
    // Oracle: a free filter that passes exactly the positive keys (what bounds every filter).
    emit('oracle (0 B)', mode, { survivors: 0, gathered: sum(positive), keptPerHead: 0 }, 0, extra);
  });
  // Certified ε: per head, int8 alone; filter cut (half the budget, its own lower bounds) then int8.
  const certified = (first: Bounds[] | null) => {
    let survivors = 0, gathered = 0, kept = 0;
    for (let g = 0; g < kvHeads; g++) {
      const surv: Uint8Array[] = [], keep: Uint8Array[] = [];
      for (let i = 0; i < group; i++) {
        const h8 = int8[g]!.hi[i]!, l8 = int8[g]!.lo[i]!, ref = h8.reduce((x, y) => Math.max(x, y), -Infinity);
        let among: Uint8Array | null = null, skipped = 0;
        if (first !== null) {
          const F = first[g]!;
          among = certifiedCut(F.hi[i]!, F.lo[i]!, null, epsRatio / 2, ref);
          for (let j = 0; j < n; j++) if (!among[j]) skipped += Math.exp(F.hi[i]![j]! - ref);
          surv.push(among);
        }
        const k = certifiedCut(h8, l8, among, epsRatio, ref, skipped);
        keep.push(k); kept += countOf(k);
      }
      if (first !== null) survivors += countOf(union(surv));
      gathered += countOf(union(keep));
    }
    return { survivors: survivors / kvHeads, gathered: gathered / kvHeads, keptPerHead: kept / heads };
  };
  emit('int8 (now)', `certified ${eps}`, certified(null), int8Bytes(d));
  rows.at(-1)!.survivorsShare = 1;
  for (const F of FILTERS) emit(`${F.name} → int8`, `certified ${eps}`, certified(boundsOf(F)), F.bytes(d), capturedOf(F));
  console.log(`${w.name} n=${n}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  /** Projection filters: the share of the sampled keys' variance the basis holds, mean over KV heads. */
  function capturedOf(F: Filter): Record<string, number> {
    const c = boundsOf(F).map((b) => b.captured ?? NaN);
    return Number.isNaN(c[0]) ? {} : { captured: c.reduce((x, y) => x + y, 0) / c.length };
  }

  function boundsOf(F: Filter): Bounds[] {
    const cache = boundsCache.get(F);
    if (cache) return cache;
    const b = Array.from({ length: kvHeads }, (_, g) => F.bounds(K(g), n, d, qsOf(g), scale));
    boundsCache.set(F, b);
    return b;
  }
}
const boundsCache = new Map<Filter, Bounds[]>();

for (const file of a.dump!.split(',').filter((x) => x !== '')) {
  const w = dumpWorkload(basename(file), loadDumpTensors(file), 1, { alpha: 1, bias: 0 });
  study(w, w.n); boundsCache.clear();
}
if (ns.length > 0) {
  const full = syntheticWorkload('llm', Math.max(...ns), 128, 8, 2, 1);
  for (const n of ns) { study(full, n); boundsCache.clear(); }
}

const header = ['workload', 'n', 'mode', 'filter', 'scan B/key', 'survivors', 'gathered', 'B/key all', '× dense peak', '× dense run-6 rates', 'variance held'];
const pct = (x: unknown) => `${(100 * (x as number)).toFixed(2)} %`;
const text = table(header, rows.map((r) => [r.workload as string, r.n as number, r.mode as string, r.filter as string, r.scanBytesPerKey as number,
  pct(r.survivorsShare), pct(r.gatheredShare), r.bytesPerKey as number, r.xDensePeak as number, r.xDenseRun6 as number,
  r.captured === undefined ? '' : pct(r.captured)]));
console.log(text);
writeJson(a.out!, { bench: 'first-filter', epsilon: eps, activations, rates: RUN6, rows, table: text.split('\n') });
