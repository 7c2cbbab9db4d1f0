// The conformance slice (slice.ts) in headless Chromium against the same slice in Node: both must
// meet the float64 reference within the suites' tolerances, the page must load the package root
// through an import map with the WebAssembly kernels (compiled from embedded bytes, no fs), and
// both hosts must compute the same outputs, counters and index results from the same seeds.
// Then DecodePool: Web Workers over shared memory against one thread and Node's worker_threads, and
// its one-thread fallback where threads cannot run (page not isolated, a page's main thread).
// Then the 'webgpu' backend on navigator.gpu (SwiftShader without a GPU): the WebGPU conformance
// suite (test/webgpu/conformance.ts, the one Node runs on Dawn) in the page, and HsrError
// UNSUPPORTED in a Chromium without a WebGPU adapter.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as lib from '../../dist/index.js';
import * as reference from '../../dist/attention/reference.js';
import * as random from '../../dist/report/random.js';
import { DecodePool as NodeDecodePool } from '../../dist/node/index.js';
import { startStaticServer } from '../../src/node/static-server.js';
import type { Page } from 'playwright-core';
import { chromiumSkip, launchChromium } from './chromium.js';
import { runPoolSlice, runSlice, type PoolCase, type SliceResult } from './slice.js';
import type { GpuCaseResult, GpuSuiteResult } from '../webgpu/conformance.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

const PAGE = `<!doctype html><meta charset="utf-8"><title>slice</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "hsr-attention": "/dist/index.js" } }</script>
<script type="module">
  import * as lib from 'hsr-attention';
  import * as reference from '/dist/attention/reference.js';
  import * as random from '/dist/report/random.js';
  import * as half from '/dist/tensor/half.js';
  import { runSlice } from '/slice.js';
  import { runNoAdapterCase, runWebGpuSuite } from '/webgpu-suite.js';
  window.slice = () => ({ result: runSlice({ lib, reference, random }, 'chromium'), isolated: crossOriginIsolated });
  // The pool slice runs in a Web Worker (attend blocks in Atomics.wait, which a page's main thread may not).
  window.poolInWorker = (threads) => new Promise((resolve) => {
    const w = new Worker('/pool-worker.js', { type: 'module' });
    w.onmessage = (e) => { w.terminate(); resolve(e.data); };
    w.onerror = (e) => resolve({ error: e.message });
    w.postMessage(threads);
  });
  window.webgpuAdapter = async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    return { gpu: 'gpu' in navigator, adapter: adapter ? \`\${adapter.info.vendor} \${adapter.info.architecture}\` : null };
  };
  window.webgpuSuite = () => runWebGpuSuite({ lib, reference, random, half }, 'chromium');
  window.webgpuNoAdapter = () => runNoAdapterCase({ lib, reference, random, half }, false);
  window.poolOnMainThread = async () => {
    const p = await lib.DecodePool.create({ heads: 2, kvHeads: 1, headDim: 8, threads: 2, weighting: { kind: 'softmax', scale: 1, bias: 0, alpha: 1 } });
    await p.close();
    return { threads: p.threads, fallback: p.fallback };
  };
</script>`;

// Workers do not see the page's import map: absolute paths.
const POOL_WORKER = `import { DecodePool } from '/dist/index.js';
import * as reference from '/dist/attention/reference.js';
import * as random from '/dist/report/random.js';
import { runPoolSlice } from '/slice.js';
onmessage = async (e) => {
  try {
    const runs = [];
    for (const threads of e.data) runs.push(await runPoolSlice({ DecodePool, reference, random }, threads));
    postMessage({ runs, isolated: crossOriginIsolated });
  } catch (err) { postMessage({ error: String(err?.stack ?? err) }); }
};`;

interface PoolRuns { runs: PoolCase[][]; isolated: boolean; error?: string }

/**
 * One Chromium and one server for both tests (a launch costs seconds): the page at '/' is served
 * cross-origin isolated (COOP/COEP); '/plain' is the same page without those headers.
 */
interface Browser { page(path: '' | 'plain'): Promise<{ page: Page; errors: string[] }>; close(): Promise<void> }

/** The test modules the page imports (type imports only: transpiled one by one), by the path it imports them from. */
const TEST_MODULES = { '/slice.js': './slice.ts', '/webgpu-suite.js': '../webgpu/conformance.ts' };

