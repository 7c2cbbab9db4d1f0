import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsrError } from '../../src/errors.js';
import { requireDataFile } from '../../src/node/workloads.js';

test('requireDataFile finds a file in the first folder that has it, else says where it looked and where to get it', () => {
  const a = mkdtempSync(join(tmpdir(), 'hsr-data-')), b = mkdtempSync(join(tmpdir(), 'hsr-data-'));
  writeFileSync(join(b, 'x.safetensors'), '');
  assert.equal(requireDataFile('x.safetensors', [a, b]), join(b, 'x.safetensors'));
  assert.throws(() => requireDataFile('dev_c_l2.safetensors', [a]),
    (e: unknown) => e instanceof HsrError && e.code === 'NOT_FOUND' && e.message.includes(a) && /not in the npm package/.test(e.message));
});
