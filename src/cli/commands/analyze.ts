/**
 * `hsr-attn analyze FILE`: per layer and head of a Q/K/V dump, how sparse attention is and how well
 * each index prunes it (src/analysis/). Dump format: docs/reproduction/README.md.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { analyzeDump, type LayerAnalysis, type TensorLookup } from '../../analysis/dump-analysis.js';
import { HsrError } from '../../errors.js';
import { indexKinds } from '../../hsr/half-space-index.js';
import { npyToFloat32, parseNpy } from '../../io/npy.js';
import type { Float32Tensor } from '../../io/safetensors.js';
import { readBytes, readSafetensors } from '../../node/checkpoint.js';
import { UsageError } from '../args.js';
import type { Command } from '../command.js';
import { ProgressBar } from '../progress.js';
import { formatTable } from '../table.js';

const EPSILONS = [1e-2, 1e-3, 1e-4];

export const analyzeCommand: Command = {
  name: 'analyze',
  usage: 'hsr-attn analyze FILE [--queries N] [--layer-prefix P] [--index KIND] [--relu-bias B] [--json]',
  brief: 'sparsity, certified vs oracle keys, index pruning and key statistics of a Q/K/V dump',
  summary: [
    'FILE: a .safetensors dump with tensors <prefix>N.q [heads, n, d] (after RoPE, before 1/√d),',
    '<prefix>N.k and <prefix>N.v [kvHeads, n, d] per layer N; or a folder (or one of the files) with',
    'q.npy, k.npy, v.npy of those shapes. For the last N positions of each head (each query at its full',
    'causal context): keys above the paper threshold μ + σ·√(0.4·ln n) and the mass they drop; keys the',
    `certified mode uses for ε ∈ {${EPSILONS.join(', ')}} beside the oracle minimum, measured TV error vs`,
    'the certified bound; pointsScored / n of each index kind; attention-sink mass; and per KV head the',
    'effective rank, top-16 PC variance share and outlier channels of the keys.',
  ].join('\n'),
  positionals: 'FILE',
  options: {
    queries: { type: 'integer', value: 'N', default: 32, min: 1, help: 'analyse the last N positions of every head' },
    'layer-prefix': { type: 'string', value: 'P', default: 'layers.', help: 'tensor name prefix before the layer number' },
    index: { type: 'string', value: 'KIND', default: 'quantized', help: 'index kind of the certified-mode table' },
    'relu-bias': { type: 'number', value: 'B', help: 'ReLU dumps: also report the active fraction ⟨q,k⟩/√d > B and HSR pruning at B' },
  },
  run(args) {
    const file = args._[0];
    if (file === undefined || args._.length > 1) throw new UsageError(`expected one dump FILE, got ${args._.length ? args._.join(' ') : 'none'}`);
    const queries = args.queries as number;
    const certifiedIndex = args.index as string;
    if (!indexKinds().includes(certifiedIndex)) throw new UsageError(`expected --index to be one of ${indexKinds().join('|')}, got ${certifiedIndex}`);
    const prefix = args['layer-prefix'] as string;
    const source = openDump(file, prefix);
    const bar = new ProgressBar('analyze', 'heads', !args.json);
    const layers = analyzeDump(source, {
      queries, epsilons: EPSILONS, certifiedIndex, indexKinds: indexKinds(), layerPrefix: prefix,
      ...(args['relu-bias'] === undefined ? {} : { reluBias: args['relu-bias'] as number }),
      onProgress: (d, t) => bar.update(d, t),
    });
    bar.done();
    if (args.json) process.stdout.write(JSON.stringify({ file, queries, epsilons: EPSILONS, certifiedIndex, layers }) + '\n');
    else process.stdout.write(formatAnalysis(layers, certifiedIndex) + '\n');
    return 0;
  },
};

/**
 * A dump as named tensors: a .safetensors file, or q.npy / k.npy / v.npy in a folder (FILE is the
 * folder or one of the three), exposed as layer 0 under `prefix`.
 */
