/**
 * Task accuracy per attention mode on the retrieval models (the reproduction report's task-accuracy
 * section, docs/reproduction/task-accuracy.md).
 *
 * Run mode: one trial per unit — exactly `hsr-attn eval TASK --context N --seed S --trials 1
 * --attention MODE` on the vendored model — spread over child processes until a deadline, so a
 * machine with many cores gets many trials. Units go out round by round (every cell gets trial
 * seed r before any gets r + 1; 2k cells get 2 seeds a round, being 4× cheaper), so the cells end
 * with about equal trial counts whenever the deadline falls. Sink+window and page top-k get the
 * budget that matches the keys per row of the library's sparse mode (certified ε = 1e-2 on the softmax
 * model, exact sparse on the ReLU² one) in the cell's first trial, as the reproduction report's
 * equal-budget runs do (runs with different seed offsets may match different budgets: the report
 * lists each label of a row). Each finished unit is appended to --out as one JSON line. --seed-offset K
 * starts the seeds at K + 1, so runs on several machines add trials instead of repeating them.
 *
 *   node --import tsx bench/task-accuracy.ts --workers 16 --seconds 240 --out results.jsonl
 *   node --import tsx bench/task-accuracy.ts --report results.jsonl [--report more.jsonl] [--torch dense.jsonl] [--notes FILE] [--note TEXT]… [--md FILE]
 *     (default FILE docs/reproduction/task-accuracy.md, with task-accuracy.svg beside it)
 *
 * Prompts mode (`--prompts FILE --trials N --seed-offset K`): writes the prompts of PROMPT_GRID, seeds
 * K + 1 … K + N (each exactly the prompt of `hsr-attn eval TASK --trials 1 --seed S`), one JSON line each,
 * for bench/task-accuracy-torch.py, which answers them with an independent PyTorch forward pass on a GPU:
 * dense accuracy with hundreds of trials a cell, and paired with the library's dense answers above.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeAttention, type AttentionMode } from '../src/model/attention-mode.js';
import type { LlamaModel } from '../src/model/llama.js';
import { loadModel } from '../src/node/model.js';
import { vendoredModelDir } from '../src/node/vendored-models.js';
import { writeFileAtomic } from '../src/node/files.js';
import { budgetForAverage } from '../src/report/reproduce.js';
import { markdownTable } from '../src/report/markdown.js';
import { linePlot } from '../src/report/svg-plot.js';
import { evaluateTask } from '../src/tasks/evaluate.js';
import { makeTrials, type TaskKind, type TrialOptions } from '../src/tasks/trials.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODELS = ['bytelm-recall-10m', 'bytelm-relu-recall-10m'] as const;
const TASKS: TaskKind[] = ['passkey', 'recall', 'copy'];
const CONTEXTS = [2048, 8192];
const EPSILON = 1e-2;
/** Copy (a task the models were not trained on) only up to this context: the 8k budget goes to the trained tasks. */
const COPY_MAX_CONTEXT = 2048;

/** The GPU reference's cells: every trained task at every context, and the recall variants that tell what limits recall. */
const PROMPT_GRID: { task: TaskKind; contexts: number[]; options: TrialOptions }[] = [
  { task: 'passkey', contexts: [1024, 2048, 4096, 8192], options: {} },
  { task: 'passkey', contexts: [2048, 8192], options: { intro: true } },
  { task: 'recall', contexts: [1024, 2048, 4096, 8192], options: { pairs: 8 } },
  ...[1, 2, 4, 12].map((pairs) => ({ task: 'recall' as const, contexts: [2048, 8192], options: { pairs } })),
  { task: 'recall', contexts: [2048, 8192], options: { pairs: 8, intro: true } },
  { task: 'copy', contexts: [1024, 2048, 8192], options: {} },
];

function writePrompts(out: string, trials: number, seedOffset: number): void {
  const haystack = new Uint8Array(readFileSync(join(ROOT, 'data', 'factbook-backgrounds.txt')));
  const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
  const lines: string[] = [];
  for (const { task, contexts, options } of PROMPT_GRID) for (const context of contexts) {
    for (let seed = seedOffset + 1; seed <= seedOffset + trials; seed++) {
      const t = makeTrials(task, haystack, context, 1, seed, options)[0]!;
      lines.push(JSON.stringify({ task, context, ...options, seed, prompt: latin1(t.prompt), answer: latin1(t.answer), distance: t.prompt.length - t.needleAt }));
    }
  }
  writeFileSync(out, lines.join('\n') + '\n');
  process.stderr.write(`${lines.length} prompts written to ${out}\n`);
}

