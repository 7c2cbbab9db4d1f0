/**
 * The explorer page (served by `hsr-attn serve`): pick a model, a text and attention modes, and see
 * what each mode keeps and costs. Every model run happens in Web Workers (worker.ts): one for the
 * analyses, a second so that live generation can show dense and sparse side by side.
 */
import type { AttentionMode } from '../model/attention-mode.js';
import { linePlot, PALETTE, type Series } from '../report/svg-plot.js';
import { drawHeatmap } from './heatmap.js';
import type { ModelName, PoolInfo, Reply, Request } from './protocol.js';

type Final = Exclude<Reply, { type: 'progress' } | { type: 'token' }>;

/** One worker, one request at a time: each request resolves with its final reply. */
class WorkerClient {
  private readonly worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  private queue: Promise<unknown> = Promise.resolve();

  request<T extends Final['type']>(q: Request, onUpdate: (r: Reply) => void = () => {}): Promise<Extract<Final, { type: T }>> {
    const run = () => new Promise<Extract<Final, { type: T }>>((resolve, reject) => {
      this.worker.onmessage = (e: MessageEvent<Reply>) => {
        const r = e.data;
        if (r.type === 'progress' || r.type === 'token') onUpdate(r);
        else if (r.type === 'error') reject(new Error(r.message));
        else if (r.type === 'loaded' && q.type !== 'load') onUpdate(r);
        else resolve(r as Extract<Final, { type: T }>);
      };
      this.worker.postMessage(q);
    });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface ModeChoice { id: string; label: string; param?: { name: string; value: number; step: number }; checked: boolean; make(p: number): AttentionMode }

/** The modes offered for each attention kind of model. */
const MODES: Record<'softmax' | 'relu', ModeChoice[]> = {
  softmax: [
    { id: 'dense', label: 'dense', checked: true, make: () => ({ kind: 'dense' }) },
    { id: 'certified', label: 'certified, ε =', param: { name: 'epsilon', value: 0.01, step: 0.005 }, checked: true, make: (p) => ({ kind: 'certified', epsilon: p }) },
    { id: 'threshold', label: 'threshold, t =', param: { name: 'threshold', value: 2, step: 0.5 }, checked: true, make: (p) => ({ kind: 'threshold', threshold: p }) },
    { id: 'topk', label: 'top-k, k =', param: { name: 'top-k', value: 64, step: 16 }, checked: false, make: (p) => ({ kind: 'topk', topK: p }) },
    { id: 'paper', label: 'paper (≈ n^⅘ keys)', checked: false, make: () => ({ kind: 'paper' }) },
  ],
  relu: [
    { id: 'dense', label: 'dense', checked: true, make: () => ({ kind: 'dense' }) },
    { id: 'sparse', label: 'exact sparse (HSR index)', checked: true, make: () => ({ kind: 'sparse' }) },
  ],
};

const analysis = new WorkerClient();
const second = new WorkerClient();
let kind: 'softmax' | 'relu' = 'softmax';
let modelName: ModelName = '';
let bundled = '';
/** The analysis worker's DecodePool threads (dense runs on them when there are several). */
let pool: PoolInfo = { threads: 1, fallback: null };

function setStatus(text: string): void { $('status').textContent = text; }

function busy<T>(what: string, job: () => Promise<T>): Promise<T | undefined> {
  document.body.dataset.state = 'busy';
  for (const b of document.querySelectorAll('button')) b.disabled = true;
  setStatus(`${what}…`);
  return job().then((r) => { setStatus(`${what}: done`); return r; }, (e: Error) => { setStatus(`${what}: ${e.message}`); console.warn(e); return undefined; })
    .finally(() => {
      for (const b of document.querySelectorAll('button')) b.disabled = false;
      document.body.dataset.state = 'ready';
      ($<HTMLProgressElement>('progress')).value = 0;
    });
}

function progress(r: Reply): void {
  if (r.type === 'progress') $<HTMLProgressElement>('progress').value = r.done / r.total;
}

/** The modes ticked on the page, dense first (the baseline every difference is taken against). */
function chosenModes(): AttentionMode[] {
  return MODES[kind].filter((m) => $<HTMLInputElement>(`mode-${m.id}`).checked || m.id === 'dense')
    .map((m) => m.make(m.param ? Number($<HTMLInputElement>(`param-${m.id}`).value) : 0));
}

function sparseModes(): { label: string; mode: AttentionMode }[] {
  return MODES[kind].filter((m) => m.id !== 'dense')
    .map((m) => ({ label: m.label.replace(/[,=]/g, '').trim(), mode: m.make(m.param ? Number($<HTMLInputElement>(`param-${m.id}`).value) : 0) }));
}

/** The modes the WebGPU backend runs: dense, certified softmax and exact sparse ReLU. */
function gpuModes(): { label: string; mode: AttentionMode }[] {
  return [{ label: 'dense', mode: { kind: 'dense' } }, ...sparseModes().filter((s) => s.mode.kind === 'certified' || s.mode.kind === 'sparse')];
}

function renderModeChoices(): void {
  const box = $('modes');
  box.replaceChildren(...MODES[kind].map((m) => {
    const label = document.createElement('label');
    label.innerHTML = `<input type="checkbox" id="mode-${m.id}" ${m.checked ? 'checked' : ''} ${m.id === 'dense' ? 'disabled' : ''}> ${m.label}` +
      (m.param ? ` <input type="number" id="param-${m.id}" value="${m.param.value}" step="${m.param.step}" min="0">` : '');
    return label;
  }));
  for (const sel of [$<HTMLSelectElement>('heat-mode'), $<HTMLSelectElement>('gen-mode'), $<HTMLSelectElement>('speed-mode')]) {
    sel.replaceChildren(...sparseModes().map((s, i) => new Option(s.label, String(i))));
  }
  $<HTMLSelectElement>('gpu-mode').replaceChildren(...gpuModes().map((s, i) => new Option(s.label, String(i))));
}

function tokens(): Uint8Array {
  const bytes = new TextEncoder().encode($<HTMLTextAreaElement>('text').value);
  const n = Math.min(bytes.length, Number($<HTMLInputElement>('bytes').value) || bytes.length);
  return bytes.slice(0, n);
}

/** Loads the model in the analysis worker; the second worker loads it when a side-by-side run first needs it. */
async function loadModel(name: ModelName): Promise<void> {
  const a = await analysis.request<'loaded'>({ type: 'load', model: name });
  modelName = name;
  kind = a.info.kind;
  pool = a.pool;
  $('threads').textContent = pool.threads > 1 ? `threads: ${pool.threads} (DecodePool: ${pool.threads - 1} Web Worker${pool.threads > 2 ? 's' : ''} + the model's worker, shared memory)` : `threads: 1 (${pool.fallback ?? 'one CPU'})`;
  renderModeChoices();
  $('model-info').textContent = `${a.info.layers} layers × ${a.info.heads} heads (${a.info.kvHeads} KV heads), ${a.info.kind === 'relu' ? 'ReLU²' : 'softmax'} attention, ` +
    `context ${a.info.maxPositions}; loaded in ${a.info.loadSeconds.toFixed(2)} s; weight products on ${a.backend}, attention on ${a.attentionKernels}`;
}

async function runModes(): Promise<void> {
  const toks = tokens();
  if (toks.length < 2) throw new Error('expected a text of at least 2 bytes');
  const results: Extract<Final, { type: 'perplexity' }>[] = [];
  const body = $('results').querySelector('tbody')!;
  body.replaceChildren();
  // Dense once more on the worker pool where there are threads: the same numbers, split across them.
  const runs: { mode: AttentionMode; threads: number; id: string }[] = chosenModes().map((mode) => ({ mode, threads: 1, id: mode.kind }));
  if (pool.threads > 1) runs.splice(1, 0, { mode: { kind: 'dense' }, threads: pool.threads, id: 'dense-pool' });
  for (const { mode, threads, id } of runs) {
    const r = await analysis.request<'perplexity'>({ type: 'perplexity', tokens: toks, mode, threads }, progress);
    results.push(r);
    const dense = results[0]!;
    const row = body.insertRow();
    row.dataset.mode = id;
    const cells = [r.label, r.bitsPerToken.toFixed(4), (r.bitsPerToken - dense.bitsPerToken).toFixed(4), r.tokensPerSecond.toFixed(1),
      `${(100 * r.keysUsed / r.keysVisible).toFixed(1)}%`, r.maxErrorBound > 0 ? r.maxErrorBound.toExponential(2) : (mode.kind === 'dense' || mode.kind === 'sparse' ? 'exact' : '0'), r.ranOn];
    for (const c of cells) row.insertCell().textContent = c;
    row.cells[1]!.dataset.bits = String(r.bitsPerToken);
  }
  $('nll-plot').innerHTML = linePlot({
    title: `Per-byte NLL minus dense (${toks.length} bytes)`, width: 760, height: 300,
    x: { label: 'position (byte)' }, y: { label: 'Δ NLL (nats)' },
    series: results.slice(1).filter((r) => !r.label.startsWith('dense')).map((r, i) => ({ name: r.label, style: 'line', color: PALETTE[(i + 1) % PALETTE.length],
      points: r.nll.map((v, j) => [j + 1, v - results[0]!.nll[j]!] as const) })),
    hLines: [{ y: 0, label: 'dense' }],
  });
}

async function runHeatmap(): Promise<void> {
  const toks = tokens();
  const chosen = sparseModes()[Number($<HTMLSelectElement>('heat-mode').value)]!;
  const r = await analysis.request<'probe'>({ type: 'probe', tokens: toks, mode: chosen.mode }, progress);
  drawHeatmap($<HTMLCanvasElement>('heat'), r, $<HTMLSelectElement>('heat-color').value === 'bound' ? 'bound' : 'keys');
  $('heat').dataset.mode = r.label;
}

async function runGeneration(): Promise<void> {
  const prompt = new TextEncoder().encode($<HTMLInputElement>('prompt').value);
  const maxTokens = Number($<HTMLInputElement>('gen-tokens').value);
  const chosen = sparseModes()[Number($<HTMLSelectElement>('gen-mode').value)]!;
  const side = (worker: WorkerClient, mode: AttentionMode, pane: string, label: string) => {
    $(`${pane}-title`).textContent = label;
    const out = $(`${pane}-text`);
    out.textContent = $<HTMLInputElement>('prompt').value;
    const mark = document.createElement('span');
    out.append(mark);
    return worker.request<'generated'>({ type: 'generate', prompt, mode, maxTokens }, (u) => {
      if (u.type !== 'token') return;
      mark.textContent += u.text;
      $(`${pane}-speed`).textContent = `${u.count} tokens, ${u.tokensPerSecond.toFixed(1)} tokens/s`;
    }).then((g) => { $(`${pane}-speed`).textContent = `${g.tokens} tokens, ${g.tokensPerSecond.toFixed(1)} tokens/s, ${(100 * g.keysUsedFraction).toFixed(1)}% of keys`; });
  };
  await second.request<'loaded'>({ type: 'load', model: modelName });
  await Promise.all([side(analysis, { kind: 'dense' }, 'gen-a', 'dense'), side(second, chosen.mode, 'gen-b', chosen.label)]);
}

async function runSpeed(): Promise<void> {
  const max = Number($<HTMLSelectElement>('speed-max').value);
  const contexts: number[] = [];
  for (let c = 128; c <= max; c *= 2) contexts.push(c);
  const text = new TextEncoder().encode(bundled);
  const chosen = sparseModes()[Number($<HTMLSelectElement>('speed-mode').value)]!;
  // Both modes at once, one per worker: the same machine load for both curves.
  await second.request<'loaded'>({ type: 'load', model: modelName });
  const runs = await Promise.all([
    analysis.request<'speed'>({ type: 'speed', tokens: text, mode: { kind: 'dense' }, contexts, steps: 16 }, progress),
    second.request<'speed'>({ type: 'speed', tokens: text, mode: chosen.mode, contexts, steps: 16 }),
  ]);
  // Dense on the worker pool afterwards, alone: it takes all the threads.
  if (pool.threads > 1) runs.push(await analysis.request<'speed'>({ type: 'speed', tokens: text, mode: { kind: 'dense' }, contexts, steps: 16, threads: pool.threads }, progress));
  const series: Series[] = runs.map((r) => ({ name: r.label, points: r.contexts.map((c, i) => [c, r.tokensPerSecond[i]!] as const) }));
  $('speed-ran').textContent = `ran on: ${runs.map((r) => `${r.label}: ${r.ranOn}`).join('; ')}`;
  // The measured numbers, for scripts reading the page (scripts/explorer-screenshot.mjs).
  $('speed-plot').dataset.runs = JSON.stringify(runs.map((r) => ({ label: r.label, contexts: r.contexts, tokensPerSecond: r.tokensPerSecond.map((x) => Math.round(x)) })));
  $('speed-plot').innerHTML = linePlot({ title: 'Decode speed as the context grows (measured in this page)', width: 760, height: 300,
    x: { label: 'context (tokens)', scale: 'log', base: 2 }, y: { label: 'tokens/s' }, series });
}

/** The WebGPU adapter's name, or why there is none (the WebGPU panel is enabled only with one). */
async function webgpuStatus(): Promise<{ ok: boolean; text: string }> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string } } | null> } }).gpu;
  if (!gpu) return { ok: false, text: 'WebGPU: not available in this browser' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return { ok: false, text: 'WebGPU: no adapter' };
  const name = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ') || 'unnamed adapter';
  return { ok: true, text: `WebGPU: ${name} (model runs use WebAssembly; panel 6 runs attention on the GPU)` };
}

