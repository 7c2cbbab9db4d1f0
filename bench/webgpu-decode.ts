// WebGPU decode attention: dense Flash-Decoding vs certified softmax (ε) and exact sparse ReLU, on
// the GPU Dawn finds. 8 query / 2 KV heads, d = 128, f16 K/V, 'llm' synthetic keys (workloads.ts).
// For every n the contenders alternate in rounds; each sample is `reps` decode steps encoded into
// one command buffer, no readback — ms is the GPU's own time per step from timestamps around them
// (src/webgpu/timing.ts; submit to done where the GPU has no timestamps), with submitMs and the
// host's encodeMs beside it — and one whole attendAsync; medians are reported, with the
// bandwidth of dense (K+V bytes / time) and each sparse mode's ratio to dense from the same run;
// `MODE.passes` splits a step's GPU time by pass (timestamps around every pass).
// Each sparse mode's output is checked against a dense float64 reference of the same stored data.
//
// --dump FILE[,FILE] adds real q/k/v dumps (all their positions, their own heads and d) first.
//
//   node --import tsx bench/webgpu-decode.ts [--n 32768,131072] [--dump data/dev_c_l2.safetensors] [--rounds 5] [--reps 20]
//     [--modes dense,certified,relu-dense,relu] [--out file.json]
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KVCache, type KVCacheOptions } from '../src/index.js';
import type { GpuDecoder } from '../src/webgpu/decoder.js';
import { basename } from 'node:path';
import { dumpWorkload, syntheticWorkload, referenceDecode, type Workload } from './lib/keys.js';
import { loadDumpTensors } from '../src/node/workloads.js';
import { median } from './lib/measure.js';

const { values: a } = parseArgs({ options: {
  n: { type: 'string', default: '32768,65536,131072,262144,524288' },
  rounds: { type: 'string', default: '5' }, reps: { type: 'string', default: '20' },
  epsilon: { type: 'string', default: '1e-3' }, activation: { type: 'string', default: '0.03' },
  storage: { type: 'string', default: 'f16' }, dump: { type: 'string' }, out: { type: 'string' },
  modes: { type: 'string', default: 'dense,certified,relu-dense,relu' },
} });
const ns = a.n!.split(',').map(Number), rounds = Number(a.rounds), reps = Number(a.reps);
const eps = Number(a.epsilon), storage = a.storage as 'f16' | 'f32';

/** A ReLU bias giving about `target` of the logits above it: the quantile of a sample of query–key logits. */
function reluBias(w: Workload, q: Float32Array, target: number): number {
  const s: number[] = [], group = w.heads / w.kvHeads, step = Math.max(1, Math.floor(w.n / 4096)), d = w.d;
  for (let j = 0; j < w.n; j += step) {
    for (let h = 0; h < w.heads; h++) {
      const g = Math.floor(h / group);
      let dot = 0;
      for (let c = 0; c < d; c++) dot += q[h * d + c]! * w.keys[(j * w.kvHeads + g) * d + c]!;
      s.push(dot / Math.sqrt(d));
    }
  }
  s.sort((x, y) => y - x);
  return s[Math.floor(target * s.length)]!;
}

/** The first n positions of w (same keys and queries). */
function prefix(w: Workload, n: number): Workload {
  const kw = w.kvHeads * w.d, vw = w.kvHeads * w.dv;
  return { ...w, n, keys: w.keys.subarray(0, n * kw), values: w.values.subarray(0, n * vw),
    keyHeads: w.keyHeads.map((k) => k.subarray(0, n * w.d)), valueHeads: w.valueHeads.map((v) => v.subarray(0, n * w.dv)) };
}

const gpuOf = (c: KVCache) => (c as unknown as { gpu: GpuDecoder }).gpu;

/**
 * Every contender on the prefixes of `full` at the sizes `sizes` (ascending): the caches grow
 * through them. ReLU (α = 1) gets a bias giving ~`activation` of the logits at the largest size.
 */
