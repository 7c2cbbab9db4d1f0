// WebGPU causal prefill (src/webgpu/prefill.ts): dense softmax, dense ReLU and exact sparse ReLU at
// a few activation levels, on the GPU Dawn finds. 8 query / 2 KV heads, d = 128 (--shapes
// HEADS/KVHEADS/D,… for others, e.g. 6/2/64: the real dump's shape on synthetic keys), f16 K/V,
// m = n positions of 'llm' synthetic keys and queries (workloads.ts). For every n the contenders alternate
// in rounds; a sample is one prefill in its own command buffer, timed by the GPU's timestamps
// (src/webgpu/timing.ts; unquantized where the `webgpu` package takes the toggle: bench/lib/dawn.ts;
// submit to done where there are none), median reported, with TFLOP/s of the
// dense work (4·d flops per visible query–key pair) and each sparse mode's ratio to dense ReLU
// (the fastest dense path of the same weighting) from the same run. --tiles adds softmax on other
// tile choices, alternating in the same rounds: each SPEC is KEY=VALUE pairs joined by '/' (TY =
// 16/8/4 row groups, TX = 16/8, DC, KC, prefetch = 0/1, order = global/group, S = key splits,
// KiB = the workgroup memory the tiles are sized for), the rest as the library would choose for the
// shape (prefillTiles, keySplits), e.g. --tiles TY=16,TY=8/S=1,TY=16/order=group,KiB=32;
// mode 'softmax@SPEC'. Each
// mode's tiles are in its row. --chunks M adds, for each synthetic n, a chunked prefill: the last M
// positions as queries over all n keys (m < n). Every mode's output is checked
// on sampled rows against the float64 reference; its stats (keys scored / used) are recorded.
// Rounds shrink to fit --budget seconds of the whole run (the joint GPU run allows 150; setup on the
// host takes some 20 s of it at 32k), and a size that would not fit is skipped, saying so.
// Workloads: 'llm' (workloads.ts: low-rank keys with outlier dims and a sink key; ReLU activations
// spread over all positions) and 'local' (the same plus rotating pairs of dims in keys and queries,
// as rotary embeddings give: logits fall with distance, so a ReLU head's active keys sit near the
// diagonal — the case tile skipping is for). 'local' runs the ReLU modes only.
//
// --dump FILE[,FILE] adds real q/k/v dumps after the synthetic ones (all their positions, their own heads and d; a
// missing file is skipped with a note): a ReLU model's dump (data/dev_c_relu_l3.safetensors, ReLU²
// with bias 1) also runs its model's own setting as 'relu-model' (exact) against 'relu-model-dense'.
//
//   node --import tsx bench/webgpu-prefill.ts [--n 4096,16384,32768] [--chunks 1024] [--shapes 8/2/128] [--activations 0.01,0.05,0.2]
//     [--workloads llm,local] [--dump data/dev_c_relu_l3.safetensors] [--dump-n N (first N positions)] [--rounds 5] [--budget 110]
//     [--tiles SPEC,SPEC] [--warm-ms 300] [--storage f16] [--out file.json]
/// <reference types="@webgpu/types" />
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { webGpuDevice } from '../src/index.js';
import { resolveAttentionOptions, type AttentionOptions } from '../src/attention/options.js';
import { referenceAttention } from '../src/attention/reference.js';
import { GpuPrefill } from '../src/webgpu/prefill.js';
import { headsPerTile, keySplits, prefillTiles, queryTile, type PrefillTiles } from '../src/webgpu/prefill-kernel.js';
import { timeOnGpu } from '../src/webgpu/timing.js';
import { exactTimestampGpu } from './lib/dawn.js';
import { syntheticWorkload } from './lib/keys.js';
import { loadDumpTensors } from '../src/node/workloads.js';
import { median, rng } from './lib/measure.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '4096,16384,32768' }, activations: { type: 'string', default: '0.01,0.05,0.2' },
  rounds: { type: 'string', default: '5' }, budget: { type: 'string', default: '110' }, 'warm-ms': { type: 'string', default: '300' },
  storage: { type: 'string', default: 'f16' }, workloads: { type: 'string', default: 'llm,local' }, dump: { type: 'string' }, 'dump-n': { type: 'string' }, out: { type: 'string' },
  tiles: { type: 'string', default: '' }, chunks: { type: 'string', default: '' }, shapes: { type: 'string', default: '8/2/128' },
} });
const started = performance.now();
const ns = a.n!.split(',').map(Number).sort((x, y) => x - y), activations = a.activations!.split(',').filter((x) => x).map(Number);
const chunks = a.chunks!.split(',').filter((x) => x).map(Number), tileSpecs = a.tiles!.split(',').filter((x) => x);
const rounds = Number(a.rounds), budgetMs = Number(a.budget) * 1000, storage = a.storage as 'f16' | 'f32';
const gpu = await exactTimestampGpu();
const device = await webGpuDevice(gpu ?? undefined);
const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
const adapter = { description: info?.description, subgroups: device.features.has('subgroups'), timestamps: device.features.has('timestamp-query'), exactTimestamps: gpu !== null,
  workgroupBytes: device.limits.maxComputeWorkgroupStorageSize };
