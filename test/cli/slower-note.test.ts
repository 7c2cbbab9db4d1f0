import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { perplexity } from '../../src/model/run.js';
import { loadModel } from '../../src/node/model.js';
import { vendoredModelDir } from '../../src/node/vendored-models.js';
import { slowerThanDenseNote } from '../../src/cli/commands/perplexity.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const text = new Uint8Array(readFileSync(`${root}data/dev_c.txt`)).subarray(0, 64);

test('perplexity reports the fraction of sparse-mode rows computed densely; the CLI note says when a mode cannot beat dense', () => {
  const model = loadModel(vendoredModelDir('bytelm-10m'));
  // 64 positions: every certified row sees ≤ 1024 keys and is computed densely.
  const certified = perplexity(model, text, { attention: { kind: 'certified', epsilon: 1e-2 } });
  assert.equal(certified.denseFallbackFraction, 1);
  assert.equal(perplexity(model, text, { attention: { kind: 'dense' } }).denseFallbackFraction, 0);
  assert.match(slowerThanDenseNote({ kind: 'certified', epsilon: 1e-2 }, 1)!, /100\.0% of this mode's rows were computed densely.*cannot be faster than dense/);
  assert.match(slowerThanDenseNote({ kind: 'topk', topK: 256 }, 0)!, /slower than dense/);
  assert.match(slowerThanDenseNote({ kind: 'paper' }, 0)!, /--attention flash/);
  assert.equal(slowerThanDenseNote({ kind: 'dense' }, 0), null);
  assert.equal(slowerThanDenseNote({ kind: 'flash' }, 0), null);
});

test('generate says when its sparse mode fell back to dense (stderr note, denseFallbackFraction in --json); dense modes say nothing', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', '--prompt', 'def f(x):', '--max-tokens', '3', ...args],
    { cwd: root, encoding: 'utf8' });
  // A 12-token context: every certified row sees ≤ 1024 keys and is computed densely.
  const certified = cli('--attention', 'certified');
  assert.equal(certified.status, 0, certified.stderr);
  assert.match(certified.stderr, /note: 100\.0% of this mode's rows were computed densely.*cannot be faster than dense/);
  const json = cli('--attention', 'certified', '--json');
  assert.equal(JSON.parse(json.stdout).denseFallbackFraction, 1);
  assert.match(json.stderr, /note: 100\.0%/);
  const dense = cli('--attention', 'dense');
  assert.equal(dense.status, 0, dense.stderr);
  assert.doesNotMatch(dense.stderr, /note:/);
});