export function openDump(file: string, prefix: string): TensorLookup {
  if (!existsSync(file)) throw new HsrError('NOT_FOUND', `expected a dump file or folder at ${file}, got nothing there`);
  const dir = statSync(file).isDirectory() ? file : file.endsWith('.npy') ? dirname(file) : null;
  if (dir === null) return readSafetensors(file);
  const present = new Set(readdirSync(dir));
  const tensors = new Map<string, Float32Tensor>();
  for (const t of ['q', 'k', 'v']) {
    if (!present.has(`${t}.npy`)) throw new HsrError('NOT_FOUND', `expected ${t}.npy in ${dir} (with q.npy, k.npy, v.npy), got ${[...present].filter((f) => f.endsWith('.npy')).join(', ') || 'no .npy files'}`);
    const a = parseNpy(readBytes(join(dir, `${t}.npy`)), basename(join(dir, `${t}.npy`)));
    tensors.set(`${prefix}0.${t}`, { data: npyToFloat32(a), shape: a.shape });
  }
  return { names: () => [...tensors.keys()], float32: (name) => tensors.get(name)! };
}

const pct = (x: number) => (100 * x < 0.01 ? `${(100 * x).toExponential(1)}%` : `${(100 * x).toFixed(100 * x < 1 ? 2 : 1)}%`);
const sci = (x: number) => (x === 0 ? '0' : x.toExponential(1));

/** The human tables: sparsity and error per head, then index pruning and key statistics. */
export function formatAnalysis(layers: readonly LayerAnalysis[], certifiedIndex: string): string {
  const parts: string[] = [];
  for (const L of layers) {
    const eps = L.perHead[0]!.certified.map((c) => c.epsilon);
    const Q = L.perHead[0]!.queries;
    parts.push(`layer ${L.layer}: ${L.heads} heads over ${L.kvHeads} KV heads, n = ${L.n}, d = ${L.dim}; last ${Q} queries at full causal context`);
    parts.push(formatTable(
      ['head', 'paper kept', 'paper drop med/max', ...eps.map((e) => `ε=${e}: used (oracle)`), ...eps.map((e) => `ε=${e}: TV max ≤ bound max`)],
      L.perHead.map((h) => [
        String(h.head), `${pct(h.paper.keptFraction)} (${h.paper.keptMean.toFixed(0)} vs n^0.8 ${h.paper.predictedKept.toFixed(0)})`,
        `${sci(h.paper.droppedMedian)}/${sci(h.paper.droppedMax)}`,
        ...h.certified.map((c) => `${pct(c.usedFraction)} (${pct(c.oracleFraction)}, ×${c.usedOverOracle.toFixed(2)})`),
        ...h.certified.map((c) => `${sci(c.tvMax)} ≤ ${sci(c.boundMax)}${c.violations ? ` VIOLATED ×${c.violations}` : ''}`),
      ])));
    const kinds = L.perHead[0]!.pruning.map((p) => p.index);
    const mid = Math.floor(eps.length / 2);
    const relu = L.perHead[0]!.relu;
    parts.push(`\nindex pruning: pointsScored / n of an HSR query at the paper threshold${relu ? ` | at the ReLU bias ${relu.bias}` : ''} | certified ε=${eps[mid]} keys scored / n (certified table: ${certifiedIndex})`);
    parts.push(formatTable(
      ['head', ...kinds.map((k) => `${k}: paper${relu ? ' | relu' : ''} | cert`), ...(relu ? ['relu active'] : []), 'sink k0', 'sink k0-3'],
      L.perHead.map((h) => [
        String(h.head),
        ...h.pruning.map((p) => `${pct(p.paperQueryScored)}${p.reluQueryScored !== undefined ? ` | ${pct(p.reluQueryScored)}` : ''} | ${pct(p.certifiedScored[mid]!)}`),
        ...(h.relu ? [pct(h.relu.activeFraction)] : []),
        pct(h.sinkMass.first), pct(h.sinkMass.first4),
      ])));
    parts.push('\nkeys per KV head');
    parts.push(formatTable(['kv head', 'effective rank', 'participation ratio', `top-${L.keys[0]!.topComponents} PC share`, 'outlier channels (>5× median |k|)', 'max/median channel', '‖mean‖/mean‖k‖'],
      L.keys.map((k, g) => [String(g), k.effectiveRank.toFixed(1), k.participationRatio.toFixed(1), pct(k.topVarianceShare),
        k.outlierChannels.length ? k.outlierChannels.join(',') : 'none', k.maxChannelRatio.toFixed(2), (k.normOfMean / k.meanNorm).toFixed(2)])));
    parts.push('');
  }
  return parts.join('\n');
}