interface Unit { id: number; model: string; task: TaskKind; context: number; seed: number; mode: AttentionMode; label: string }
interface UnitResult extends Omit<Unit, 'id'> {
  correct: boolean; expected: string; got: string; distance: number;
  keysScored: number; keysUsed: number; keysVisible: number; maxErrorBound: number; seconds: number; budget?: number;
}

type Role = 'dense' | 'sparse' | 'window' | 'page-topk';
const ROLES: Role[] = ['dense', 'sparse', 'window', 'page-topk'];

function sparseMode(model: string): AttentionMode {
  return model.includes('relu') ? { kind: 'sparse' } : { kind: 'certified', epsilon: EPSILON };
}

/** The per-row budget B whose sink+window/page top-k average matches the sparse mode's keys per row. */
function budgetFrom(r: UnitResult): number {
  const n = r.context - 1;   // positions run: the prompt and all answer tokens but the last
  return budgetForAverage(r.keysUsed / r.keysVisible * (n + 1) / 2, n);
}

function modeFor(role: Role, model: string, budget: number): AttentionMode {
  switch (role) {
    case 'dense': return { kind: 'flash' };
    case 'sparse': return sparseMode(model);
    case 'window': return { kind: 'window', sinks: 4, window: Math.max(1, budget - 4) };
    case 'page-topk': return { kind: 'page-topk', pageSize: 16, budget: Math.max(16, Math.round(budget / 16) * 16) };
  }
}

// ---------------------------------------------------------------- worker: runs units it is sent
async function worker(): Promise<void> {
  const models = new Map<string, LlamaModel>();
  const haystack = new Uint8Array(readFileSync(join(ROOT, 'data', 'factbook-backgrounds.txt')));
  process.on('message', (u: Unit & { budget?: number }) => {
    let model = models.get(u.model);
    if (!model) models.set(u.model, (model = loadModel(vendoredModelDir(u.model))));
    const r = evaluateTask(model, u.task, { haystack, context: u.context, trials: 1, seed: u.seed, attention: u.mode });
    const o = r.outcomes[0]!;
    const { id: _, ...unit } = u;
    const result: UnitResult = { ...unit, correct: o.correct, expected: o.expected, got: o.got, distance: o.distance,
      keysScored: r.keysScored, keysUsed: r.keysUsed, keysVisible: r.keysVisible, maxErrorBound: r.maxErrorBound, seconds: r.seconds };
    process.send!({ id: u.id, result });
  });
}