async function openBrowser(options: { webgpu?: boolean } = {}): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-slice-'));
  const mounts: Record<string, string> = { '/dist/': here('../../dist/'), '/pool-worker.js': join(dir, 'pool-worker.js') };
  for (const [url, source] of Object.entries(TEST_MODULES)) {
    const js = ts.transpileModule(readFileSync(here(source), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
    mounts[url] = join(dir, url.slice(1));
    writeFileSync(mounts[url], js.outputText);
  }
  writeFileSync(join(dir, 'pool-worker.js'), POOL_WORKER);
  writeFileSync(join(dir, 'index.html'), PAGE);
  const server = await startStaticServer({ mounts, index: join(dir, 'index.html') });
  const chromium = await launchChromium(options);
  return {
    async page(path) {
      const page = await chromium.browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
      if (path === 'plain') await page.route(`${server.url}plain`, (route) => route.fulfill({ contentType: 'text/html', body: PAGE }));
      await page.goto(server.url + path);
      await page.waitForFunction('typeof window.slice === "function"');
      return { page, errors };
    },
    async close() {
      await chromium.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const skip = chromiumSkip();

describe('the library in headless Chromium', { skip }, () => {
  let browser: Browser;
  before(async () => { browser = await openBrowser(); });
  after(async () => { await browser?.close(); });

  it('every attention mode and index kind gives the same results in Chromium as in Node', { timeout: 120_000 }, async () => {
    const node = runSlice({ lib, reference, random }, 'node');
    const { page, errors } = await browser.page('');
    // A string, not a function: the test's own transpiler would add helpers the page lacks.
    const { result: chromium, isolated } = await page.evaluate('window.slice()') as { result: SliceResult; isolated: boolean };
    assert.deepEqual(errors, []);
    assert.ok(isolated, 'the page is cross-origin isolated (COOP/COEP)');
    assert.equal(chromium.backend, 'wasm-relaxed-simd', 'Chromium runs the relaxed-SIMD WebAssembly kernels (its known-answer test passes)');
    assert.equal(chromium.backend, node.backend);
    for (const r of [node, chromium]) {
      for (const c of r.cases) assert.ok(c.worst <= 1, `${r.host} ${c.name}: error ${c.worst}× its allowance`);
      for (const x of r.indexes) assert.ok(x.agreesWithScan, `${r.host} index ${x.kind} disagrees with scan`);
    }
    assert.deepEqual(chromium.cases.map((c) => c.name), node.cases.map((c) => c.name));
    for (let i = 0; i < node.cases.length; i++) {
      const n = node.cases[i]!, b = chromium.cases[i]!;
      assert.ok(maxDiff(n.output, b.output) <= 1e-6, `${n.name}: outputs differ between Node and Chromium by ${maxDiff(n.output, b.output)}`);
      assert.equal(b.keysScored, n.keysScored, `${n.name}: keysScored`);
      assert.equal(b.keysUsed, n.keysUsed, `${n.name}: keysUsed`);
      assert.ok(maxDiff(n.errorBound, b.errorBound) <= 1e-9, `${n.name}: errorBound`);
    }
    assert.deepEqual(chromium.indexes.map((x) => x.kind), lib.indexKinds());
    assert.deepEqual(chromium.indexes, node.indexes);
  });

  it('DecodePool: Web Workers on an isolated page give the results of one thread and of Node\'s worker_threads; elsewhere one thread, saying why', { timeout: 120_000 }, async (t) => {
    const nodeRuns = [await runPoolSlice({ DecodePool: NodeDecodePool, reference, random }, 2), await runPoolSlice({ DecodePool: NodeDecodePool, reference, random }, 1)];
    const { page, errors } = await browser.page('');
    const t0 = Date.now();
    const isolated = await page.evaluate('window.poolInWorker([2, 1])') as PoolRuns;
    t.diagnostic(`pool slice in a Chromium worker, 2 threads then 1: ${Date.now() - t0} ms`);
    assert.equal(isolated.error, undefined);
    assert.ok(isolated.isolated);
    const [multi, single] = isolated.runs as [PoolCase[], PoolCase[]];
    for (const [runs, threads, host] of [[multi, 2, 'chromium'], [single, 1, 'chromium'], [nodeRuns[0]!, 2, 'node'], [nodeRuns[1]!, 1, 'node']] as const) {
      for (const c of runs) {
        assert.equal(c.threads, threads, `${host} ${c.name}: threads`);
        assert.equal(c.fallback, null, `${host} ${c.name}: no fallback`);
        assert.ok(c.worst <= 1, `${host} ${c.name} on ${threads} thread(s): error ${c.worst}× its allowance`);
      }
    }
    for (let i = 0; i < multi.length; i++) {
      const name = multi[i]!.name;
      // Same code on the same split: Chromium's threads and Node's agree to float rounding; one thread
      // merges in another order, so it agrees within the reference tolerance (checked above for both).
      assert.ok(maxDiff(multi[i]!.output, nodeRuns[0]![i]!.output) <= 1e-6, `${name}: Chromium and Node, 2 threads`);
      assert.ok(maxDiff(single[i]!.output, nodeRuns[1]![i]!.output) <= 1e-6, `${name}: Chromium and Node, 1 thread`);
      assert.ok(maxDiff(multi[i]!.output, single[i]!.output) <= 1e-5 * Math.max(1, ...single[i]!.output.map(Math.abs)), `${name}: 2 threads and 1`);
    }

    const main = await page.evaluate('window.poolOnMainThread()') as { threads: number; fallback: string };
    assert.equal(main.threads, 1);
    assert.match(main.fallback, /main thread .*Web Worker/);

    const plain = await browser.page('plain');
    const fallen = await plain.page.evaluate('window.poolInWorker([2])') as PoolRuns;
    assert.equal(fallen.error, undefined);
    assert.equal(fallen.isolated, false);
    for (const c of fallen.runs[0]!) {
      assert.equal(c.threads, 1, `${c.name}: one thread when not isolated`);
      assert.match(c.fallback ?? '', /not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
      assert.ok(maxDiff(c.output, single.find((s) => s.name === c.name)!.output) <= 1e-6, `${c.name}: the one-thread fallback computes as one thread`);
    }
    assert.deepEqual([...errors, ...plain.errors], []);
  });

  it('webgpu: the WebGPU conformance suite passes in the page on navigator.gpu (KVCache decode, certified, threshold, top-k, prefill; f32, f16)', { timeout: 600_000 }, async (t) => {
    const { page, errors } = await browser.page('');
    const found = await page.evaluate('window.webgpuAdapter()') as { gpu: boolean; adapter: string | null };
    assert.ok(found.gpu, 'Chromium exposes navigator.gpu');
    if (found.adapter === null) {
      // As in the Node WebGPU tests: outside CI a machine may have no adapter at all; CI must have SwiftShader.
      if (process.env.CI) assert.fail('navigator.gpu.requestAdapter() gave null with --enable-unsafe-webgpu (CI installs chromium and libvulkan1)');
      t.skip('navigator.gpu.requestAdapter() gave null in headless Chromium with --enable-unsafe-webgpu');
      return;
    }
    const t0 = Date.now();
    const suite = await page.evaluate('window.webgpuSuite()') as GpuSuiteResult;
    t.diagnostic(`WebGPU suite in Chromium on ${suite.adapter}: ${suite.cases.length} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(suite.adapter, found.adapter, 'the library opened the page\'s adapter');
    assert.ok(suite.cases.length >= 20);
    assert.deepEqual(suite.cases.flatMap((c) => c.failures), []);
    assert.deepEqual(errors, []);
  });

  it('webgpu: in a Chromium without a WebGPU adapter, KVCache.create and attentionAsync reject with HsrError UNSUPPORTED', { timeout: 120_000 }, async () => {
    const plain = await openBrowser({ webgpu: false });
    try {
      const { page, errors } = await plain.page('');
      const found = await page.evaluate('window.webgpuAdapter()') as { gpu: boolean; adapter: string | null };
      assert.equal(found.adapter, null, 'no adapter without --enable-unsafe-webgpu');
      const r = await page.evaluate('window.webgpuNoAdapter()') as GpuCaseResult;
      assert.deepEqual(r.failures, []);
      assert.deepEqual(errors, []);
    } finally {
      await plain.close();
    }
  });
});