async function measure(full: Workload, sizes: number[]): Promise<Record<string, unknown>[]> {
  const { heads, kvHeads, d, dv } = full, q = full.queries[0]!;
  const bias = reluBias(full, q, Number(a.activation));
  const all: Record<string, Omit<KVCacheOptions, 'heads' | 'kvHeads' | 'headDim'>> = {
    dense: { kind: 'softmax' },
    certified: { kind: 'softmax', sparsity: { epsilon: eps } },
    'relu-dense': { kind: 'relu', sparsity: 'dense', alpha: 1, bias },
    relu: { kind: 'relu', alpha: 1, bias },
  };
  const modes = Object.fromEntries(a.modes!.split(',').map((m) => [m, all[m]!]));
  const caches: Record<string, KVCache> = {};
  for (const [name, o] of Object.entries(modes)) caches[name] = await KVCache.create({ heads, kvHeads, headDim: d, valueDim: dv, backend: 'webgpu', storage, ...o });
  const out: Record<string, unknown>[] = [];
  let have = 0;
  for (const n of sizes) {
    for (const c of Object.values(caches)) c.append(full.keys.subarray(have * kvHeads * d, n * kvHeads * d), full.values.subarray(have * kvHeads * dv, n * kvHeads * dv));
    have = n;
    const w = prefix(full, n);
    const row: Record<string, unknown> = { workload: full.name, n, heads, kvHeads, d, bias, kvBytes: kvHeads * n * (d + dv) * (storage === 'f16' ? 2 : 4) };
    for (const [name, o] of Object.entries(modes)) {
      const { output, stats } = await caches[name]!.attendAsync(q);
      // Accuracy against the float64 reference over the float32 keys (f16 storage: ~1e-3 relative).
      const ref = referenceDecode(w, q, o.kind, o.alpha ?? 1, o.bias ?? 0);
      let err = 0, refMax = 0;
      for (let i = 0; i < output.length; i++) { err = Math.max(err, Math.abs(output[i]! - ref[i]!)); refMax = Math.max(refMax, Math.abs(ref[i]!)); }
      row[`${name}.maxAbsErr`] = err; row[`${name}.refMax`] = refMax;
      row[`${name}.keysUsedPerHead`] = stats.keysUsed / heads;
      row[`${name}.keysScoredPerHead`] = stats.keysScored / heads;
      if (stats.errorBound) row[`${name}.errorBoundMax`] = Math.max(...stats.errorBound);
    }
    // Alternating rounds: GPU steps (reps per submit, no readback) and one whole attendAsync each.
    const names = Object.keys(modes);
    const series = () => Object.fromEntries(names.map((m) => [m, [] as number[]]));
    const gpuMs = series(), e2eMs = series(), encMs = series(), subMs = series();
    for (const m of names) await gpuOf(caches[m]!).timeSteps(q, 2); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const m of names) {
        await gpuOf(caches[m]!).timeSteps(q, reps);
        const t = gpuOf(caches[m]!).lastTiming;
        if (t.gpuMs !== null) gpuMs[m]!.push(t.gpuMs);
        encMs[m]!.push(t.encodeMs); subMs[m]!.push(t.submitMs);
        const t0 = performance.now();
        await caches[m]!.attendAsync(q);
        e2eMs[m]!.push(performance.now() - t0);
      }
    }
    // Where the GPU time goes: per-pass timestamps (the passes then run one by one, as in the rounds).
    for (const m of names) {
      const passes = await gpuOf(caches[m]!).timeStepPasses(q, reps);
      if (passes) row[`${m}.passes`] = passes;
    }
    for (const m of names) {
      // ms: the GPU's own time per step (timestamps) where it has them, else submit to done.
      row[`${m}.ms`] = median(gpuMs[m]!.length > 0 ? gpuMs[m]! : subMs[m]!);
      row[`${m}.submitMs`] = median(subMs[m]!); row[`${m}.encodeMs`] = median(encMs[m]!); row[`${m}.attendAsyncMs`] = median(e2eMs[m]!);
    }
    row.timing = gpuMs[names[0]!]!.length > 0 ? 'timestamps' : 'submit to done';
    const ratio = (x: string, y: string) => (row[x] !== undefined && row[y] !== undefined ? (row[x] as number) / (row[y] as number) : undefined);
    if (row['dense.ms'] !== undefined) row['dense.GBps'] = (row.kvBytes as number) / (row['dense.ms'] as number) / 1e6;
    row['certified.speedup'] = ratio('dense.ms', 'certified.ms');
    row['relu.speedup'] = ratio('relu-dense.ms', 'relu.ms');
    row['relu.vsSoftmaxDense'] = ratio('dense.ms', 'relu.ms');
    out.push(row);
    console.log(JSON.stringify(row));
    save([...rows, ...out]); // a run cut short by its time limit keeps the rows it finished
  }
  for (const c of Object.values(caches)) gpuOf(c).destroy();
  return out;
}

const rows: Record<string, unknown>[] = [];
let adapter = 'unknown';
function save(done: Record<string, unknown>[]): void {
  const result = { bench: 'webgpu-decode', adapter, node: process.version, storage, epsilon: eps, reluAlpha: 1, activationTarget: Number(a.activation),
    synthetic: 'llm (8 query / 2 KV heads, d = 128)', rounds, reps, rows: done };
  if (a.out) writeFileSync(a.out, JSON.stringify(result, null, 2) + '\n');
}
{
  const probe = await KVCache.create({ heads: 1, kvHeads: 1, headDim: 4, kind: 'softmax', backend: 'webgpu' });
  const info = (gpuOf(probe).device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  if (info) adapter = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim();
}
for (const file of a.dump ? a.dump.split(',') : []) {
  const t = loadDumpTensors(file);
  rows.push(...await measure(dumpWorkload(basename(file), t, 1, { alpha: 1, bias: 0 }), [t.n]));
}
const sizes = [...ns].sort((x, y) => x - y);
if (sizes.length > 0 && sizes[0]! > 0) rows.push(...await measure(syntheticWorkload('llm', sizes.at(-1)!, 128, 8, 2, 1), sizes));

save(rows);