// ---------------------------------------------------------------- driver: hands out units until the deadline
async function drive(workers: number, seconds: number, out: string, tasks: TaskKind[], contexts: number[], seedOffset: number): Promise<void> {
  const start = Date.now();
  const elapsed = () => (Date.now() - start) / 1000;
  const budgets = new Map<string, number>();           // cell key → budget from its first sparse trial
  const firstSeed = new Map<string, number>();
  const meanSeconds = new Map<string, { sum: number; n: number }>();
  const cellKey = (model: string, task: string, context: number) => `${model}|${task}|${context}`;
  let nextId = 0, round = 0;
  const queue: { role: Role; model: string; task: TaskKind; context: number; seed: number }[] = [];
  const refill = () => {
    round++;
    for (const context of contexts) for (const model of MODELS) for (const task of tasks) {
      if (task === 'copy' && context > COPY_MAX_CONTEXT) continue;
      const seeds = (context <= 2048 ? [2 * round - 1, 2 * round] : [round]).map((s) => s + seedOffset);
      if (!firstSeed.has(cellKey(model, task, context))) firstSeed.set(cellKey(model, task, context), seeds[0]!);
      for (const seed of seeds) for (const role of ROLES) queue.push({ role, model, task, context, seed });
    }
  };
  /** The first queued unit that can run now (window/page wait for their cell's budget); undefined when none. */
  const take = (): Unit | undefined => {
    if (queue.length < workers * 4) refill();
    for (let i = 0; i < queue.length; i++) {
      const q = queue[i]!, key = cellKey(q.model, q.task, q.context);
      const budget = budgets.get(key);
      if ((q.role === 'window' || q.role === 'page-topk') && budget === undefined) continue;
      const mode = modeFor(q.role, q.model, budget ?? 0);
      const est = meanSeconds.get(`${key}|${q.role}`);
      if (est && elapsed() + est.sum / est.n > seconds) continue;   // would not finish in time
      queue.splice(i, 1);
      return { id: nextId++, model: q.model, task: q.task, context: q.context, seed: q.seed, mode, label: describeAttention(mode) };
    }
    return undefined;
  };
  writeFileSync(out, '');
  const pool = Array.from({ length: workers }, () => fork(fileURLToPath(import.meta.url), ['--worker'], { stdio: 'inherit' }));
  let done = 0;
  await new Promise<void>((resolve) => {
    let busy = 0;
    const dispatch = (w: (typeof pool)[number]) => {
      const u = elapsed() < seconds ? take() : undefined;
      if (!u) { w.kill(); if (busy === 0 && pool.every((p) => p.killed)) resolve(); return; }
      busy++;
      w.send(u);
    };
    for (const w of pool) {
      w.on('exit', (code) => { if (code) process.stderr.write(`worker exited with ${code}\n`); });
      w.on('message', ({ result }: { id: number; result: UnitResult }) => {
        busy--;
        const key = cellKey(result.model, result.task, result.context);
        const role = roleOf(result);
        if (role === 'sparse' && result.seed === firstSeed.get(key) && !budgets.has(key)) budgets.set(key, budgetFrom(result));
        const m = meanSeconds.get(`${key}|${role}`) ?? { sum: 0, n: 0 };
        meanSeconds.set(`${key}|${role}`, { sum: m.sum + result.seconds, n: m.n + 1 });
        appendFileSync(out, JSON.stringify({ ...result, ...(role === 'window' || role === 'page-topk' ? { budget: budgets.get(key) } : {}) }) + '\n');
        done++;
        process.stderr.write(`[${elapsed().toFixed(0)} s] ${done} units; ${result.model} ${result.task} ${result.context} ${result.label} seed ${result.seed}: ${result.correct ? 'ok' : 'wrong'} (${result.seconds.toFixed(1)} s)\n`);
        dispatch(w);
      });
      dispatch(w);
    }
  });
  process.stderr.write(`${done} units in ${elapsed().toFixed(0)} s on ${workers} workers (${cpus()[0]?.model ?? 'unknown CPU'})\n`);
}

// ---------------------------------------------------------------- report: JSONL → markdown + SVG
/** One answer of bench/task-accuracy-torch.py (dense attention, independent PyTorch forward pass on a GPU). */
interface TorchResult { model: string; task: TaskKind; context: number; pairs: number | null; intro: boolean; seed: number; correct: boolean; distance: number }

const readJsonl = <T>(f: string): T[] => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
const pct0 = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Wilson score interval, 95 %, as text: how far an accuracy from n trials can be trusted. */
function wilson(k: number, n: number): string {
  const z = 1.96, p = k / n, d = 1 + z * z / n;
  const mid = (p + z * z / (2 * n)) / d, half = z * Math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d;
  return `${(100 * Math.max(0, mid - half)).toFixed(1)}–${(100 * Math.min(1, mid + half)).toFixed(1)}%`;
}