async function runGpu(): Promise<void> {
  const chosen = gpuModes()[Number($<HTMLSelectElement>('gpu-mode').value)]!;
  const contexts = $<HTMLSelectElement>('gpu-contexts').value.split(',').map(Number);
  const r = await analysis.request<'gpu'>({ type: 'gpu', mode: chosen.mode, contexts, queries: 8 }, progress);
  const body = $('gpu-results').querySelector('tbody')!;
  body.replaceChildren();
  for (const row of r.rows) {
    const tr = body.insertRow();
    tr.dataset.backend = row.backend;
    tr.dataset.agrees = String(row.agrees);
    const diff = row.backend === 'wasm' ? '—' : `${row.maxDiff.toExponential(1)} ${row.agrees ? '(within bounds)' : '(OUTSIDE the bounds)'}`;
    for (const c of [r.label, String(row.context), row.backend, row.msPerAttend.toFixed(2), Number.isFinite(row.keysUsed) ? row.keysUsed.toFixed(0) : '—', row.maxBound > 0 ? row.maxBound.toExponential(1) : 'exact', diff]) {
      tr.insertCell().textContent = c;
    }
  }
}

async function start(): Promise<void> {
  document.body.dataset.state = 'loading';
  const res = await fetch(new URL('../../text.txt', import.meta.url));
  bundled = await res.text();
  $<HTMLTextAreaElement>('text').value = bundled.slice(0, 8000);
  $('bundled').onclick = () => { $<HTMLTextAreaElement>('text').value = bundled.slice(0, 8000); };
  $<HTMLSelectElement>('model').onchange = (e) => void busy('loading model', () => loadModel((e.target as HTMLSelectElement).value));
  $('run').onclick = () => void busy('running the chosen modes', runModes);
  $('heat-run').onclick = () => void busy('measuring keys per head', runHeatmap);
  $('gen-run').onclick = () => void busy('generating', runGeneration);
  $('speed-run').onclick = () => void busy('measuring decode speed', runSpeed);
  $('gpu-run').onclick = () => void busy('comparing WebGPU with WebAssembly', runGpu);
  void webgpuStatus().then((gpu) => {
    $('webgpu').textContent = gpu.text;
    if (!gpu.ok) $('gpu-note').textContent = `${gpu.text}: nothing to compare.`;
    $<HTMLButtonElement>('gpu-run').hidden = !gpu.ok;
  });
  $('isolation').textContent = crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated';
  await busy('loading model', () => loadModel($<HTMLSelectElement>('model').value));
  setStatus('ready: pick modes and press Run');
}

void start();
