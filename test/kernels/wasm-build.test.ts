import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

it('src/kernels/wasm/kernels.generated.ts is what scripts/build-wasm.mjs compiles from assembly/kernels.ts', () => {
  const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
