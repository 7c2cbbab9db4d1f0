/**
 * `hsr-attn reproduce [--quick] [--out DIR]`: runs the experiments of src/report/reproduce.ts on
 * the vendored models and dumps and writes report.md, the SVG plots and results.json into DIR
 * (the set swapped in at once). This module does the Node parts: loading, the worker-thread speedup
 * measurement, progress and files.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { median } from '../../analysis/stats.js';
import { loadModel } from '../../node/model.js';
import { assertWritableFolder, writeFolderAtomic } from '../../node/files.js';
import { recordedPath } from '../../node/recorded-path.js';
import { DecodePool } from '../../node/worker-pool.js';
import { readBytes } from '../../node/checkpoint.js';
import { DATA_DIRS, loadDumpTensors, requireDataFile } from '../../node/workloads.js';
import { HsrError } from '../../errors.js';
import { renderReport } from '../../report/report.js';
import { reproduceConfig, runReproduction, type ParallelResult } from '../../report/reproduce.js';
import { gaussianArray, seededRandom } from '../../report/random.js';
import { timeMs } from '../../report/timing.js';
import type { Command } from '../command.js';
import { vendoredModelDir } from '../../node/vendored-models.js';
import { PACKAGE_ROOT, RELU_MODEL_NAME, SOFTMAX_MODEL_NAME } from '../paths.js';
import { ProgressBar } from '../progress.js';

export const reproduceCommand: Command = {
  name: 'reproduce',
  usage: 'hsr-attn reproduce [--quick] [--out DIR] [--data DIR] [--json]',
  brief: 'run the paper-claim experiments and write report.md, SVG plots and results.json',
  summary: [
    'Runs every experiment of the reproduction report on the vendored models (bytelm-10m, bytelm-relu-10m),',
    'the dev text and the real q/k/v dumps: (1) keys kept by the paper threshold vs n, (2) ReLU^α exactness and',
    'the ReLU model sparse vs dense, (3) softmax error and bits/byte vs kept fraction, (4) decode and prefill',
    'time vs n, (5) the reviewers\' questions. --quick: smaller sweeps, about 15 s on an idle 2-core machine (13 s of',
    'CPU time); the full run about 2.5 minutes (more when other work shares the cores). Writes DIR/report.md, DIR/*.svg,',
    'DIR/results.json.',
  ].join('\n'),
  options: {
    quick: { type: 'boolean', help: 'smaller sweeps, for CI and a first look' },
    out: { type: 'string', value: 'DIR', default: 'reproduction', help: 'output folder (created if missing)' },
    data: { type: 'string', value: 'DIR', help: 'folder with dev_c.txt, dev_c_l2.safetensors, dev_c_relu_l3.safetensors (default: ./data, the package\'s data/, ../shared/data; the npm package ships no dumps)' },
  },
  async run(args) {
    const quick = args.quick === true, out = args.out as string;
    assertWritableFolder(out); // before minutes of work, not after
    const dirs = args.data === undefined ? DATA_DIRS : [args.data as string];
    const [textFile, softmaxDumpFile, reluDumpFile] = ['dev_c.txt', 'dev_c_l2.safetensors', 'dev_c_relu_l3.safetensors'].map((f) => requireDataFile(f, dirs)) as [string, string, string];
    const started = performance.now(), loadBefore = loadavg()[1]!;
    const softmaxModel = loadModel(vendoredModelDir(SOFTMAX_MODEL_NAME)), reluModel = loadModel(vendoredModelDir(RELU_MODEL_NAME));
    const a = reluModel.config.attention;
    if (a.kind !== 'relu') throw new HsrError('BAD_OPTION', `expected ${RELU_MODEL_NAME} to be a ReLU model, got ${a.kind} attention`);
    const text = readBytes(textFile);
    const inputs = {
      softmaxModel, reluModel, text, reluBias: a.bias, reluAlpha: a.alpha,
      softmaxDump: loadDumpTensors(softmaxDumpFile), reluDump: loadDumpTensors(reluDumpFile),
    };
    const config = reproduceConfig(quick);
    const bar = new ProgressBar(`reproduce${quick ? ' --quick' : ''}`, 'steps', !args.json);
    // Without a terminal the bar stays silent: log a line per stage instead (at most one per 10 s within a stage).
    const log = !process.stderr.isTTY && !args.json;
    let lastStage = '', lastLog = 0;
    const result = await runReproduction(inputs, config, () => parallelSpeedup(quick ? 2 ** 14 : 2 ** 16), (stage, done, total) => {
      bar.update(done, total);
      const t = performance.now(), kind = stage.split(':')[0]!;
      if (!log || (kind === lastStage && t - lastLog < 10_000 && done < total)) return;
      lastStage = kind; lastLog = t;
      process.stderr.write(`[${done}/${total}] ${stage} (${((t - started) / 1000).toFixed(0)} s)\n`);
    });
    bar.done();
    const seconds = (performance.now() - started) / 1000;
    const command = `hsr-attn reproduce${quick ? ' --quick' : ''} --out ${recordedPath(out)}`;
    const machine = machineDescription();
    const conditions = `Code: ${codeVersion()}. Machine load (5-minute load average, every job on the 2 cores): ${loadBefore.toFixed(1)} at the start, ${loadavg()[1]!.toFixed(1)} at the end.`;
    const report = renderReport(result, { command, machine, conditions, date: new Date().toISOString(), seconds });
    // One set: an interrupt leaves the old report with its old plots, never a mix.
    writeFolderAtomic(out, {
      ...report.plots,
      'results.json': JSON.stringify({ command, machine, conditions, seconds, ...result }, null, 1) + '\n',
      'report.md': report.markdown,
    });
    const files = ['report.md', 'results.json', ...Object.keys(report.plots)];
    if (args.json) process.stdout.write(JSON.stringify({ out, seconds, files }) + '\n');
    else process.stdout.write(`wrote ${files.map((x) => join(out, x)).join(', ')} in ${seconds.toFixed(0)} s\n`);
    return 0;
  },
};

/** `git describe`-like version of the code that ran, when inside a git checkout. */
function codeVersion(): string {
  try {
    const git = (...a: string[]) => execFileSync('git', ['-C', PACKAGE_ROOT, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--untracked-files=no', 'src') !== '';
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty ? ' with uncommitted changes under src/' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

function machineDescription(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version} (${process.platform}-${process.arch})`;
}

/**
 * Dense decode on 1 and 2 threads (DecodePool: split-KV over worker threads, log-sum-exp merge),
 * bytelm-10m's shape (6 heads over 2 KV heads, d = 64) at n positions; alternating rounds.
 */
async function parallelSpeedup(n: number): Promise<ParallelResult | { unavailable: string }> {
  const shape = { heads: 6, kvHeads: 2, headDim: 64, weighting: { kind: 'softmax' as const, scale: 1 / 8, bias: 0, alpha: 1 }, initialCapacity: n };
  const one = await DecodePool.create({ ...shape, threads: 1 });
  const two = await DecodePool.create({ ...shape, threads: 2 });
  try {
    if (two.threads < 2) return { unavailable: 'the 2-thread pool fell back to one thread (no SharedArrayBuffer or WebAssembly SIMD here)' };
    const r = seededRandom(30), chunk = 4096;
    for (let done = 0; done < n; done += chunk) {
      const k = gaussianArray(r, chunk * 2 * 64), v = gaussianArray(r, chunk * 2 * 64);
      one.append(k, v); two.append(k, v);
    }
    const q = gaussianArray(r, 6 * 64), outBuf = new Float32Array(6 * 64);
    const steps = 20, t1: number[] = [], t2: number[] = [];
    one.attend(q, outBuf); two.attend(q, outBuf);
    for (let round = 0; round < 7; round++) {
      t1.push(timeMs(() => { for (let s = 0; s < steps; s++) one.attend(q, outBuf); }) / steps);
      t2.push(timeMs(() => { for (let s = 0; s < steps; s++) two.attend(q, outBuf); }) / steps);
    }
    const a = median(t1), b = median(t2);
    return { n, threads1Ms: a, threads2Ms: b, speedup: a / b, what: 'dense decode step (DecodePool, wasm SIMD, split-KV)' };
  } finally {
    await one.close(); await two.close();
  }
}
