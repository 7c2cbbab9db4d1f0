#!/usr/bin/env node
// Takes the README's screenshot of the explorer (docs/explorer.png) and prints the page's numbers:
// starts `hsr-attn serve`, runs every panel in headless Chromium (system binary, playwright-core)
// on the first 2048 bytes of the bundled text (WebGPU on SwiftShader where available), and saves a
// full-page PNG.
//   node scripts/explorer-screenshot.mjs [OUT.png]      (after npm run build)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const out = process.argv[2] ?? 'docs/explorer.png';
const server = spawn(process.execPath, ['dist/cli/main.js', 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => createInterface({ input: server.stdout }).once('line', resolve));
const profile = mkdtempSync(join(tmpdir(), 'hsr-shot-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, viewport: { width: 840, height: 900 },
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  const ready = () => page.waitForSelector('body[data-state="ready"]', { timeout: 600_000 });
  const t0 = Date.now();
  await page.goto(url);
  await ready();
  const dom = await page.evaluate('performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd');
  console.log(`DOMContentLoaded ${(dom / 1000).toFixed(2)} s, model loaded ${((Date.now() - t0) / 1000).toFixed(2)} s; ${await page.textContent('#threads')}`);
  await page.click('#run');
  await ready();
  for (const row of await page.locator('#results tbody tr').allInnerTexts()) console.log(row.replace(/\t/g, ' | '));
  await page.selectOption('#heat-mode', { label: 'certified ε' });
  await page.click('#heat-run');
  await ready();
  await page.fill('#gen-tokens', '80');
  await page.click('#gen-run');
  await ready();
  console.log('generation:', await page.textContent('#gen-a-speed'), '||', await page.textContent('#gen-b-speed'));
  await page.selectOption('#speed-max', '2048');
  await page.click('#speed-run');
  await ready();
  console.log(await page.textContent('#speed-ran'));
  console.log('decode speed (tokens/s):', await page.getAttribute('#speed-plot', 'data-runs'));
  if (await page.isVisible('#gpu-run')) {
    await page.selectOption('#gpu-mode', { label: 'dense' });
    await page.click('#gpu-run');
    await ready();
    for (const row of await page.locator('#gpu-results tbody tr').allInnerTexts()) console.log('webgpu panel:', row.replace(/\t/g, ' | '));
    await page.selectOption('#gpu-mode', { label: 'certified ε' });
    await page.click('#gpu-run');
    await ready();
    for (const row of await page.locator('#gpu-results tbody tr').allInnerTexts()) console.log('webgpu panel:', row.replace(/\t/g, ' | '));
  }
  writeFileSync(out, await page.screenshot({ fullPage: true }));
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  server.kill('SIGINT');
}
