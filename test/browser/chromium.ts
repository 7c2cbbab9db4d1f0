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

/** The flags that keep Chromium off the closed network, and software rendering (SwiftShader) without a GPU. */
const ARGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
  '--disable-quic', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
];
/**
 * WebGPU: headless Chromium on Linux exposes navigator.gpu but its requestAdapter() gives null
 * unless this flag is set; with it, and no GPU, the adapter is SwiftShader's (Chromium's own Vulkan
 * on the CPU; vendor 'google', architecture 'swiftshader', subgroups, packed_4x8_integer_dot_product).
 */
const WEBGPU = '--enable-unsafe-webgpu';

export interface Chromium { browser: BrowserContext; close(): Promise<void> }

/** Launches a fresh headless Chromium with its own empty profile; `webgpu: false` leaves it without a WebGPU adapter. */
export async function launchChromium({ webgpu = true }: { webgpu?: boolean } = {}): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'hsr-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: webgpu ? [...ARGS, WEBGPU] : ARGS });
  return {
    browser,
    close: async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

export type { Browser };
