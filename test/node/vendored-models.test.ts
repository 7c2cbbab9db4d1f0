import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HsrError } from '../../src/errors.js';
import { vendoredModelDir, vendoredModelNames, vendoredModelsRoot } from '../../src/node/vendored-models.js';

test('vendoredModelDir(name) finds each vendored model folder in the hsr-attention-models package', () => {
  const names = vendoredModelNames();
  for (const name of ['bytelm-10m', 'bytelm-relu-10m']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  for (const name of names) {
    const dir = vendoredModelDir(name);
    assert.ok(dir.startsWith(vendoredModelsRoot()));
    assert.ok(existsSync(join(dir, 'config.json')), dir);
  }
});

test('vendoredModelDir refuses unknown names and paths with HsrError', () => {
  assert.throws(() => vendoredModelDir('no-such-model'),
    (e: unknown) => e instanceof HsrError && e.code === 'NOT_FOUND' && /bytelm-10m/.test(e.message));
  for (const bad of ['../hsr-attention-models', '.', '', 'a/b', '/etc']) {
    assert.throws(() => vendoredModelDir(bad), (e: unknown) => e instanceof HsrError && e.code === 'BAD_OPTION', bad);
  }
});