console.log(JSON.stringify(adapter));

/**
 * One problem: position-major queries [n, heads, d], keys and values [n, kvHeads, d]; each size
 * takes the first n keys and, as queries, the last m of those n positions.
 */
interface Problem {
  name: string; heads: number; kvHeads: number; d: number; n: number;
  Q: Float32Array; K: Float32Array; V: Float32Array;
  sizes: { n: number; m: number }[];
  /** Softmax dense runs too (the 'local' variant only adds ReLU structure). */
  softmax: boolean;
  /** A ReLU model's own setting. */
  model?: { alpha: number; bias: number };
}

const problems: Problem[] = [];
for (const shape of a.shapes!.split(',')) {
  // Synthetic: one workload of each shape at the largest n; smaller sizes take its first positions.
  const [heads, kvHeads, d] = shape.split('/').map(Number) as [number, number, number], maxN = ns.at(-1)!;
  const w = syntheticWorkload('llm', maxN, d, heads, kvHeads, maxN);
  const Q = new Float32Array(maxN * heads * d);
  for (let i = 0; i < maxN; i++) Q.set(w.queries[i]!, i * heads * d);
  w.queries.length = 0;
  /**
   * 'local': llm's keys and queries plus rotary-like pairs: dims (2f, 2f + 1), f < 8, gain
   * A·(cos ω_f i, sin ω_f i) with ω_f = 2^f·π / maxN, so scale·⟨q_i, k_j⟩ gains
   * (30/8)·Σ_f cos(ω_f (i − j)): 30 on the diagonal, falling within ~maxN/256 positions to a few.
   */
  const localized = (x: Float32Array, rowsOf: number): Float32Array => {
    const out = x.slice(), A = Math.sqrt((30 / 8) * Math.sqrt(d));
    for (let i = 0; i < maxN; i++) {
      for (let f = 0; f < 8; f++) {
        const angle = (2 ** f * Math.PI * i) / maxN;
        for (let r = 0; r < rowsOf; r++) { out[(i * rowsOf + r) * d + 2 * f]! += A * Math.cos(angle); out[(i * rowsOf + r) * d + 2 * f + 1]! += A * Math.sin(angle); }
      }
    }
    return out;
  };
  for (const name of a.workloads!.split(',').filter((x) => x)) {
    const local = name === 'local';
    problems.push({ name: shape === '8/2/128' ? name : `${name}-${shape}`, heads, kvHeads, d, n: maxN, Q: local ? localized(Q, heads) : Q, K: local ? localized(w.keys, kvHeads) : w.keys, V: w.values,
      sizes: ns.flatMap((n) => [{ n, m: n }, ...chunks.filter((c) => c < n).map((m) => ({ n, m }))]), softmax: !local });
  }
}