function report(files: string[], torchFiles: string[], md: string, notes: string[]): void {
  const rows = files.flatMap((f) => readJsonl<UnitResult>(f));
  const groups = new Map<string, UnitResult[]>();
  for (const r of rows) {
    const key = `${r.model}|${r.task}|${r.context}|${roleOf(r)}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const table: (string | number)[][] = [];
  const points = new Map<string, [number, number][]>();
  const order = (r: UnitResult) => [MODELS.indexOf(r.model as (typeof MODELS)[number]), TASKS.indexOf(r.task), r.context, ROLES.indexOf(roleOf(r))];
  const sorted = [...groups.values()].sort((a, b) => {
    const x = order(a[0]!), y = order(b[0]!);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return 0;
  });
  for (const g of sorted) {
    const r0 = g[0]!, correct = g.filter((r) => r.correct).length;
    const used = g.reduce((s, r) => s + r.keysUsed, 0), visible = g.reduce((s, r) => s + r.keysVisible, 0);
    const scored = g.reduce((s, r) => s + r.keysScored, 0);
    const kept = used / visible, n = r0.context - 1;
    const bound = Math.max(...g.map((r) => r.maxErrorBound));
    const labels = [...new Set(g.map((r) => r.label))];
    // Paired with dense: the same prompt (same seed) answered the same way.
    const dense = groups.get(`${r0.model}|${r0.task}|${r0.context}|dense`) ?? [];
    const paired = g.map((r) => [r, dense.find((d) => d.seed === r.seed)] as const).filter(([, d]) => d !== undefined);
    const same = paired.filter(([r, d]) => r.got === d!.got).length;
    table.push([r0.model, r0.task, r0.context, labels.join(', '), `${correct}/${g.length}`, pct0(correct / g.length),
      (100 * kept).toFixed(1) + '%', (kept * (n + 1) / 2).toFixed(0), (100 * scored / visible).toFixed(1) + '%',
      r0.mode.kind === 'certified' ? bound.toExponential(1) : '', roleOf(r0) === 'dense' ? '' : `${same}/${paired.length}`,
      (g.reduce((s, r) => s + r.seconds, 0) / g.length).toFixed(1)]);
    const series = `${r0.model.includes('relu') ? 'ReLU²' : 'softmax'} ${r0.task} ${r0.context}`;
    points.set(series, [...(points.get(series) ?? []), [kept, correct / g.length]]);
  }
  const plot = linePlot({
    title: 'Task accuracy vs fraction of keys kept (retrieval models)',
    x: { label: 'keys kept (fraction of dense)', scale: 'log' }, y: { label: 'accuracy', domain: [0, 1] },
    series: [...points].map(([name, pts]) => ({ name, points: pts.sort((a, b) => a[0] - b[0]), style: 'line+points' as const })),
  });
  const svg = join(dirname(md), 'task-accuracy.svg');
  writeFileAtomic(svg, plot);
  const header = ['model', 'task', 'context', 'attention', 'correct', 'accuracy', 'keys kept', 'keys/row', 'keys scored', 'max TV bound', 'same answer as dense', 's/trial'];
  const text = [
    '<!-- generated by bench/task-accuracy.ts --report (edit the notes file or the text in bench/task-accuracy.ts, not here) -->',
    '# Task accuracy per attention mode', '',
    ...notes.flatMap((n) => [n.trim(), '']),
    '## The library\'s attention modes on the same prompts', '',
    'Greedy answers of the retrieval models (`bytelm-recall-10m`, softmax; `bytelm-relu-recall-10m`, ReLU²) to',
    'the tasks of `hsr-attn eval` on the default haystack (`data/factbook-backgrounds.txt`, public-domain English',
    'prose held out of training). Dense attention runs on the flash kernel (the same keys as `dense`);',
    `certified ε = ${EPSILON} and exact sparse are the library's modes; sink+window (4 sinks) and page top-k`,
    '(pages of 16) get the per-row budget B whose average keys per row matches the sparse mode\'s in the cell\'s',
    'first trial of a run (equal budget; runs with other seeds matched slightly other budgets, all listed).',
    'A trial is correct when every answer byte matches. "keys kept" is keys used',
    '/ keys dense attention would use, over all positions, layers and heads of the trials; "keys/row" the',
    'same as an average count per row; "max TV bound" the largest certified total-variation bound of any row;',
    '"same answer as dense" counts the trials whose decoded answer equals dense attention\'s on the same prompt.',
    'Each trial is one `hsr-attn eval TASK --context N --trials 1 --seed S --attention MODE` (same seeds for',
    'every mode of a cell, so the modes answer the same prompts).', '',
    markdownTable(header, table), '', `![accuracy vs keys kept](${basename(svg)})`, '',
    ...(torchFiles.length ? torchSections(torchFiles.flatMap((f) => readJsonl<TorchResult>(f)), groups) : []),
  ].join('\n');
  writeFileAtomic(md, text);
  process.stdout.write(text);
}

