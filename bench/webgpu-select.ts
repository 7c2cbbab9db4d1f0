// WebGPU decode: threshold, 'paper' and top-k softmax selection (src/webgpu/select.ts) against our
// dense GPU decode (the fastest dense path of the backend: WebGpuDecodePlan through KVCache) and the
// certified ε = 1e-3 step (the same scan and compaction), on the GPU Dawn finds. 8 query / 2 KV
// heads, d = 128, f16 K/V, 'llm' synthetic keys (workloads.ts).
// For every n the GPU is first kept busy for --warm-ms with dense steps (its clocks ramp up under
// load: a cold GPU ran dense at ~1/4 speed in run 4), then the contenders alternate in rounds; each
// sample is at least `reps` decode steps and ~2 ms of the first mode's (dense) steps
// (stepsPerSample), in one command buffer, no readback: ms is the GPU's own time per step from
// timestamps (unquantized where the `webgpu` package takes the toggle: exactTimestamps; submit to
// done where the GPU has none), with submitMs and whole attendAsync calls beside it (four in a row
// each round: attendAsyncFirstMs the first, right after the GPU batch and its readback, and
// attendAsyncMs the median of the other three, a steady step's wall time); medians, and
// each mode's ratio to dense (speedup) and to certified (vsCertified) from the same run; then the
// compute passes a step and, once per mode, the step's GPU time by pass (per-pass timestamps: each
// pass then carries their overhead, so only the long passes' times mean much). Every mode is
// checked once per n: its kept keys against the CPU rule in float64 over the stored (f16) keys
// (threshold: logit ≥ t, else the best key; top-k: logit desc, id asc), errorBound ≥ the kept
// set's true TV, and its output against a dense float64 reference (within 2·errorBound·max‖v‖ +
// f16 rounding). checkS and timeS: the host's seconds for a row's checks and its timing.
//
//   node --import tsx bench/webgpu-select.ts [--n 32768,131072,524288] [--rounds 5] [--reps 10]
//     [--modes dense,certified,topk256,topk2048,threshold,paper] [--keep 0.01]
//     [--warm-ms 1500] [--out file.json]
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KVCache, type KVCacheOptions } from '../src/index.js';
import type { GpuDecoder } from '../src/webgpu/decoder.js';
import type { Pipelines } from '../src/webgpu/pipelines.js';
import { paperThreshold } from '../src/attention/threshold-rule.js';
import type { KeyMoments } from '../src/attention/moments.js';
import { decodeF16, encodeF16 } from '../src/tensor/half.js';
import { syntheticWorkload, referenceDecode, type Workload } from './lib/keys.js';
import { median } from './lib/measure.js';
import { exactTimestampGpu } from './lib/dawn.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,131072,524288' },
  rounds: { type: 'string', default: '5' }, reps: { type: 'string', default: '10' },
  modes: { type: 'string', default: 'dense,certified,topk256,topk2048,threshold,paper' },
  keep: { type: 'string', default: '0.01' }, 'warm-ms': { type: 'string', default: '1500' }, out: { type: 'string' },
} });
const ns = a.n!.split(',').map(Number).sort((x, y) => x - y), rounds = Number(a.rounds), reps = Number(a.reps);
const keepTarget = Number(a.keep), warmMs = Number(a['warm-ms']);
const gpu = await exactTimestampGpu();

const gpuOf = (c: KVCache) => (c as unknown as { gpu: GpuDecoder }).gpu;
const passesOf = (c: KVCache) => (gpuOf(c) as unknown as { pipelines: Pipelines }).pipelines.passes;
const since = (t0: number) => (performance.now() - t0) / 1000;
const start = performance.now();
/** Progress on stderr with the seconds since start (a GPU run's time limit is tight: where it went). */
const progress = (what: string) => console.error(`webgpu-select ${since(start).toFixed(1)} s: ${what}`);

/** x rounded through float16, as the GPU stores it. */
function half(x: Float32Array): Float32Array {
  const bits = new Uint16Array(x.length), out = new Float32Array(x.length);
  encodeF16(x, bits);
  decodeF16(bits, out);
  return out;
}

/** Float64 logits of query head h over the first n stored keys of its KV head. */
function logits(w: Workload, storedHeads: Float32Array[], q: Float32Array, h: number, n: number): Float64Array {
  const g = Math.floor(h / (w.heads / w.kvHeads)), k = storedHeads[g]!, d = w.d, x = new Float64Array(n), scale = 1 / Math.sqrt(d);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += q[h * d + c]! * k[j * d + c]!;
    x[j] = s * scale;
  }
  return x;
}

/**
 * The CPU rule's kept ids, ascending: logit ≥ t (else the best key), or the top k by (logit desc,
 * id asc); `sorted`: x in descending order.
 */