for (const file of a.dump ? a.dump.split(',') : []) {
  if (!existsSync(file)) { console.log(JSON.stringify({ skipped: file, why: 'not found' })); continue; }
  const t = loadDumpTensors(file), { heads, kvHeads, dim: d } = t, n = Math.min(t.n, Number(a['dump-n'] ?? t.n));
  const toPositionMajor = (x: Float32Array, rows: number) => {
    const out = new Float32Array(n * rows * d);
    for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) out.set(x.subarray((r * t.n + i) * d, (r * t.n + i + 1) * d), (i * rows + r) * d);
    return out;
  };
  const relu = /relu/.test(basename(file));
  problems.push({ name: basename(file), heads, kvHeads, d, n, Q: toPositionMajor(t.q, heads), K: toPositionMajor(t.k, kvHeads), V: toPositionMajor(t.v, kvHeads),
    sizes: [{ n, m: n }], softmax: true, model: relu ? { alpha: 2, bias: 1 } : undefined });
}

/** ReLU biases giving about each `target` fraction of the visible (causal) logits of the first n positions above them, from sampled pairs. */
function reluBiases(p: Problem, n: number, targets: number[]): number[] {
  const r = rng(n), s: number[] = [], { heads, kvHeads, d } = p, group = heads / kvHeads;
  for (let t = 0; t < 40000; t++) {
    // (i, j) uniform over the causal triangle: i with probability ∝ i + 1.
    const i = Math.min(n - 1, Math.floor(Math.sqrt(r.uniform()) * n)), j = Math.floor(r.uniform() * (i + 1));
    const h = Math.floor(r.uniform() * heads), g = Math.floor(h / group);
    let dot = 0;
    for (let c = 0; c < d; c++) dot += p.Q[(i * heads + h) * d + c]! * p.K[(j * kvHeads + g) * d + c]!;
    s.push(dot / Math.sqrt(d));
  }
  s.sort((x, y) => y - x);
  return targets.map((x) => s[Math.floor(x * s.length)]!);
}

/**
 * Largest |GPU − float64 reference| over `count` sampled query rows (the last one first) × all heads
 * (reference over the float32 inputs); row r is position n − m + r.
 */
function sampledError(p: Problem, out: Float32Array, n: number, m: number, o: AttentionOptions, count: number): { maxAbsErr: number; refMax: number } {
  const r = rng(7 + n), { heads, kvHeads, d } = p, group = heads / kvHeads;
  let maxAbsErr = 0, refMax = 0;
  for (let s = 0; s < count; s++) {
    const row = s === 0 ? m - 1 : Math.floor(r.uniform() * m), i = n - m + row;
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group), k = new Float32Array((i + 1) * d), v = new Float32Array((i + 1) * d);
      for (let j = 0; j <= i; j++) {
        k.set(p.K.subarray((j * kvHeads + g) * d, (j * kvHeads + g + 1) * d), j * d);
        v.set(p.V.subarray((j * kvHeads + g) * d, (j * kvHeads + g + 1) * d), j * d);
      }
      const ref = referenceAttention({ q: p.Q.subarray((i * heads + h) * d, (i * heads + h + 1) * d), m: 1, k, n: i + 1, v, d, dv: d,
        kind: o.kind, scale: 1 / Math.sqrt(d), alpha: o.alpha ?? 1, bias: o.bias ?? 0, causal: true });
      for (let c = 0; c < d; c++) {
        maxAbsErr = Math.max(maxAbsErr, Math.abs(out[(row * heads + h) * d + c]! - ref[c]!));
        refMax = Math.max(refMax, Math.abs(ref[c]!));
      }
    }
  }
  return { maxAbsErr, refMax };
}

const rows: Record<string, unknown>[] = [];
function save(): void {
  const result = { bench: 'webgpu-prefill', args: process.argv.slice(2).join(' '), loadavg: loadavg(), adapter, node: process.version, storage, causal: true, problems: problems.map((p) => p.name), rounds, rows };
  if (a.out) writeFileSync(a.out, JSON.stringify(result, null, 2) + '\n');
}

/** Causally visible (query, key) pairs of one head: the last m of n positions over the n keys. */
const visiblePairs = (n: number, m: number) => m * (n - m) + (m * (m + 1)) / 2;
/** Work of every (problem, size) in units of visible pairs × heads × d, to share the time budget. */
const workOf = (p: Problem, n: number, m: number) => p.heads * visiblePairs(n, m) * p.d;
const work = problems.flatMap((p) => p.sizes.map(({ n, m }) => workOf(p, n, m)));
let workDone = 0;
/** GPU milliseconds of one prefill per unit of work, from the last size timed. */
let msPerWork = 0;

