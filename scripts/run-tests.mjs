#!/usr/bin/env node
// Runs the whole suite: type checks (the browser-safe core must compile without Node's types),
// then every test/**/*.test.ts under Node's own runner with tsx as the TypeScript loader.
// Node 20's `--test` does not expand globs or pick up .ts files itself, hence this script.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

const tsc = join('node_modules', 'typescript', 'bin', 'tsc');
run(process.execPath, [tsc, '-p', 'tsconfig.core.json']);
run(process.execPath, [tsc, '-p', 'tsconfig.test.json']);
run(process.execPath, [tsc, '-p', 'tsconfig.explorer.json', '--noEmit']);

const files = process.argv.length > 2 ? process.argv.slice(2) : findTests('test');
run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files]);
