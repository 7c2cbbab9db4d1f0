// The conformance slice (slice.ts) in headless Chromium against the same slice in Node: both must
// meet the float64 reference within the suites' tolerances, the page must load the package root
// through an import map with the WebAssembly kernels (compiled from embedded bytes, no fs), and
// both hosts must compute the same outputs, counters and index results from the same seeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import * as lib from '../../dist/index.js';
import * as reference from '../../dist/attention/reference.js';
import * as random from '../../dist/report/random.js';
import { startStaticServer } from '../../src/node/static-server.js';
import { chromiumSkip, launchChromium } from './chromium.js';
import { runSlice, type SliceResult } from './slice.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

const PAGE = `<!doctype html><meta charset="utf-8"><title>slice</title><link rel="icon" href="data:,">
<script type="importmap">{ "imports": { "hsr-attention": "/dist/index.js" } }</script>
<script type="module">
  import * as lib from 'hsr-attention';
  import * as reference from '/dist/attention/reference.js';
  import * as random from '/dist/report/random.js';
  import { runSlice } from '/slice.js';
  window.slice = () => ({ result: runSlice({ lib, reference, random }, 'chromium'), isolated: crossOriginIsolated });
</script>`;

/** Runs the slice in a page served from 127.0.0.1 (a secure context, cross-origin isolated). */
async function sliceInChromium(): Promise<{ result: SliceResult; isolated: boolean; errors: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'hsr-slice-'));
  const js = ts.transpileModule(readFileSync(here('./slice.ts'), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
  writeFileSync(join(dir, 'slice.js'), js.outputText);
  writeFileSync(join(dir, 'index.html'), PAGE);
  const server = await startStaticServer({ mounts: { '/dist/': here('../../dist/'), '/slice.js': join(dir, 'slice.js') }, index: join(dir, 'index.html') });
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    await page.goto(server.url);
    await page.waitForFunction('typeof window.slice === "function"');
    // A string, not a function: the test's own transpiler would add helpers the page lacks.
    const out = await page.evaluate('window.slice()') as { result: SliceResult; isolated: boolean };
    return { ...out, errors };
  } finally {
    await chromium.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

const skip = chromiumSkip();

test('every attention mode and index kind gives the same results in Chromium as in Node', { skip, timeout: 120_000 }, async () => {
  const node = runSlice({ lib, reference, random }, 'node');
  const { result: browser, isolated, errors } = await sliceInChromium();
  assert.deepEqual(errors, []);
  assert.ok(isolated, 'the page is cross-origin isolated (COOP/COEP)');
  assert.equal(browser.backend, 'wasm-relaxed-simd', 'Chromium runs the relaxed-SIMD WebAssembly kernels (its known-answer test passes)');
  assert.equal(browser.backend, node.backend);
  for (const r of [node, browser]) {
    for (const c of r.cases) assert.ok(c.worst <= 1, `${r.host} ${c.name}: error ${c.worst}× its allowance`);
    for (const x of r.indexes) assert.ok(x.agreesWithScan, `${r.host} index ${x.kind} disagrees with scan`);
  }
  assert.deepEqual(browser.cases.map((c) => c.name), node.cases.map((c) => c.name));
  for (let i = 0; i < node.cases.length; i++) {
    const n = node.cases[i]!, b = browser.cases[i]!;
    assert.ok(maxDiff(n.output, b.output) <= 1e-6, `${n.name}: outputs differ between Node and Chromium by ${maxDiff(n.output, b.output)}`);
    assert.equal(b.keysScored, n.keysScored, `${n.name}: keysScored`);
    assert.equal(b.keysUsed, n.keysUsed, `${n.name}: keysUsed`);
    assert.ok(maxDiff(n.errorBound, b.errorBound) <= 1e-9, `${n.name}: errorBound`);
  }
  assert.deepEqual(browser.indexes.map((x) => x.kind), lib.indexKinds());
  assert.deepEqual(browser.indexes, node.indexes);
});