/**
 * Tiles of a --tiles SPEC for m queries over n keys: TY from the spec or 16, sized by
 * prefillTiles for KiB (or the device's workgroup memory), then the spec's other keys; key splits
 * (S) from the spec or keySplits, as GpuPrefill chooses them.
 */
function specTiles(spec: string, p: Problem, n: number, m: number): PrefillTiles {
  const { d, heads, kvHeads } = p;
  const kv = Object.fromEntries(spec.split('/').map((x) => x.split('=') as [string, string]));
  const known = ['TY', 'TX', 'DC', 'KC', 'prefetch', 'order', 'S', 'KiB'];
  const bad = Object.keys(kv).filter((k) => !known.includes(k));
  if (bad.length > 0) throw new Error(`--tiles ${spec}: expected keys of ${known.join(', ')}, got ${bad.join(', ')}`);
  const limit = kv.KiB ? Number(kv.KiB) * 1024 : device.limits.maxComputeWorkgroupStorageSize;
  const t = prefillTiles(d, d, limit, kv.TY ? Number(kv.TY) : 16);
  if (!t) throw new Error(`--tiles ${spec}: no tiles fit ${limit} bytes at d = ${d}`);
  if (kv.TX) { t.TX = Number(kv.TX); t.BK = 4 * t.TX; t.KC = Math.min(t.KC, t.BK); }
  if (kv.DC) t.DC = Number(kv.DC);
  if (kv.KC) t.KC = Number(kv.KC);
  if (kv.prefetch) t.prefetch = kv.prefetch === '1';
  if (kv.order) t.order = kv.order as PrefillTiles['order'];
  const G = headsPerTile(heads / kvHeads);
  t.splits = kv.S ? Number(kv.S) : keySplits(Math.ceil(m / queryTile(G, t.TY)) * (heads / G), Math.ceil(n / t.BK));
  return t;
}

