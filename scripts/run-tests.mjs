#!/usr/bin/env node
// Runs the whole suite: type checks (the browser-safe core must compile without Node's types),
// then every test/**/*.test.ts under Node's own runner with tsx as the TypeScript loader.
// Node 20's `--test` does not expand globs or pick up .ts files itself, hence this script.
//   node scripts/run-tests.mjs [FILES]     on the Node running this script (under npm: the pinned Node 24)
//   node scripts/run-tests.mjs --host-node  the tests again (but the browser ones) on the machine's own
//       Node (the first `node` on PATH outside node_modules, e.g. Node 20): the library supports
//       Node >= 20, the project runs on 24
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** The first executable `node` on PATH that is not inside a node_modules folder (npm puts .bin first). */
function hostNode() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || resolve(dir).split(/[\\/]/).includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    try { accessSync(candidate, constants.X_OK); return candidate; } catch { /* next */ }
  }
  console.error('run-tests --host-node: no node on PATH outside node_modules');
  process.exit(1);
}

// The WebGPU tests need an adapter: where Chromium's SwiftShader Vulkan driver is installed (CI:
// .ci/run installs it) and nothing else was chosen, Dawn is pointed at it.
const swiftShader = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(swiftShader)) {
  process.env.VK_ICD_FILENAMES = swiftShader;
  process.env.XDG_RUNTIME_DIR ??= tmpdir(); // else the Vulkan loader prints an error line per process
}

const args = process.argv.slice(2);
const host = args[0] === '--host-node';
const node = host ? hostNode() : process.execPath;
if (!host) {
  // Type checks do not depend on the Node version: once, in the first run.
  const tsc = join('node_modules', 'typescript', 'bin', 'tsc');
  run(node, [tsc, '-p', 'tsconfig.core.json']);
  run(node, [tsc, '-p', 'tsconfig.test.json']);
  run(node, [tsc, '-p', 'tsconfig.explorer.json', '--noEmit']);
}
// The browser tests run in Chromium and the WebGPU ones on the GPU (in CI a slow SwiftShader); the
// Node that drives them does not matter, so they run once.
const once = [join('test', 'browser'), join('test', 'webgpu')];
const files = args.length > (host ? 1 : 0) ? args.slice(host ? 1 : 0)
  : findTests('test').filter((f) => !(host && once.some((dir) => f.startsWith(dir))));
const version = spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.trim();
console.log(`run-tests: ${files.length} test files on Node ${version}`);
run(node, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files]);