function expectedKept(x: Float64Array, sorted: Float64Array, rule: { threshold: number } | { topK: number }): number[] {
  if ('topK' in rule) {
    const k = Math.min(rule.topK, x.length), v = sorted[k - 1]!, out: number[] = [];
    let atV = k - sorted.findIndex((s) => s === v);
    for (let j = 0; j < x.length; j++) if (x[j]! > v || (x[j] === v && atV-- > 0)) out.push(j);
    return out;
  }
  const out: number[] = [];
  for (let j = 0; j < x.length; j++) if (x[j]! >= rule.threshold) out.push(j);
  return out.length > 0 ? out : [x.indexOf(sorted[0]!)];
}

async function measure(full: Workload): Promise<Record<string, unknown>[]> {
  const { heads, kvHeads, d, dv } = full, q = full.queries[0]!, group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  progress('workload made');
  const storedHeads = full.keyHeads.map(half), storedValueHeads = full.valueHeads.map(half);
  // A fixed threshold keeping ~keepTarget of the keys at the largest n (the median over heads of
  // each head's quantile), as a model would set one.
  const nMax = ns.at(-1)!;
  // Float64 logits over every key, once: a smaller n's are their prefix.
  const xsFull = Array.from({ length: heads }, (_, h) => logits(full, storedHeads, q, h, nMax));
  const quantiles = xsFull.map((x) => Float64Array.from(x).sort()[Math.floor((1 - keepTarget) * (nMax - 1))]!);
  const threshold = quantiles.sort((x, y) => x - y)[heads >> 1]!;
  const all: Record<string, Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>> = {
    dense: { kind: 'softmax' },
    certified: { kind: 'softmax', sparsity: { epsilon: 1e-3 } },
    topk256: { kind: 'softmax', sparsity: { topK: 256 } },
    topk2048: { kind: 'softmax', sparsity: { topK: 2048 } },
    threshold: { kind: 'softmax', sparsity: { threshold } },
    paper: { kind: 'softmax', sparsity: 'paper' },
  };
  const modes = Object.fromEntries(a.modes!.split(',').map((m) => {
    if (!all[m]) throw new Error(`webgpu-select: unknown mode ${m}`);
    return [m, all[m]!];
  }));
  const caches: Record<string, KVCache> = {};
  for (const m of Object.keys(modes)) {
    caches[m] = await KVCache.create({ heads, kvHeads, headDim: d, valueDim: dv, backend: 'webgpu', storage: 'f16', gpu: gpu ?? undefined, ...all[m]! });
  }
  const use = (m: string) => caches[m]!;
  // 'paper': the cache's own key moments (O(d²) a key: a second copy would double the append's
  // time); the tests check them against their own.
  const moments = () => (gpuOf(caches.paper!) as unknown as { moments: KeyMoments[] }).moments;
  const out: Record<string, unknown>[] = [];
  let have = 0;
  for (const n of ns) {
    const t0 = performance.now();
    for (const c of Object.values(caches)) c.append(full.keys.subarray(have * kvHeads * d, n * kvHeads * d), full.values.subarray(have * kvHeads * dv, n * kvHeads * dv));
    have = n;
    progress(`n = ${n}: appended`);
    const row: Record<string, unknown> = { n, heads, kvHeads, d, threshold, appendS: since(t0), kvBytes: kvHeads * n * (d + dv) * 2 };
    const t1 = performance.now();
    // Checks: kept keys, errorBound, output against the dense float64 reference of the stored data.
    const w: Workload = { ...full, n, keyHeads: storedHeads.map((k) => k.subarray(0, n * d)), valueHeads: storedValueHeads.map((v) => v.subarray(0, n * dv)) };
    const ref = referenceDecode(w, q, 'softmax', 1, 0);
    let vNorm2 = 0;
    for (const v of w.valueHeads) for (let j = 0; j < n; j++) {
      let s2 = 0;
      for (let i = j * dv; i < (j + 1) * dv; i++) s2 += v[i]! * v[i]!;
      vNorm2 = Math.max(vNorm2, s2);
    }
    const vNorm = Math.sqrt(vNorm2);
    const xs = xsFull.map((x) => x.subarray(0, n)), sorted = xs.map((x) => Float64Array.from(x).sort().reverse());
    for (const [name, o] of Object.entries(modes)) {
      const { output, stats } = await use(name).attendAsync(q);
      const sel = o.sparsity === undefined ? null : await gpuOf(use(name)).lastSelection();
      let mismatched = 0, tvMax = 0, boundOk = true, outOk = true;
      for (let h = 0; h < heads; h++) {
        let err = 0;
        for (let i = 0; i < dv; i++) err = Math.max(err, Math.abs(output[h * dv + i]! - ref[h * dv + i]!));
        row[`${name}.maxAbsErr`] = Math.max((row[`${name}.maxAbsErr`] as number | undefined) ?? 0, err);
        if (!sel) continue;
        const x = xs[h]!, sp = o.sparsity!, got = sel[h]!;
        // Certified ε keeps no rule's set: only its bound and output are checked.
        const rule = sp === 'paper' ? { threshold: paperThreshold(q.subarray(h * d, (h + 1) * d), moments()[Math.floor(h / group)]!, n, scale) }
          : typeof sp === 'object' && !('epsilon' in sp) ? sp as { threshold: number } | { topK: number } : null;
        if (rule) {
          const want = expectedKept(x, sorted[h]!, rule);
          if (want.length !== got.length || want.some((j, i) => got[i] !== j)) mismatched++;
        }
        let top = -Infinity;
        for (const v of x) top = Math.max(top, v);
        let total = 0, kept = 0;
        for (const v of x) total += Math.exp(v - top);
        for (const j of got) kept += Math.exp(x[j]! - top);
        const tv = (total - kept) / total, bound = stats.errorBound![h]!;
        tvMax = Math.max(tvMax, tv);
        if (tv > bound * (1 + 1e-9) + 1e-15) boundOk = false;
        if (err > 2 * bound * vNorm + 2e-3 * vNorm) outOk = false;
      }
      row[`${name}.keysUsedPerHead`] = stats.keysUsed / heads;
      row[`${name}.keysScoredPerHead`] = stats.keysScored / heads;
      if (sel) Object.assign(row, { [`${name}.headsKeptMismatch`]: name === 'certified' ? null : mismatched, [`${name}.tvMax`]: tvMax, [`${name}.errorBoundMax`]: Math.max(...stats.errorBound!), [`${name}.boundOk`]: boundOk, [`${name}.outputOk`]: outOk });
    }
    row.checkS = since(t1);
    progress(`n = ${n}: checked`);
    // Alternating rounds: GPU steps (reps per submit, no readback), then four whole attendAsync each.
    const t2 = performance.now(), names = Object.keys(modes);
    const series = () => Object.fromEntries(names.map((m) => [m, [] as number[]]));
    const gpuMs = series(), e2eMs = series(), firstMs = series(), subMs = series();
    for (const m of names) {
      const p0 = passesOf(use(m));
      await gpuOf(use(m)).timeSteps(q, 2); // counting the step's compute passes
      row[`${m}.passesPerStep`] = (passesOf(use(m)) - p0) / 2;
    }
    let denseMs = 0;
    for (const t = performance.now(); performance.now() - t < warmMs;) denseMs = await gpuOf(use(names[0]!)).timeSteps(q, 50);
    const k = Math.min(500, Math.max(reps, Math.ceil(2 / Math.max(denseMs, 1e-3))));
    row.stepsPerSample = k;
    for (let r = 0; r < rounds; r++) {
      for (const m of names) {
        await gpuOf(use(m)).timeSteps(q, k);
        const t = gpuOf(use(m)).lastTiming;
        if (t.gpuMs !== null) gpuMs[m]!.push(t.gpuMs);
        subMs[m]!.push(t.submitMs);
        for (let c = 0; c < 4; c++) {
          const t3 = performance.now();
          await use(m).attendAsync(q);
          (c === 0 ? firstMs : e2eMs)[m]!.push(performance.now() - t3);
        }
      }
    }
    // Where the GPU time goes: per-pass timestamps (the passes then run one by one, as in the rounds).
    for (const m of names) {
      const passes = await gpuOf(use(m)).timeStepPasses(q, reps);
      if (passes) row[`${m}.passMs`] = passes;
    }
    for (const m of names) {
      row[`${m}.ms`] = median(gpuMs[m]!.length > 0 ? gpuMs[m]! : subMs[m]!);
      row[`${m}.submitMs`] = median(subMs[m]!); row[`${m}.attendAsyncMs`] = median(e2eMs[m]!); row[`${m}.attendAsyncFirstMs`] = median(firstMs[m]!);
      if (modes.dense && m !== 'dense') row[`${m}.speedup`] = (row['dense.ms'] as number) / (row[`${m}.ms`] as number);
      if (modes.certified && m !== 'certified') row[`${m}.vsCertified`] = (row[`${m}.ms`] as number) / (row['certified.ms'] as number);
    }
    row.timeS = since(t2);
    row.timing = gpuMs[names[0]!]!.length > 0 ? 'timestamps' : 'submit to done';
    if (row['dense.ms'] !== undefined) row['dense.GBps'] = (row.kvBytes as number) / (row['dense.ms'] as number) / 1e6;
    out.push(row);
    console.log(JSON.stringify(row));
    save(out);
  }
  for (const c of Object.values(caches)) gpuOf(c).destroy();
  return out;
}

let adapter = 'unknown';
function save(rows: Record<string, unknown>[]): void {
  const result = { bench: 'webgpu-select', adapter, exactTimestamps: gpu !== null, node: process.version, storage: 'f16', keepTarget,
    synthetic: 'llm (8 query / 2 KV heads, d = 128)', rounds, reps, warmMs, rows };
  if (a.out) writeFileSync(a.out, JSON.stringify(result, null, 2) + '\n');
}
{
  const probe = await KVCache.create({ heads: 1, kvHeads: 1, headDim: 4, kind: 'softmax', backend: 'webgpu', gpu: gpu ?? undefined });
  const info = (gpuOf(probe).device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  if (info) adapter = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim();
}
save(await measure(syntheticWorkload('llm', ns.at(-1)!, 128, 8, 2, 1)));