for (const p of problems) for (const { n, m } of p.sizes) {
  const { heads, kvHeads, d } = p;
  // A size whose warm-up, first timing and one round (3 runs of each of ≤ 12 modes) would not fit the time left is skipped.
  if (msPerWork > 0 && 3 * 12 * msPerWork * workOf(p, n, m) > budgetMs - (performance.now() - started)) {
    rows.push({ workload: p.name, n, m, skipped: 'would not fit the time budget' });
    console.log(JSON.stringify(rows.at(-1)));
    workDone++;
    continue;
  }
  // One failing (problem, size) — out of memory, a refused pass — is recorded and the rest still run.
  const doneBefore = workDone;
  try {
    const biases = reluBiases(p, n, activations);
    const modes: Record<string, AttentionOptions> = p.softmax ? { softmax: { kind: 'softmax', causal: true } } : {};
    // Softmax again on each --tiles choice: which tiles pay on this GPU for this shape.
    const tilesOf: Record<string, PrefillTiles> = {};
    for (const spec of p.softmax ? tileSpecs : []) {
      modes[`softmax@${spec}`] = { kind: 'softmax', causal: true };
      tilesOf[`softmax@${spec}`] = specTiles(spec, p, n, m);
    }
    modes['relu-dense'] = { kind: 'relu', sparsity: 'dense', bias: biases[1] ?? biases[0]!, causal: true };
    activations.forEach((x, i) => { modes[`relu@${x}`] = { kind: 'relu', bias: biases[i]!, causal: true }; });
    if (p.model) {
      modes['relu-model-dense'] = { kind: 'relu', sparsity: 'dense', ...p.model, causal: true };
      modes['relu-model'] = { kind: 'relu', ...p.model, causal: true };
    }
    const row: Record<string, unknown> = { workload: p.name, n, m, heads, kvHeads, d, storage, biases: Object.fromEntries(activations.map((x, i) => [x, biases[i]])), model: p.model };
    const visible = heads * visiblePairs(n, m), flops = 4 * d * visible;
    const prefills: Record<string, GpuPrefill> = {};
    for (const [name, o] of Object.entries(modes)) {
      let g: GpuPrefill;
      try {
        g = new GpuPrefill(device, { heads, kvHeads, headDim: d, valueDim: d, storage, tiles: tilesOf[name] }, resolveAttentionOptions(o, d, 'bench'));
      } catch (e) { // tiles this device cannot run: the mode is left out, saying why
        row[`${name}.error`] = String(e); delete modes[name];
        continue;
      }
      g.load(p.Q.subarray((n - m) * heads * d, n * heads * d), m, p.K.subarray(0, n * kvHeads * d), p.V.subarray(0, n * kvHeads * d), n);
      row[`${name}.tiles`] = g.tiles;
      const { output, stats } = await g.run(); // also the warm-up (pipelines compiled)
      Object.assign(row, Object.fromEntries(Object.entries(sampledError(p, output, n, m, o, 4)).map(([k, v]) => [`${name}.${k}`, v])));
      row[`${name}.keysScored`] = stats.keysScored; row[`${name}.keysUsed`] = stats.keysUsed;
      row[`${name}.scoredFraction`] = stats.keysScored / visible; row[`${name}.activation`] = stats.keysUsed / visible;
      prefills[name] = g;
    }
    // Rounds that fit the time left, shared with the (problem, size) pairs still to come by their work.
    const contenders = Object.keys(modes), first: Record<string, number> = {};
    for (const c of contenders) { const t = await timeOnGpu(device, (enc) => prefills[c]!.encode(enc)); first[c] = t.submitMs; }
    // Unrecorded runs, round-robin, for --warm-ms: after the host's seconds of setup the GPU's first
    // tens of milliseconds of work ran up to 4× slower (H100 run 7: first rounds of a row), which a
    // one-round median cannot hide.
    for (const warmUntil = performance.now() + Number(a['warm-ms']); performance.now() < warmUntil;) {
      for (const c of contenders) await timeOnGpu(device, (enc) => prefills[c]!.encode(enc));
    }
    const perRound = contenders.reduce((s, c) => s + first[c]!, 0) * 1.3 + 1;
    const mine = workOf(p, n, m), rest = work.slice(workDone + 1).reduce((s, x) => s + x, 0);
    msPerWork = Math.max(...contenders.map((c) => first[c]!)) / mine;
    workDone++;
    const left = budgetMs - (performance.now() - started);
    const r = Math.max(1, Math.min(rounds, Math.floor(left / (perRound * (1 + 1.5 * rest / mine)))));
    const gpuMs: Record<string, number[]> = {}, subMs: Record<string, number[]> = {};
    for (const c of contenders) { gpuMs[c] = []; subMs[c] = []; }
    for (let k = 0; k < r; k++) {
      for (const c of contenders) {
        const t = await timeOnGpu(device, (enc) => prefills[c]!.encode(enc));
        if (t.gpuMs !== null) gpuMs[c]!.push(t.gpuMs);
        subMs[c]!.push(t.submitMs);
      }
    }
    row.rounds = r;
    row.timing = gpuMs[contenders[0]!]!.length > 0 ? 'timestamps' : 'submit to done';
    for (const c of contenders) {
      const ms = median(gpuMs[c]!.length > 0 ? gpuMs[c]! : subMs[c]!);
      row[`${c}.ms`] = ms; row[`${c}.submitMs`] = median(subMs[c]!); row[`${c}.samples`] = gpuMs[c]!.length > 0 ? gpuMs[c] : subMs[c];
      row[`${c}.denseTFLOPs`] = flops / ms / 1e9;
    }
    // Ratios from the same run: sparse against dense ReLU, other tiles against the library's choice ('softmax').
    for (const c of contenders) {
      if (c.startsWith('softmax@')) row[`${c}.speedup`] = (row['softmax.ms'] as number) / (row[`${c}.ms`] as number);
      if (c.startsWith('relu@')) row[`${c}.speedup`] = (row['relu-dense.ms'] as number) / (row[`${c}.ms`] as number);
      if (c === 'relu-model') row[`${c}.speedup`] = (row['relu-model-dense.ms'] as number) / (row[`${c}.ms`] as number);
    }
    for (const g of Object.values(prefills)) g.destroy();
    rows.push(row);
    console.log(JSON.stringify(row));
  } catch (e) {
    rows.push({ workload: p.name, n, m, error: String(e) });
    console.log(JSON.stringify(rows.at(-1)));
    workDone = doneBefore + 1;
  }
  save();
}
save();
process.exit(0);