/** The GPU reference's tables: dense accuracy per cell with its interval and its pairing with the library's dense answers, and accuracy by needle distance. */
function torchSections(rows: TorchResult[], library: Map<string, UnitResult[]>): string[] {
  const cells = new Map<string, TorchResult[]>();
  for (const r of rows) {
    const key = `${r.model}|${r.task}|${r.pairs ?? ''}|${r.intro}|${r.context}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  const dense: (string | number)[][] = [];
  for (const g of cells.values()) {
    const r0 = g[0]!, k = g.filter((r) => r.correct).length;
    // The library's dense trials on the same prompts (only the default format: 8 pairs, no intro line).
    const lib = r0.intro || (r0.task === 'recall' && r0.pairs !== 8) ? [] : library.get(`${r0.model}|${r0.task}|${r0.context}|dense`) ?? [];
    const paired = lib.map((l) => [l, g.find((r) => r.seed === l.seed)] as const).filter(([, r]) => r !== undefined);
    const agree = paired.filter(([l, r]) => l.correct === r!.correct).length;
    dense.push([r0.model, r0.task, r0.task === 'recall' ? r0.pairs! : '', r0.intro ? 'yes' : '', r0.context, `${k}/${g.length}`, pct0(k / g.length),
      wilson(k, g.length), paired.length ? `${agree}/${paired.length}` : '']);
  }
  const edges = [0, 256, 512, 1024, 2048, 4096, 8192];
  const byDistance: (string | number)[][] = [];
  for (const g of cells.values()) {
    const r0 = g[0]!;
    if (r0.intro || (r0.task === 'recall' && r0.pairs !== 8) || r0.task === 'passkey') continue;
    byDistance.push([r0.model, r0.task, r0.context, ...edges.slice(1).map((hi, i) => {
      const b = g.filter((r) => r.distance >= edges[i]! && r.distance < hi);
      return b.length ? `${b.filter((r) => r.correct).length}/${b.length}` : '';
    })]);
  }
  return [
    '## Dense attention on a GPU: the models\' accuracy with hundreds of trials', '',
    'The same prompts (seeds 301–500 of `hsr-attn eval TASK --trials 1 --seed S`, written by',
    '`bench/task-accuracy.ts --prompts`) answered with dense attention by an independent float32 PyTorch',
    'forward pass (`bench/task-accuracy-torch.py`, written from the models\' READMEs; on the softmax model',
    'within 1.5e-4 of HF transformers\' `LlamaForCausalLM` logits over a 1019-token prompt). A trial is correct',
    'when the argmax at every answer position, teacher-forced, is the answer byte — exactly when greedy',
    'decoding would produce the answer. "interval": Wilson 95 %. "library dense, same verdict": trials of the',
    'table above on the same prompt whose correctness equals this one\'s (the library\'s forward pass against',
    'an independent one, on the task itself). `intro`: the prompt begins with the instruction line half of',
    'the training tasks began with (`--intro`).', '',
    markdownTable(['model', 'task', 'pairs', 'intro', 'context', 'correct', 'accuracy', 'interval', 'library dense, same verdict'], dense), '',
    '### Recall and copy by distance from the needle to the end of the prompt (tokens)', '',
    markdownTable(['model', 'task', 'context', ...edges.slice(1).map((hi, i) => `${edges[i]}–${hi}`)], byDistance), '',
  ];
}

function roleOf(r: UnitResult): Role {
  switch (r.mode.kind) {
    case 'flash': case 'dense': return 'dense';
    case 'window': return 'window';
    case 'page-topk': return 'page-topk';
    default: return 'sparse';
  }
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    worker: { type: 'boolean' }, workers: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' },
    tasks: { type: 'string' }, contexts: { type: 'string' }, 'seed-offset': { type: 'string' }, report: { type: 'string', multiple: true }, md: { type: 'string' },
    prompts: { type: 'string' }, trials: { type: 'string' }, torch: { type: 'string', multiple: true },
    note: { type: 'string', multiple: true }, notes: { type: 'string' },
  },
});
if (values.worker) await worker();
else if (values.prompts) writePrompts(values.prompts, Number(values.trials ?? 200), Number(values['seed-offset'] ?? 0));
else if (values.report) {
  const notes = [...(values.notes ? [readFileSync(values.notes, 'utf8')] : []), ...(values.note ?? [])];
  report(values.report, values.torch ?? [], values.md ?? join(ROOT, 'docs', 'reproduction', 'task-accuracy.md'), notes);
}
else {
  if (positionals.length) throw new Error(`unexpected arguments ${positionals.join(' ')}`);
  await drive(Number(values.workers ?? Math.max(1, cpus().length)), Number(values.seconds ?? 60), values.out ?? 'task-accuracy.jsonl',
    (values.tasks?.split(',') as TaskKind[] | undefined) ?? TASKS, values.contexts?.split(',').map(Number) ?? CONTEXTS, Number(values['seed-offset'] ?? 0));
}
