// Headless Chromium for the browser tests, driven by playwright-core (no browser download: the
// system's Chromium, installed by .ci/run in CI). Where the binary is absent, tests skip with the
// reason locally and fail in CI (CI is set there), so CI never passes without running them.
import { existsSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A reason to skip (binary absent outside CI), or false. */
export function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI) throw new Error(`browser tests: expected Chromium at ${CHROMIUM} (installed by .ci/run), got nothing there`);
  return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
}

/** The flags that keep Chromium off the closed network, plus WebGPU on SwiftShader. */
const ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-quic', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
];

export interface Chromium { browser: BrowserContext; close(): Promise<void> }

/** Launches a fresh headless Chromium with its own empty profile. */
export async function launchChromium(): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'hsr-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  return {
    browser,
    close: async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

export type { Browser };
