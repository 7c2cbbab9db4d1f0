// The explorer end to end: `hsr-attn serve` in a child process, the page in headless Chromium.
// It must load, run every panel with no console error, draw its plots, and give the same bits/byte
// as `hsr-attn perplexity` on the same short text. EXPLORER_SCREENSHOT=FILE saves a screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromiumSkip, launchChromium } from './chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const BYTES = 200;

function cliBits(textFile: string, attention: string): number {
  const r = spawnSync(process.execPath, [CLI, 'perplexity', '--text', textFile, '--attention', attention, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { bitsPerToken: number }).bitsPerToken;
}

const skip = chromiumSkip();

test('hsr-attn serve: the explorer loads, runs every panel without console errors, and matches hsr-attn perplexity', { skip, timeout: 180_000 }, async (t) => {
  const server = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const dir = mkdtempSync(join(tmpdir(), 'hsr-explorer-'));
  const chromium = await launchChromium();
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', resolve);
      server.once('exit', (code) => reject(new Error(`hsr-attn serve exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

    const page = await chromium.browser.newPage();
    await page.setViewportSize({ width: 840, height: 900 });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
    const ready = () => page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });

    const t0 = Date.now();
    await page.goto(url);
    await ready();
    const loadSeconds = (Date.now() - t0) / 1000;
    const domSeconds = Number(await page.evaluate('performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd')) / 1000;
    t.diagnostic(`page interactive (DOMContentLoaded) after ${domSeconds.toFixed(2)} s; model loaded in its worker after ${loadSeconds.toFixed(2)} s`);
    // The goal is < 3 s locally (docs/browser.md has the measurements); this machine's 2 cores are
    // shared with the other suites and at times other jobs, which slow everything several-fold.
    assert.ok(domSeconds < 10, `the page took ${domSeconds} s to become interactive`);
    assert.ok(loadSeconds < 15, `the model took ${loadSeconds} s to load`);
    assert.match(await page.textContent('#isolation') ?? '', /^cross-origin isolated/);
    assert.match(await page.textContent('#webgpu') ?? '', /^WebGPU: /);
    // The page is isolated, so the worker's DecodePool gets every CPU Chromium reports (Web Workers), up to 4.
    const cpus = Math.min(4, Number(await page.evaluate('navigator.hardwareConcurrency')));
    const threads = await page.textContent('#threads') ?? '';
    assert.match(threads, cpus > 1 ? new RegExp(`^threads: ${cpus} \\(DecodePool: ${cpus - 1} Web Worker`) : /^threads: 1 /);
    t.diagnostic(threads);

    // The main thread stays responsive during runs: the longest gap between 10 ms timer ticks.
    await page.evaluate(`window.maxGap = 0; { let last = performance.now(); setInterval(() => { const t = performance.now(); window.maxGap = Math.max(window.maxGap, t - last); last = t; }, 10); }`);

    // Bits/byte per mode on a short text, against the CLI on the same bytes.
    const text = readFileSync(join(ROOT, 'data', 'dev_c.txt')).subarray(0, BYTES);
    const textFile = join(dir, 'text.txt');
    writeFileSync(textFile, text);
    await page.fill('#text', text.toString('utf8'));
    await page.fill('#bytes', String(BYTES));
    await page.click('#run');
    await ready();
    const tr = page.locator('#results tbody tr');
    const rows: { mode: string | null; bits: number }[] = [];
    for (let i = 0; i < await tr.count(); i++) {
      rows.push({ mode: await tr.nth(i).getAttribute('data-mode'), bits: Number(await tr.nth(i).locator('td').nth(1).getAttribute('data-bits')) });
    }
    // Certified rows this short are dense (≤ 1024 keys); threshold rows are sparse at any length.
    // dense-pool: dense again on the worker pool, equal to dense but for the order of float sums.
    assert.deepEqual(rows.map((r) => r.mode), cpus > 1 ? ['dense', 'dense-pool', 'certified', 'threshold'] : ['dense', 'certified', 'threshold']);
    for (const r of rows) {
      const cli = cliBits(textFile, r.mode === 'dense-pool' ? 'dense' : r.mode!);
      assert.ok(Math.abs(r.bits - cli) <= (r.mode === 'dense-pool' ? 1e-6 : 1e-9), `${r.mode}: page ${r.bits} bits/byte, CLI ${cli}`);
    }
    const ranOn = await tr.locator('td:last-child').allTextContents();
    assert.match(await page.textContent('#model-info') ?? '', /attention on wasm-relaxed-simd$/);
    assert.deepEqual(ranOn, cpus > 1 ? ['1 thread', `${cpus} threads (DecodePool)`, '1 thread', '1 thread'] : ['1 thread', '1 thread', '1 thread']);
    assert.ok(await page.locator('#nll-plot svg polyline').count() >= 1, 'the NLL difference plot has a line');

    await page.click('#heat-run');
    await ready();
    assert.ok(Number(await page.getAttribute('#heat', 'height')) > 6 * 6 * 12, 'the heatmap has a row per layer × head');

    await page.fill('#gen-tokens', '24');
    await page.click('#gen-run');
    await ready();
    for (const side of ['a', 'b']) assert.match(await page.textContent(`#gen-${side}-speed`) ?? '', /^24 tokens, [\d.]+ tokens\/s/);

    await page.selectOption('#speed-max', '512');
    await page.click('#speed-run');
    await ready();
    assert.equal(await page.locator('#speed-plot svg polyline').count(), cpus > 1 ? 3 : 2, 'dense, sparse (and dense on the pool) decode-speed curves');
    const maxGap = Number(await page.evaluate('window.maxGap'));
    t.diagnostic(`longest main-thread timer gap during the runs: ${maxGap.toFixed(0)} ms`);
    assert.ok(maxGap < 1000, `the page's main thread was blocked for ${maxGap} ms`);
    assert.doesNotMatch(await page.textContent('#status') ?? '', /error|expected/i);

    // WebGPU (SwiftShader here): the same decode attention as WebAssembly, within the modes' bounds.
    assert.match(await page.textContent('#webgpu') ?? '', /^WebGPU: .*swiftshader/i);
    await page.selectOption('#gpu-contexts', '256,1024');
    for (const label of ['dense', 'certified ε']) {
      await page.selectOption('#gpu-mode', { label });
      await page.click('#gpu-run');
      await ready();
      const gpuRows = page.locator('#gpu-results tbody tr');
      // Dense also runs on the worker pool (certified softmax rows are not split across threads).
      const backends = label === 'dense' && cpus > 1 ? ['wasm', `wasm · ${cpus} threads`, 'webgpu'] : ['wasm', 'webgpu'];
      assert.deepEqual(await gpuRows.evaluateAll((trs) => trs.map((r) => r.getAttribute('data-backend'))), [...backends, ...backends], `${label}: backends at two contexts`);
      for (let i = 0; i < 2 * backends.length; i++) assert.equal(await gpuRows.nth(i).getAttribute('data-agrees'), 'true', `${label}: ${await gpuRows.nth(i).innerText()}`);
    }

    assert.deepEqual(errors, []);
    const png = await page.screenshot({ fullPage: true });
    assert.ok(png.length > 20_000, 'a screenshot with content');
    if (process.env.EXPLORER_SCREENSHOT) writeFileSync(process.env.EXPLORER_SCREENSHOT, png);
  } finally {
    await chromium.close();
    server.kill('SIGINT');
    rmSync(dir, { recursive: true, force: true });
  }
});
