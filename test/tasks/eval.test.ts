// Task accuracy on the vendored retrieval model, end to end: the runner reproduces the model's
// reference NLL, dense attention finds the pass key, a sink+window too short to reach the needle
// does not, and the CLI prints the docs/api.md result. Short contexts keep it to a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { perplexity } from '../../src/model/run.js';
import { loadModel } from '../../src/node/model.js';
import { vendoredModelDir } from '../../src/node/vendored-models.js';
import { evaluateTask } from '../../src/tasks/evaluate.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const haystack = new Uint8Array(readFileSync(`${root}data/factbook-backgrounds.txt`));
const softmax = loadModel(vendoredModelDir('bytelm-recall-10m'));

test('both retrieval models reproduce their reference per-token NLL (first 256 bytes of the dev text)', () => {
  const text = new Uint8Array(readFileSync(`${root}data/dev_c.txt`)).subarray(0, 256);
  for (const [name, file] of [['bytelm-recall-10m', 'nll_recall_dev_c.json'], ['bytelm-relu-recall-10m', 'nll_relu_recall_dev_c.json']]) {
    const ref: number[] = JSON.parse(readFileSync(`${root}data/${file}`, 'utf8')).nll_nat;
    const r = perplexity(name === 'bytelm-recall-10m' ? softmax : loadModel(vendoredModelDir(name!)), text);
    const max = r.nll.reduce((m, x, i) => Math.max(m, Math.abs(x - ref[i]!)), 0);
    assert.ok(max < 2e-3, `${name}: max |ΔNLL| = ${max}`);
  }
});

test('pass key at 768 tokens: dense (flash) finds every key, sink+window 4+64 finds none of the far ones', () => {
  const options = { haystack, context: 768, trials: 2, seed: 5 };
  const dense = evaluateTask(softmax, 'passkey', { ...options, attention: { kind: 'flash' } });
  assert.equal(dense.correct, 2, JSON.stringify(dense.outcomes));
  assert.equal(dense.accuracy, 1);
  assert.equal(dense.keysUsed, dense.keysVisible);
  const window = evaluateTask(softmax, 'passkey', { ...options, attention: { kind: 'window', sinks: 4, window: 64 } });
  assert.ok(window.outcomes.every((o) => o.distance > 68), 'both needles lie beyond the window');
  assert.equal(window.correct, 0, JSON.stringify(window.outcomes));
  assert.ok(window.keysUsed < 0.2 * window.keysVisible);
  assert.deepEqual(window.outcomes.map((o) => o.expected), dense.outcomes.map((o) => o.expected), 'the same trials');
});

test('hsr-attn eval --json: the docs/api.md fields; a bad task is a usage error; too long a context is BAD_OPTION', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', ...args], { cwd: root, encoding: 'utf8' });
  const r = cli('passkey', '--context', '256', '--trials', '1', '--attention', 'certified', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  for (const key of ['task', 'model', 'context', 'trials', 'correct', 'accuracy', 'keysScored', 'keysUsed', 'maxErrorBound']) assert.ok(key in out, key);
  assert.equal(out.model, 'bytelm-recall-10m');
  assert.equal(out.task, 'passkey');
  assert.equal(out.trials, 1);
  const bad = cli('passwords');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /expected one task, passkey\|recall\|copy, got "passwords"/);
  const tooLong = cli('passkey', '--context', '9000', '--trials', '1');
  assert.equal(tooLong.status, 1);
  assert.match(tooLong.stderr, /BAD_OPTION: eval: expected a context of 2 to 8192 tokens/);
});
